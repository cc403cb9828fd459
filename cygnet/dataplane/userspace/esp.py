"""ESP packet codec (RFC 4303) and the anti-replay window (RFC 4303 §3.4.3, Appendix A).

One `OutboundSa` / `InboundSa` per direction of a Child SA, keyed once. The
hot path is a few bytes slices, one AEAD call (or cipher + HMAC) and a
concatenation; everything that can be computed per SA is computed in
`__init__`.

Wire format (RFC 4303 §2): SPI(4) | Sequence Number(4) | IV | ciphertext of
(payload | padding | Pad Length | Next Header) | ICV. With ESN (RFC 4303
§2.2.1) only the low 32 bits travel; the high 32 bits are authenticated:
appended to the ICV input for cipher+MAC, and placed in the AAD as
SPI | Seq High | Seq Low for AEAD (RFC 4106 §5, RFC 7634 §2.1).

IVs: AES-GCM (RFC 4106 §3.1), ChaCha20-Poly1305 (RFC 7634 §2) and AES-CTR
(RFC 3686 §3) only need an IV that never repeats under one key, so the
64-bit sequence number is used (like Linux's seqiv); AES-CBC (RFC 3602
§2.3) needs an unpredictable one, so it is random.

Drops raise `EspDrop` carrying the Linux /proc/net/xfrm_stat counter name.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from cygnet.ike.errors import IntegrityError
from cygnet.ike.iana import EncrId, IntegId
from cygnet.ike.transforms import encr, integ

__all__ = [
    "NH_IPV4",
    "NH_IPV6",
    "NH_NONE",
    "EspDrop",
    "InboundSa",
    "OutboundSa",
    "ReplayWindow",
    "XFRM_STAT_NAMES",
]

NH_IPV4 = 4  # IP-in-IP: tunnel mode, inner IPv4
NH_IPV6 = 41  # tunnel mode, inner IPv6
NH_NONE = 59  # "no next header": a dummy packet (RFC 4303 §2.6), dropped silently

#: Counter names as Linux prints them in /proc/net/xfrm_stat, plus our own at the end.
XFRM_STAT_NAMES: tuple[str, ...] = (
    "XfrmInError",
    "XfrmInBufferError",
    "XfrmInHdrError",
    "XfrmInNoStates",
    "XfrmInStateProtoError",
    "XfrmInStateModeError",
    "XfrmInStateSeqError",
    "XfrmInStateExpired",
    "XfrmInStateMismatch",
    "XfrmInStateInvalid",
    "XfrmInTmplMismatch",
    "XfrmInNoPols",
    "XfrmInPolBlock",
    "XfrmInPolError",
    "XfrmOutError",
    "XfrmOutBundleGenError",
    "XfrmOutBundleCheckError",
    "XfrmOutNoStates",
    "XfrmOutStateProtoError",
    "XfrmOutStateModeError",
    "XfrmOutStateSeqError",
    "XfrmOutStateExpired",
    "XfrmOutPolBlock",
    "XfrmOutPolDead",
    "XfrmOutPolError",
    "XfrmFwdHdrError",
    "XfrmOutStateInvalid",
    "XfrmAcquireError",
    # not in Linux: userspace-only events worth counting
    "CygInDummy",  # RFC 4303 §2.6 dummy packets (next header 59) discarded
    "CygInKeepalive",  # RFC 3948 §2.3 NAT-keepalives ignored
    "CygInIke",  # non-ESP-marker datagrams handed to IKE
)

#: RFC 4303 §2.4 default padding: 1, 2, 3, ... (receivers check it, §2.4 last paragraph).
_PADS: tuple[bytes, ...] = tuple(bytes(range(1, n + 1)) for n in range(256))
#: Whole trailers (padding | Pad Length | Next Header) for 4-octet alignment, index pad*256 + nh.
_TRAILER4: tuple[bytes, ...] = tuple(_PADS[p] + bytes((p, nh)) for p in range(4) for nh in range(256))


class EspDrop(Exception):
    """An ESP packet was dropped; `counter` names the xfrm_stat counter to bump."""

    def __init__(self, counter: str, reason: str = "") -> None:
        super().__init__(reason or counter)
        self.counter = counter


class ReplayWindow:
    """RFC 4303 §3.4.3 sliding window, with ESN high-bit inference (Appendix A2.2).

    `check()` runs before the ICV is verified (cheap rejection of duplicates),
    `update()` only after it verified (§3.4.3: the window must not move for a
    forged packet). `size` 0 disables replay checking (sequence numbers are
    still tracked so ESN can infer the high bits).
    """

    __slots__ = ("size", "esn", "top", "bitmap", "_mask", "_infer")

    def __init__(self, size: int, esn: bool) -> None:
        if size < 0:
            raise ValueError("replay window must be >= 0")
        self.size = size
        self.esn = esn
        self.top = 0  # highest authenticated sequence number (64-bit with ESN)
        self.bitmap = 0  # bit i set: sequence number top - i was received
        self._mask = (1 << size) - 1 if size else 0
        # Appendix A2.2 needs a window to decide the high bits; without anti-replay use 2^31.
        self._infer = size if size else 1 << 31

    def check(self, seq_lo: int) -> int:
        """The full sequence number for `seq_lo`, or EspDrop if it is replayed or too old."""
        seq = self._esn_seq(seq_lo) if self.esn else seq_lo
        if seq == 0:  # §3.3.3: the first packet is 1; 0 is never sent
            raise EspDrop("XfrmInStateSeqError", "sequence number 0")
        if not self.size or seq > self.top:
            return seq
        diff = self.top - seq
        if diff >= self.size:
            raise EspDrop("XfrmInStateSeqError", "sequence number left of the window")
        if (self.bitmap >> diff) & 1:
            raise EspDrop("XfrmInStateSeqError", "replayed sequence number")
        return seq

    def _esn_seq(self, lo: int) -> int:
        top = self.top
        tl = top & 0xFFFFFFFF
        th = top >> 32
        w = self._infer
        if tl >= w - 1:  # Case A: window within one subspace
            sh = th if lo >= tl - w + 1 else th + 1
        else:  # Case B: window spans two subspaces
            sh = th - 1 if lo >= (tl - w + 1) & 0xFFFFFFFF else th
        if sh < 0:
            sh = 0
        return (sh << 32) | lo

    def update(self, seq: int) -> None:
        """Record an authenticated sequence number (slides the window forward)."""
        top = self.top
        if seq > top:
            if self.size:
                shift = seq - top
                self.bitmap = ((self.bitmap << shift) | 1) & self._mask if shift < self.size else 1
            self.top = seq
        elif self.size:
            self.bitmap |= 1 << (top - seq)


def _align(block: int) -> int:
    # RFC 4303 §2.4: pad to the cipher's block size and end on a 4-octet boundary
    # (block sizes here are 1, 4, 8 or 16, so the larger of the two is a multiple of both).
    return max(block, 4)


class _Suite:
    """Per-SA crypto, shared by both directions' constructors."""

    def __init__(self, encr_id: int, key_bits: int, integ_id: int) -> None:
        alg = encr(encr_id, key_bits if encr_id not in (EncrId.CHACHA20_POLY1305, EncrId.NULL,
                                                        EncrId.TRIPLE_DES) else None)
        self.alg = alg
        self.aead = alg.aead
        self.iv_len = alg.iv_bytes
        self.align = _align(alg.block_bytes)
        if alg.aead:
            if integ_id not in (0, IntegId.NONE):
                raise ValueError("AEAD cipher with a separate integrity algorithm")
            self.icv_len = alg.icv_bytes
            self.integ = None
        else:
            if integ_id in (0, IntegId.NONE):
                raise ValueError("RFC 4303 §3.2: ESP needs integrity; no INTEG with a non-AEAD cipher")
            self.integ = integ(integ_id)
            self.icv_len = self.integ.icv_bytes
        self.counter_iv = encr_id in (EncrId.AES_GCM_8, EncrId.AES_GCM_12, EncrId.AES_GCM_16,
                                      EncrId.AES_CCM_8, EncrId.AES_CCM_12, EncrId.AES_CCM_16,
                                      EncrId.CHACHA20_POLY1305, EncrId.AES_CTR)

    def fast_aead(self, key: bytes) -> tuple[Callable[..., bytes], Callable[..., bytes], bytes] | None:
        """`cryptography`'s own AEAD object for the common 16-octet-ICV suites (one call less)."""
        eid = self.alg.id
        if eid == EncrId.AES_GCM_16:
            a: AESGCM | ChaCha20Poly1305 = AESGCM(key[:-4])
        elif eid == EncrId.CHACHA20_POLY1305:
            a = ChaCha20Poly1305(key[:-4])
        else:
            return None
        return a.encrypt, a.decrypt, key[-4:]


