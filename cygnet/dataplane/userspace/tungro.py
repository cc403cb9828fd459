"""TCP segment coalescing for TUN writes (what GRO does in a NIC driver), RFC 793 framing.

Decrypted inner packets of one receive batch are mostly consecutive MSS-sized
segments of one TCP flow. Written one by one, each costs a syscall and a trip
through the kernel's TCP receive path; written as one super-segment with a
virtio-net header (GSO TCPV4/TCPV6, checksum partial), they cost one. The
rules are GRO's: same addresses, ports, ack, window and options; contiguous
sequence numbers; ACK-only segments (PSH allowed on the last); all but the
last exactly `gso_size` long; at most 64 KiB.

The inner checksums are not re-verified: the whole batch just passed the ESP
ICV (RFC 4303 §3.4.4), which is a far stronger check of the same bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

__all__ = ["coalesce", "VNET_NONE"]

_VNET = struct.Struct("<BBHHHH")  # flags, gso_type, hdr_len, gso_size, csum_start, csum_offset
VNET_NONE = bytes(10)
_NEEDS_CSUM = 1
_GSO_TCPV4 = 1
_GSO_TCPV6 = 4
_MAX = 65535 - 60


def _fold(s: int) -> int:
    s = s % 0xFFFF
    return s if s else 0xFFFF


def _ip_csum(hdr: bytes) -> int:
    s = int.from_bytes(hdr, "big") % 0xFFFF
    return (~s) & 0xFFFF if s else 0


def _tcp4(p: bytes) -> int:
    """TCP header length if `p` is a coalescible IPv4/TCP segment with payload, else 0."""
    if len(p) < 40 or p[0] != 0x45 or p[9] != 6 or (p[6] & 0x3F) or p[7]:
        return 0
    hl = (p[32] >> 4) * 4
    if hl < 20 or len(p) <= 20 + hl or p[33] & 0xF7 != 0x10:  # ACK, maybe PSH, nothing else
        return 0
    return hl


def _tcp6(p: bytes) -> int:
    if len(p) < 60 or p[0] >> 4 != 6 or p[6] != 6:
        return 0
    hl = (p[52] >> 4) * 4
    if hl < 20 or len(p) <= 40 + hl or p[53] & 0xF7 != 0x10:
        return 0
    return hl


def coalesce(pkts: list[bytes], write: Callable[[bytes], object]) -> int:
    """Write `pkts` (in order) through `write` with virtio-net headers, merging TCP runs.

    Returns the number of write calls made.
    """
    n = len(pkts)
    i = 0
    writes = 0
    while i < n:
        p = pkts[i]
        v4 = p[0] >> 4 == 4 if p else False
        ipl = 20 if v4 else 40
        hl = _tcp4(p) if v4 else _tcp6(p) if p else 0
        j = i + 1
        if hl and not p[ipl + 13] & 0x08:  # PSH ends a run, so it can only be last
            t = ipl + hl
            mss = len(p) - t
            # everything that must match: addresses, ports, ack, flags/window/urgent, options
            if v4:
                a, b, c, d, e = p[12:24], p[28:33], p[34:36], p[38:t], p[6:10]
            else:
                a, b, c, d, e = p[8:44], p[48:53], p[54:56], p[58:t], p[:4]
            seq = int.from_bytes(p[ipl + 4 : ipl + 8], "big") + mss
            total = len(p)
            while j < n:
                q = pkts[j]
                ql = len(q) - t
                if ql <= 0 or ql > mss or total + ql > _MAX:
                    break
                if v4:
                    if not (q[0] == 0x45 and q[12:24] == a and q[28:33] == b and q[34:36] == c
                            and q[38:t] == d and q[6:10] == e):
                        break
                elif not (q[6] == 6 and q[8:44] == a and q[48:53] == b and q[54:56] == c
                          and q[58:t] == d and q[:4] == e):
                    break
                qf = q[ipl + 13]
                if qf & 0xF7 != 0x10 or int.from_bytes(q[ipl + 4 : ipl + 8], "big") != seq:
                    break
                seq += ql
                total += ql
                j += 1
                if qf & 0x08 or ql < mss:  # PSH or a short segment closes the run
                    break
        if j - i == 1:
            write(VNET_NONE + p)
            writes += 1
            i = j
            continue
        payload = b"".join([p[t:]] + [q[t:] for q in pkts[i + 1 : j]])
        last_flags = pkts[j - 1][ipl + 13]
        tcp_len = hl + len(payload)
        tcp = bytearray(p[ipl:t])
        tcp[13] = last_flags
        if v4:
            pseudo = _fold(int.from_bytes(p[12:20], "big") + 6 + tcp_len)
            tcp[16:18] = pseudo.to_bytes(2, "big")
            ip = bytearray(p[:20])
            ip[2:4] = (20 + tcp_len).to_bytes(2, "big")
            ip[10:12] = b"\0\0"
            ip[10:12] = _ip_csum(bytes(ip)).to_bytes(2, "big")
            vnet = _VNET.pack(_NEEDS_CSUM, _GSO_TCPV4, t, mss, 20, 16)
        else:
            pseudo = _fold(int.from_bytes(p[8:40], "big") + 6 + tcp_len)
            tcp[16:18] = pseudo.to_bytes(2, "big")
            ip = bytearray(p[:40])
            ip[4:6] = tcp_len.to_bytes(2, "big")
            vnet = _VNET.pack(_NEEDS_CSUM, _GSO_TCPV6, t, mss, 40, 16)
        write(vnet + bytes(ip) + bytes(tcp) + payload)
        writes += 1
        i = j
    return writes
