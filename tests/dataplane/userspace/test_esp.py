"""ESP codec (RFC 4303) against independent constructions, every suite, ESN, replay window."""

from __future__ import annotations

import contextlib
import hmac as std_hmac
import os
import struct

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as c_hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cygnet.dataplane.userspace.esp import EspDrop, InboundSa, OutboundSa, ReplayWindow

SPI = bytes.fromhex("01020304")

# (encr id, key bits, integ id, encr key len, integ key len)
SUITES = [
    (20, 128, 0, 20, 0),  # AES_GCM_16_128
    (20, 256, 0, 36, 0),  # AES_GCM_16_256
    (19, 128, 0, 20, 0),  # AES_GCM_12_128
    (18, 192, 0, 28, 0),  # AES_GCM_8_192
    (16, 128, 0, 19, 0),  # AES_CCM_16_128
    (28, 256, 0, 36, 0),  # CHACHA20_POLY1305
    (12, 128, 2, 16, 20),  # AES_CBC_128 + HMAC_SHA1_96
    (12, 256, 12, 32, 32),  # AES_CBC_256 + HMAC_SHA2_256_128
    (12, 192, 13, 24, 48),  # AES_CBC_192 + HMAC_SHA2_384_192
    (12, 128, 14, 16, 64),  # AES_CBC_128 + HMAC_SHA2_512_256
    (13, 128, 12, 20, 32),  # AES_CTR_128 + HMAC_SHA2_256_128
    (13, 256, 2, 36, 20),  # AES_CTR_256 + HMAC_SHA1_96
    (11, 0, 12, 0, 32),  # NULL + HMAC_SHA2_256_128
    (3, 192, 12, 24, 32),  # 3DES_CBC + HMAC_SHA2_256_128
]


def pair(suite: tuple, esn: bool = False, window: int = 128) -> tuple[OutboundSa, InboundSa]:
    eid, bits, iid, kl, il = suite
    ke, ki = os.urandom(kl), os.urandom(il)
    return (
        OutboundSa(SPI, eid, bits, iid, esn, ke, ki),
        InboundSa(SPI, eid, bits, iid, esn, ke, ki, window),
    )


def ipv4_packet(n: int) -> bytes:
    body = os.urandom(n)
    return (
        struct.pack(
            "!BBHHHBBH4s4s",
            0x45,
            0,
            20 + n,
            1,
            0,
            64,
            17,
            0,
            bytes([192, 0, 1, 1]),
            bytes([192, 0, 2, 1]),
        )
        + body
    )


@pytest.mark.parametrize("suite", SUITES, ids=lambda s: f"{s[0]}-{s[1]}-{s[2]}")
@pytest.mark.parametrize("esn", [False, True])
@pytest.mark.parametrize("nh", [4, 41, 6])  # tunnel IPv4 / IPv6, transport TCP
def test_round_trip_every_suite(suite: tuple, esn: bool, nh: int) -> None:
    out, inn = pair(suite, esn)
    for n in (0, 1, 2, 3, 15, 16, 17, 1380):
        pkt = ipv4_packet(n)
        wire = out.encode(pkt, nh)
        assert wire[:4] == SPI
        # RFC 4303 §2.4: the ciphertext (and so the packet, with ICV) is 4-octet aligned
        assert (len(wire) - 8) % 4 == 0
        got_nh, got = inn.decode(wire)
        assert (got_nh, got) == (nh, pkt)


def test_esn_high_bits_authenticated_not_sent() -> None:
    out, inn = pair(SUITES[0], esn=True)
    out.seq = (7 << 32) + 0xFFFFFFFE
    inn.replay.top = out.seq
    for _ in range(4):  # crosses a 2^32 boundary: the high half moves from 7 to 8
        wire = out.encode(b"x" * 40, 4)
        assert wire[4:8] == (out.seq & 0xFFFFFFFF).to_bytes(4, "big")
        assert inn.decode(wire) == (4, b"x" * 40)
    assert inn.replay.top == (8 << 32) + 2
    # the high half is inside the ICV: a receiver that infers other high bits drops it
    wire = out.encode(b"y" * 40, 4)
    inn.replay.top = (20 << 32) + 3
    with pytest.raises(EspDrop):
        inn.decode(wire)