class OutboundSa:
    """The sending half of a Child SA: owns the sequence number (RFC 4303 §3.3.3)."""

    __slots__ = ("spi", "esn", "seq", "_seq_max", "_enc", "_mac", "_salt", "_aead", "_iv_len",
                 "_align", "_counter_iv", "_cbc", "_fast")

    def __init__(self, spi: bytes, encr_id: int, key_bits: int, integ_id: int, esn: bool,
                 key_encr: bytes, key_integ: bytes) -> None:
        if len(spi) != 4:
            raise ValueError("ESP SPI is 4 octets")
        s = _Suite(encr_id, key_bits, integ_id)
        self.spi = spi
        self.esn = esn
        self.seq = 0
        # §3.3.3: never cycle; without ESN the last usable number is 2^32 - 1.
        self._seq_max = (1 << 64) - 1 if esn else (1 << 32) - 1
        self._aead = s.aead
        self._iv_len = s.iv_len
        self._align = s.align
        self._counter_iv = s.counter_iv
        self._cbc = not s.counter_iv and s.iv_len > 0
        fast = s.fast_aead(key_encr) if s.aead else None
        if fast is not None:
            self._enc, _, self._salt = fast
        else:
            ctx = s.alg.cipher_context(key_encr)
            self._enc = ctx.encrypt
            self._salt = b""
        self._mac = s.integ.context(key_integ).mac if s.integ is not None else None
        # the common case gets a straight-line path: 16-octet-ICV AEAD, 32-bit sequence numbers
        self._fast = fast is not None and not esn

    def encode(self, payload: bytes, next_header: int, iv: bytes | None = None) -> bytes:
        """One ESP packet (from the SPI on) carrying `payload`; EspDrop when the SA is used up.

        `iv` overrides the IV, for known-answer tests only (a repeated IV breaks GCM).
        """
        if self._fast and iv is None:
            seq = self.seq + 1
            if seq > 0xFFFFFFFF:
                raise EspDrop("XfrmOutStateSeqError", "sequence number space exhausted")
            self.seq = seq
            ivb = seq.to_bytes(8, "big")
            hdr = self.spi + ivb[4:]
            tr = _TRAILER4[(-(len(payload) + 2) % 4) * 256 + next_header]
            return hdr + ivb + self._enc(self._salt + ivb, payload + tr, hdr)
        seq = self.seq + 1
        if seq > self._seq_max:
            raise EspDrop("XfrmOutStateSeqError", "sequence number space exhausted")
        self.seq = seq
        lo = (seq & 0xFFFFFFFF).to_bytes(4, "big")
        hdr = self.spi + lo
        padlen = -(len(payload) + 2) % self._align
        trailer = _PADS[padlen] + bytes((padlen, next_header))
        if self._aead:
            if iv is None:
                iv = seq.to_bytes(8, "big")
            aad = self.spi + (seq >> 32).to_bytes(4, "big") + lo if self.esn else hdr
            if self._salt:  # direct AESGCM / ChaCha20Poly1305: nonce = salt | IV
                return hdr + iv + self._enc(self._salt + iv, payload + trailer, aad)
            return hdr + iv + self._enc(iv, payload + trailer, aad)
        if iv is not None:
            pass
        elif self._counter_iv:
            iv = seq.to_bytes(self._iv_len, "big")
        elif self._cbc:
            iv = os.urandom(self._iv_len)
        else:
            iv = b""
        body = hdr + iv + self._enc(iv, payload + trailer)
        mac = self._mac
        assert mac is not None
        if self.esn:  # §2.2.1: Seq High is authenticated but not sent
            return body + mac(body + (seq >> 32).to_bytes(4, "big"))
        return body + mac(body)


