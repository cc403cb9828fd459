"""TUN write coalescing: runs of TCP segments become one GSO super-segment, the rest pass as is."""

from __future__ import annotations

import struct

from cygnet.dataplane.userspace.tungro import VNET_NONE, coalesce


def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def seg4(seq: int, payload: bytes, flags: int = 0x10, ident: int = 1, opts: bytes = b"") -> bytes:
    hl = 20 + len(opts)
    tcp = struct.pack("!HHIIBBHHH", 5001, 40000, seq, 777, (hl // 4) << 4, flags, 500, 0, 0) + opts
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + hl + len(payload), ident, 0x4000, 64, 6, 0,
                     bytes([192, 0, 1, 254]), bytes([192, 0, 2, 254]))
    return ip + tcp + payload


def seg6(seq: int, payload: bytes, flags: int = 0x10) -> bytes:
    tcp = struct.pack("!HHIIBBHHH", 5001, 40000, seq, 777, 5 << 4, flags, 500, 0, 0)
    ip = struct.pack("!IHBB", 6 << 28, 20 + len(payload), 6, 64) + bytes(15) + b"\1" + bytes(15) + b"\2"
    return ip + tcp + payload


def run(pkts: list[bytes]) -> list[bytes]:
    out: list[bytes] = []
    coalesce(pkts, out.append)
    return out


def test_contiguous_ipv4_run_becomes_one_gso_write() -> None:
    mss = 1000
    data = bytes(range(256)) * 20
    pkts = [seg4(1000 + i * mss, data[i * mss : (i + 1) * mss], ident=i) for i in range(4)]
    pkts.append(seg4(1000 + 4 * mss, data[4 * mss : 4 * mss + 300], flags=0x18, ident=4))
    out = run(pkts)
    assert len(out) == 1
    vnet, pkt = out[0][:10], out[0][10:]
    flags, gso_type, hdr_len, gso_size, cstart, coff = struct.unpack("<BBHHHH", vnet)
    assert (flags, gso_type, hdr_len, gso_size, cstart, coff) == (1, 1, 40, mss, 20, 16)
    assert pkt[40:] == data[: 4 * mss + 300]
    assert struct.unpack("!H", pkt[2:4])[0] == len(pkt)
    assert csum(pkt[:20]) == 0xFFFF  # a valid IPv4 header checksum
    assert pkt[33] == 0x18  # PSH from the last segment
    # checksum field = pseudo-header sum (partial), so the kernel finishes it
    pseudo = pkt[12:20] + struct.pack("!HH", 6, len(pkt) - 20)
    assert struct.unpack("!H", pkt[36:38])[0] == csum(pseudo)


def test_gaps_flags_and_other_flows_are_not_merged() -> None:
    a = seg4(1, b"a" * 100)
    gap = seg4(500, b"b" * 100)  # not contiguous
    syn = seg4(600, b"c" * 100, flags=0x12)
    udp = bytearray(seg4(700, b"d" * 100))
    udp[9] = 17
    out = run([a, gap, syn, bytes(udp)])
    assert out == [VNET_NONE + a, VNET_NONE + gap, VNET_NONE + syn, VNET_NONE + bytes(udp)]


def test_different_options_or_longer_segment_end_a_run() -> None:
    p1 = seg4(1, b"x" * 100, opts=b"\x01\x01\x08\x0a" + bytes(8))
    p2 = seg4(101, b"y" * 100, opts=b"\x01\x01\x08\x0a" + bytes(7) + b"\1")  # other timestamp
    assert len(run([p1, p2])) == 2
    q1, q2 = seg4(1, b"x" * 100), seg4(101, b"y" * 200)  # longer than the first: not GSO-shaped
    assert len(run([q1, q2])) == 2


def test_ipv6_run() -> None:
    pkts = [seg6(10 + i * 500, bytes([i]) * 500) for i in range(3)]
    out = run(pkts)
    assert len(out) == 1
    flags, gso_type, hdr_len, gso_size, cstart, coff = struct.unpack("<BBHHHH", out[0][:10])
    assert (gso_type, hdr_len, gso_size, cstart) == (4, 60, 500, 40)
    pkt = out[0][10:]
    assert struct.unpack("!H", pkt[4:6])[0] == 20 + 1500
    assert pkt[60:] == b"".join(bytes([i]) * 500 for i in range(3))