def test_non_esn_sequence_space_ends() -> None:
    out, _ = pair(SUITES[0])
    out.seq = 0xFFFFFFFF
    with pytest.raises(EspDrop) as e:
        out.encode(b"x", 4)
    assert e.value.counter == "XfrmOutStateSeqError"


# ---------------------------------------------------------------------------
# Byte-exact checks against constructions written here from the RFCs
# ---------------------------------------------------------------------------


def test_rfc7634_appendix_a_esp_example() -> None:
    """RFC 7634 Appendix A: ChaCha20-Poly1305 ESP, SPI 0x01020304, seq 5, IV 0x1011..17."""
    key = bytes(range(0x80, 0xA0)) + bytes.fromhex("a0a1a2a3")
    plaintext = bytes.fromhex(
        "45000054a6f200004001e778c6336405c000020508005b7a3a080000553bec10"
        "0007362708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223"
        "2425262728292a2b2c2d2e2f30313233343536370102"  # ... payload | padding 1, 2
        "0204"  # Pad Length 2, Next Header 4 (IPv4)
    )
    ct_tag = bytes.fromhex(
        "24039428b97f417e3c13753a4f05087b67c352e6a7fab1b982d466ef407ae5c6"
        "14ee8099d52844eb61aa95dfab4c02f72aa71e7c4c4f64c9befe2facc638e8f3"
        "cbec163fac469b502773f6fb94e664da9165b82829f641e0"
        "76aaa8266b7fb0f7b11b369907e1ad43"
    )
    iv = bytes.fromhex("1011121314151617")
    expected = SPI + (5).to_bytes(4, "big") + iv + ct_tag
    inner = plaintext[:-4]  # the 84-octet ICMP echo packet
    out = OutboundSa(SPI, 28, 256, 0, False, key, b"")
    out.seq = 4
    assert out.encode(inner, 4, iv=iv) == expected
    inn = InboundSa(SPI, 28, 256, 0, False, key, b"")
    assert inn.decode(expected) == (4, inner)


def test_gcm_matches_rfc4106_construction() -> None:
    """RFC 4106: nonce = salt | IV, AAD = SPI | seq (or SPI | seq hi | seq lo with ESN)."""
    key, salt = os.urandom(16), os.urandom(4)
    inner = ipv4_packet(33)  # 53 octets + 2 → pad 1 to a 4-octet boundary
    for esn in (False, True):
        out = OutboundSa(SPI, 20, 128, 0, esn, key + salt, b"")
        out.seq = (3 << 32) + 9 if esn else 9
        wire = out.encode(inner, 4)
        seq = out.seq
        seq_lo = (seq & 0xFFFFFFFF).to_bytes(4, "big")
        iv = wire[8:16]
        aad = SPI + (seq >> 32).to_bytes(4, "big") + seq_lo if esn else SPI + seq_lo
        pt = inner + b"\x01" + bytes([1, 4])
        want = SPI + seq_lo + iv + AESGCM(key).encrypt(salt + iv, pt, aad)
        assert wire == want


@pytest.mark.parametrize(
    "integ_id,hash_cls,key_len,icv_len",
    [
        (2, hashes.SHA1, 20, 12),
        (12, hashes.SHA256, 32, 16),
        (13, hashes.SHA384, 48, 24),
        (14, hashes.SHA512, 64, 32),
    ],
)
def test_cbc_hmac_matches_rfc3602_4868_construction(integ_id, hash_cls, key_len, icv_len) -> None:
    """RFC 3602/4868: IV | AES-CBC(payload | pad | len | nh), ICV = HMAC truncated (+Seq High)."""
    ke, ki = os.urandom(16), os.urandom(key_len)
    inner = ipv4_packet(50)  # 70 + 2 → pad 8 to 80
    for esn in (False, True):
        out = OutboundSa(SPI, 12, 128, integ_id, esn, ke, ki)
        out.seq = (1 << 32) + 41 if esn else 41
        wire = out.encode(inner, 4)
        seq = out.seq
        iv = wire[8:24]
        pt = inner + bytes(range(1, 9)) + bytes([8, 4])
        enc = Cipher(algorithms.AES(ke), modes.CBC(iv)).encryptor()
        body = SPI + (seq & 0xFFFFFFFF).to_bytes(4, "big") + iv + enc.update(pt) + enc.finalize()
        h = c_hmac.HMAC(ki, hash_cls())
        h.update(body + ((seq >> 32).to_bytes(4, "big") if esn else b""))
        assert wire == body + h.finalize()[:icv_len]