class InboundSa:
    """The receiving half of a Child SA: owns the replay window."""

    __slots__ = ("spi", "esn", "replay", "_dec", "_mac", "_salt", "_aead", "_iv_len", "_icv_len",
                 "_min_len", "_block", "_fast")

    def __init__(self, spi: bytes, encr_id: int, key_bits: int, integ_id: int, esn: bool,
                 key_encr: bytes, key_integ: bytes, replay_window: int = 128) -> None:
        if len(spi) != 4:
            raise ValueError("ESP SPI is 4 octets")
        s = _Suite(encr_id, key_bits, integ_id)
        self.spi = spi
        self.esn = esn
        self.replay = ReplayWindow(replay_window, esn)
        self._aead = s.aead
        self._iv_len = s.iv_len
        self._icv_len = s.icv_len
        self._block = s.alg.block_bytes if s.alg.block_bytes > 1 else 1
        # header + IV + at least (Pad Length, Next Header) + ICV
        self._min_len = 8 + s.iv_len + 2 + s.icv_len
        fast = s.fast_aead(key_encr) if s.aead else None
        if fast is not None:
            _, self._dec, self._salt = fast
        else:
            ctx = s.alg.cipher_context(key_encr)
            self._dec = ctx.decrypt
            self._salt = b""
        self._mac = s.integ.context(key_integ).mac if s.integ is not None else None
        self._fast = fast is not None and not esn

    @property
    def batchable(self) -> bool:
        """`decode_run` can take this SA's packets (16-octet-ICV AEAD, no ESN)."""
        return self._fast

    def decode_run(self, data: bytes, seg: int, off: int, out: list[bytes],
                   drops: list[str]) -> int:
        """Tunnel-mode inner packets from the `seg`-sized ESP packets of one GRO read.

        Starts at `off` and goes on while the packets carry this SA's SPI;
        appends each inner IP packet to `out` and the counter name of each
        dropped packet to `drops`. Returns the offset of the first packet it
        did not take (another SA's, or the end). Only for the straight-line
        suites (`fast`): it is `decode` unrolled over a batch, one Python call
        per batch instead of three per packet.
        """
        spi = self.spi
        replay = self.replay
        dec = self._dec
        salt = self._salt
        mask = replay._mask
        size = replay.size
        end = len(data)
        frombytes = int.from_bytes
        while off < end:
            pkt = data[off : off + seg]
            if pkt[:4] != spi:
                return off
            off += seg
            if len(pkt) < 34:
                drops.append("XfrmInHdrError")
                continue
            seq = frombytes(pkt[4:8], "big")
            if seq <= replay.top or not seq:
                try:
                    replay.check(seq)
                except EspDrop as e:
                    drops.append(e.counter)
                    continue
            try:
                pt = dec(salt + pkt[8:16], pkt[16:], pkt[:8])
            except (InvalidTag, ValueError):
                drops.append("XfrmInStateProtoError")
                continue
            top = replay.top
            if seq > top:
                shift = seq - top
                replay.bitmap = ((replay.bitmap << shift) | 1) & mask if shift < size else 1
                replay.top = seq
            else:
                replay.update(seq)
            padlen = pt[-2]
            stop = len(pt) - 2 - padlen
            if stop < 0 or (padlen and pt[stop:-2] != _PADS[padlen]):
                drops.append("XfrmInStateProtoError")
                continue
            nh = pt[-1]
            if not stop or (pt[0] >> 4) != (4 if nh == NH_IPV4 else 6 if nh == NH_IPV6 else -1):
                drops.append("CygInDummy" if nh == NH_NONE else "XfrmInStateModeError")
                continue
            out.append(pt[:stop])
        return min(off, end)  # the last packet of a GRO read may be short


    def decode(self, pkt: bytes) -> tuple[int, bytes]:
        """(Next Header, payload) of an ESP packet for this SA; EspDrop on any failure.

        Order per RFC 4303 §3.4: replay pre-check, ICV, decrypt, window update,
        then the trailer (padding content and length).
        """
        if self._fast and len(pkt) >= 34:  # 8 header + 8 IV + 2 trailer + 16 ICV
            replay = self.replay
            seq = int.from_bytes(pkt[4:8], "big")
            if seq <= replay.top or not seq:
                replay.check(seq)  # raises unless in the window and unseen
            try:
                pt = self._dec(self._salt + pkt[8:16], pkt[16:], pkt[:8])
            except (InvalidTag, ValueError):
                raise EspDrop("XfrmInStateProtoError", "ICV did not verify") from None
            top = replay.top
            if seq > top:  # RFC 4303 §3.4.3: slide the window (inlined `update`)
                shift = seq - top
                replay.bitmap = (((replay.bitmap << shift) | 1) & replay._mask
                                 if shift < replay.size else 1)
                replay.top = seq
            else:
                replay.update(seq)
            padlen = pt[-2]
            end = len(pt) - 2 - padlen
            if end < 0 or (padlen and pt[end:-2] != _PADS[padlen]):
                raise EspDrop("XfrmInStateProtoError", "bad ESP padding")
            return pt[-1], pt[:end]
        n = len(pkt)
        if n < self._min_len:
            raise EspDrop("XfrmInHdrError", "ESP packet too short")
        seq = self.replay.check(int.from_bytes(pkt[4:8], "big"))
        ivend = 8 + self._iv_len
        if self._aead:
            aad = pkt[:4] + (seq >> 32).to_bytes(4, "big") + pkt[4:8] if self.esn else pkt[:8]
            iv = pkt[8:ivend]
            try:
                if self._salt:
                    pt = self._dec(self._salt + iv, pkt[ivend:], aad)
                else:
                    pt = self._dec(iv, pkt[ivend:], aad)
            except (InvalidTag, IntegrityError, ValueError):
                raise EspDrop("XfrmInStateProtoError", "ICV did not verify") from None
        else:
            mac = self._mac
            assert mac is not None
            icv_at = n - self._icv_len
            body = pkt[:icv_at]
            want = mac(body + (seq >> 32).to_bytes(4, "big")) if self.esn else mac(body)
            if not hmac.compare_digest(want, pkt[icv_at:]):
                raise EspDrop("XfrmInStateProtoError", "ICV did not verify")
            ct = pkt[ivend:icv_at]
            if len(ct) % self._block or len(ct) < 2:
                raise EspDrop("XfrmInStateProtoError", "ciphertext not a whole number of blocks")
            try:
                pt = self._dec(pkt[8:ivend], ct)
            except (IntegrityError, ValueError):
                raise EspDrop("XfrmInStateProtoError", "decryption failed") from None
        self.replay.update(seq)
        m = len(pt)
        if m < 2:
            raise EspDrop("XfrmInStateProtoError", "no ESP trailer")
        padlen = pt[m - 2]
        end = m - 2 - padlen
        if end < 0:
            raise EspDrop("XfrmInStateProtoError", "Pad Length beyond the payload")
        if padlen and pt[end : m - 2] != _PADS[padlen]:
            raise EspDrop("XfrmInStateProtoError", "padding content is not 1, 2, 3, ...")
        return pt[m - 1], pt[:end]