def test_ctr_matches_rfc3686_construction() -> None:
    """RFC 3686 §4: counter block = nonce | IV | 0x00000001."""
    ke, nonce, ki = os.urandom(16), os.urandom(4), os.urandom(32)
    out = OutboundSa(SPI, 13, 128, 12, False, ke + nonce, ki)
    inner = ipv4_packet(7)  # 27 + 2 → pad 3
    wire = out.encode(inner, 4)
    iv = wire[8:16]
    enc = Cipher(algorithms.AES(ke), modes.CTR(nonce + iv + b"\0\0\0\1")).encryptor()
    body = wire[:16] + enc.update(inner + bytes([1, 2, 3, 3, 4]))
    assert wire == body + std_hmac.new(ki, body, "sha256").digest()[:16]


# ---------------------------------------------------------------------------
# Inbound checks
# ---------------------------------------------------------------------------


def drop_counter(inn: InboundSa, wire: bytes) -> str:
    with pytest.raises(EspDrop) as e:
        inn.decode(wire)
    return e.value.counter


@pytest.mark.parametrize("suite", [SUITES[0], SUITES[7]], ids=["gcm", "cbc"])
def test_tampered_packet_fails_icv(suite: tuple) -> None:
    out, inn = pair(suite)
    wire = bytearray(out.encode(ipv4_packet(20), 4))
    wire[-20] ^= 1
    assert drop_counter(inn, bytes(wire)) == "XfrmInStateProtoError"
    # the forged packet did not move the window: the genuine one still passes
    wire[-20] ^= 1
    assert inn.decode(bytes(wire))[0] == 4


def test_bad_padding_content_dropped() -> None:
    key = os.urandom(20)
    inn = InboundSa(SPI, 20, 128, 0, False, key, b"")
    iv = os.urandom(8)
    pt = b"\x45" + bytes(18) + b"\x09\x09" + bytes([2, 4])  # padding 9, 9 instead of 1, 2
    hdr = SPI + (1).to_bytes(4, "big")
    wire = hdr + iv + AESGCM(key[:16]).encrypt(key[16:] + iv, pt, hdr)
    assert drop_counter(inn, wire) == "XfrmInStateProtoError"


def test_short_packet_is_header_error() -> None:
    _, inn = pair(SUITES[0])
    assert drop_counter(inn, SPI + bytes(8)) == "XfrmInHdrError"


# ---------------------------------------------------------------------------
# Anti-replay window (RFC 4303 §3.4.3)
# ---------------------------------------------------------------------------


def test_replay_window_cases() -> None:
    w = ReplayWindow(64, esn=False)
    for s in (1, 2, 5):
        assert w.check(s) == s
        w.update(s)
    assert w.check(3) == 3  # in the window, not yet seen
    for dup in (1, 2, 5):
        with pytest.raises(EspDrop):
            w.check(dup)
    w.update(200)  # far ahead: the window slides, everything left of 137 is too old
    assert w.check(137) == 137
    with pytest.raises(EspDrop):
        w.check(136)
    with pytest.raises(EspDrop):
        w.check(200)
    with pytest.raises(EspDrop):
        w.check(0)


def test_replay_window_zero_disables() -> None:
    w = ReplayWindow(0, esn=False)
    for s in (5, 5, 1, 5):
        assert w.check(s) == s
        w.update(s)


def test_replayed_packet_dropped_through_decode() -> None:
    out, inn = pair(SUITES[0], window=32)
    wires = [out.encode(ipv4_packet(10), 4) for _ in range(40)]
    inn.decode(wires[39])
    assert drop_counter(inn, wires[39]) == "XfrmInStateSeqError"
    assert drop_counter(inn, wires[0]) == "XfrmInStateSeqError"  # too old
    inn.decode(wires[20])  # in the window, out of order: fine


def test_esn_window_across_subspace_boundary() -> None:
    w = ReplayWindow(32, esn=True)
    w.update((1 << 32) + 5)  # top just past the boundary (Appendix A2.2 case B)
    assert w.check(0xFFFFFFF0) == 0xFFFFFFF0  # late packet from the previous subspace
    assert w.check(6) == (1 << 32) + 6
    assert w.check(0x100) == (1 << 32) + 0x100


# ---------------------------------------------------------------------------
# Fuzz: random or mutated packets only ever become counted drops
# ---------------------------------------------------------------------------

_FUZZ_SA = pair(SUITES[0])
_FUZZ_CBC = pair(SUITES[7], esn=True)
_VALID = [_FUZZ_SA[0].encode(ipv4_packet(30), 4) for _ in range(4)]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=200), st.integers(0, 3), st.integers(0, 100), st.binary(max_size=4))
def test_fuzz_inbound_never_raises_anything_but_drop(
    data: bytes, which: int, pos: int, junk: bytes
) -> None:
    base = bytearray(_VALID[which])
    if pos < len(base):
        base[pos : pos + len(junk)] = junk
    for candidate in (data, bytes(base), SPI + data):
        for inn in (_FUZZ_SA[1], _FUZZ_CBC[1]):
            with contextlib.suppress(EspDrop):
                inn.decode(candidate)


# ---------------------------------------------------------------------------
# decode_run: one UDP GRO read (equal-sized ESP packets back to back)
# ---------------------------------------------------------------------------


def test_decode_run_equals_decode_packet_by_packet() -> None:
    out, inn = pair(SUITES[0])
    pkts = [ipv4_packet(100) for _ in range(5)]
    wires = [out.encode(p, 4) for p in pkts]
    seg = len(wires[0])
    got: list[bytes] = []
    drops: list[str] = []
    assert inn.batchable
    assert inn.decode_run(b"".join(wires), seg, 0, got, drops) == 5 * seg
    assert got == pkts and drops == []


def test_decode_run_stops_at_another_spi_and_counts_drops() -> None:
    out, inn = pair(SUITES[0])
    p = ipv4_packet(100)
    good1, good2, good3 = (out.encode(p, 4) for _ in range(3))
    seg = len(good1)
    forged = bytearray(good3)
    forged[-1] ^= 1
    dummy = out.encode(p, 59)  # RFC 4303 §2.6 dummy packet: next header 59
    wrong_mode = out.encode(p, 41)  # says IPv6, carries IPv4
    other = b"\x09\x09\x09\x09" + good2[4:]
    data = good1 + good1 + bytes(forged) + dummy + wrong_mode + good2 + other + good3
    got: list[bytes] = []
    drops: list[str] = []
    stop = inn.decode_run(data, seg, 0, got, drops)
    assert stop == 6 * seg  # the packet with another SPI is left to the caller
    assert got == [p, p]
    assert drops == ["XfrmInStateSeqError", "XfrmInStateProtoError", "CygInDummy",
                     "XfrmInStateModeError"]
    # the forged copy did not move the window: the genuine third packet still decodes
    assert inn.decode_run(data, seg, 7 * seg, got, drops) == len(data)
    assert got == [p, p, p]


def test_decode_run_short_tail_is_header_error() -> None:
    out, inn = pair(SUITES[0])
    w = out.encode(ipv4_packet(60), 4)
    got: list[bytes] = []
    drops: list[str] = []
    assert inn.decode_run(w + SPI + bytes(10), len(w), 0, got, drops) == len(w) + 14
    assert len(got) == 1 and drops == ["XfrmInHdrError"]


def test_decode_run_not_for_cbc_or_esn() -> None:
    assert not pair(SUITES[7])[1].batchable
    assert not pair(SUITES[0], esn=True)[1].batchable
