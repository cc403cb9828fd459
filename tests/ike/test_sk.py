"""The Encrypted payload SK (RFC 7296 §3.14, RFC 5282): seal/open, integrity, padding."""

from __future__ import annotations

import os
import struct

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cygnet.ike.errors import IntegrityError
from cygnet.ike.iana import (
    EncrId,
    ExchangeType,
    HeaderFlag,
    IntegId,
    NotifyType,
    PayloadType,
)
from cygnet.ike.message import (
    InvalidSyntax,
    MalformedPayload,
    Message,
    MessageError,
    UnsupportedCriticalPayload,
    payload_summary,
)
from cygnet.ike.payloads import (
    EncryptedPayload,
    NoncePayload,
    NotifyPayload,
    UnknownPayload,
    VendorIdPayload,
)
from cygnet.ike.sk import SkCrypto, sk_overhead
from cygnet.ike.transforms import encr, integ

from .wire_samples import (
    SPI_I,
    SPI_R,
    TSHARK,
    auth_request_inner,
    tshark_verbose,
    uat_decryption_row,
)

SUITES = [
    (EncrId.AES_GCM_16, 128, None),
    (EncrId.AES_GCM_16, 256, None),
    (EncrId.AES_GCM_8, 256, None),
    (EncrId.AES_GCM_12, 192, None),
    (EncrId.AES_CCM_16, 256, None),
    (EncrId.CHACHA20_POLY1305, None, None),
    (EncrId.AES_CBC, 128, IntegId.HMAC_SHA2_256_128),
    (EncrId.AES_CBC, 256, IntegId.HMAC_SHA2_512_256),
    (EncrId.AES_CBC, 192, IntegId.HMAC_SHA1_96),
    (EncrId.AES_CBC, 128, IntegId.AES_XCBC_96),
    (EncrId.AES_CTR, 256, IntegId.HMAC_SHA2_384_192),
    (EncrId.TRIPLE_DES, None, IntegId.HMAC_SHA1_96),
]


def pair(encr_id: int, bits: int | None, integ_id: int | None, **kw) -> tuple[SkCrypto, SkCrypto]:
    """A sealer and the matching opener (same keys: one direction of an IKE SA)."""
    e = encr(encr_id, bits)
    i = integ(integ_id) if integ_id is not None else None
    sk_e = os.urandom(e.key_bytes)
    sk_a = os.urandom(i.key_bytes) if i else b""
    return SkCrypto(e, i, sk_e, sk_a, **kw), SkCrypto(e, i, sk_e, sk_a)


def auth_msg(inner=None, outer=()) -> Message:
    return Message(SPI_I, SPI_R, ExchangeType.IKE_AUTH, 1, tuple(outer), HeaderFlag.INITIATOR,
                   tuple(auth_request_inner() if inner is None else inner))


def ids(s) -> str:
    return f"{EncrId(s[0]).name}-{s[1]}-{IntegId(s[2]).name if s[2] is not None else 'AEAD'}"


@pytest.mark.parametrize("suite", SUITES, ids=ids)
def test_round_trip(suite) -> None:
    sealer, opener = pair(*suite)
    data = sealer.seal(auth_msg())
    m = opener.open(data)
    assert m.inner == auth_request_inner()
    assert isinstance(m.payloads[-1], EncryptedPayload)
    assert m.payloads[-1].first_inner == PayloadType.IDi
    assert payload_summary(m).startswith("SK{IDi,N(INITIAL_CONTACT),IDr,AUTH,")
    assert m.message_id == 1 and m.exchange == ExchangeType.IKE_AUTH and m.from_initiator
    # whole-datagram bookkeeping
    assert struct.unpack_from("!I", data, 24)[0] == len(data)
    assert data[16] == PayloadType.SK
    # the worst-case estimate really is an upper bound
    plain_len = sum(4 + len(p.encode()) for p in auth_request_inner())
    assert len(data) <= 28 + plain_len + sk_overhead(sealer.encr, sealer.integ)


@pytest.mark.parametrize("suite", SUITES, ids=ids)
def test_empty_inner(suite) -> None:
    # INFORMATIONAL liveness checks are SK with nothing inside (RFC 7296 §1.4)
    sealer, opener = pair(*suite)
    data = sealer.seal(Message(SPI_I, SPI_R, ExchangeType.INFORMATIONAL, 9, (), HeaderFlag(0), ()))
    m = opener.open(data)
    assert m.inner == () and payload_summary(m) == "SK{}"
    assert m.payloads[-1].first_inner == 0


@pytest.mark.parametrize("suite", SUITES, ids=ids)
def test_any_flipped_bit_fails_integrity(suite) -> None:
    sealer, opener = pair(*suite)
    data = sealer.seal(auth_msg())
    # header fields (SPIs, message id, flags), SK header, IV, ciphertext, ICV
    positions = [0, 9, 19, 20, 23, 29, 33, 40, len(data) // 2, len(data) - 17, len(data) - 1]
    for pos in positions:
        bad = bytearray(data)
        bad[pos] ^= 0x01
        with pytest.raises((IntegrityError, MessageError)):
            opener.open(bytes(bad))
    for pos in [0, 9, 23, 33, len(data) // 2, len(data) - 1]:
        bad = bytearray(data)
        bad[pos] ^= 0x01
        with pytest.raises(IntegrityError):
            opener.open(bytes(bad))


@pytest.mark.parametrize("suite", SUITES, ids=ids)
def test_wrong_key_fails(suite) -> None:
    sealer, _ = pair(*suite)
    _, other = pair(*suite)
    with pytest.raises(IntegrityError):
        other.open(sealer.seal(auth_msg()))


def test_aead_matches_rfc5282_construction() -> None:
    """Build the AES-GCM SK by hand (RFC 5282 §3, §5.1) and compare bit for bit."""
    e = encr(EncrId.AES_GCM_16, 256)
    key = bytes(range(36))  # 32-octet AES key || 4-octet salt
    iv = bytes.fromhex("0001020304050607")
    sealer = SkCrypto(e, None, key, iv_source=lambda n: iv)
    inner = (NotifyPayload(NotifyType.INITIAL_CONTACT),)
    got = sealer.seal(auth_msg(inner))

    plain = bytes.fromhex("00000008 00004000")  # N payload: last, len 8, proto 0, spi 0, 16384
    pad = (-(len(plain) + 1)) % 4  # GCM "block size" for padding: 4 (RFC 5282 §3)
    plain += bytes(pad) + bytes([pad])
    sk_len = 4 + 8 + len(plain) + 16
    header = struct.pack("!8s8sBBBBII", SPI_I, SPI_R, 46, 0x20, 35, 0x08, 1, 28 + sk_len)
    sk_header = struct.pack("!BBH", PayloadType.N, 0, sk_len)
    aad = header + sk_header  # RFC 5282 §5.1
    ct = AESGCM(key[:32]).encrypt(key[32:] + iv, plain, aad)  # nonce = salt || IV
    assert got == aad + iv + ct


def test_cbc_matches_rfc7296_construction() -> None:
    """AES-CBC + HMAC-SHA2-256-128 built by hand from RFC 7296 §3.14."""
    from cryptography.hazmat.primitives import hashes, hmac
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    e, i = encr(EncrId.AES_CBC, 128), integ(IntegId.HMAC_SHA2_256_128)
    ke, ka, iv = bytes(16), bytes(range(32)), bytes(range(16, 32))
    sealer = SkCrypto(e, i, ke, ka, iv_source=lambda n: iv)
    got = sealer.seal(auth_msg((VendorIdPayload(b"hello"),)))

    plain = bytes.fromhex("00000009") + b"hello"
    pad = (-(len(plain) + 1)) % 16
    plain += bytes(pad) + bytes([pad])
    enc = Cipher(algorithms.AES(ke), modes.CBC(iv)).encryptor()
    ct = enc.update(plain) + enc.finalize()
    sk_len = 4 + 16 + len(ct) + 16
    signed = struct.pack("!8s8sBBBBII", SPI_I, SPI_R, 46, 0x20, 35, 0x08, 1, 28 + sk_len)
    signed += struct.pack("!BBH", PayloadType.V, 0, sk_len) + iv + ct
    h = hmac.HMAC(ka, hashes.SHA256())
    h.update(signed)
    assert got == signed + h.finalize()[:16]


def _cbc_forge(plain: bytes, *, block: int = 16) -> tuple[SkCrypto, bytes]:
    """A correctly MACed CBC SK message whose plaintext (incl. padding) is `plain` verbatim."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    e, i = encr(EncrId.AES_CBC, 128), integ(IntegId.HMAC_SHA2_256_128)
    ke, ka, iv = os.urandom(16), os.urandom(32), os.urandom(16)
    enc = Cipher(algorithms.AES(ke), modes.CBC(iv)).encryptor()
    ct = enc.update(plain) + enc.finalize()
    sk_len = 4 + 16 + len(ct) + 16
    signed = struct.pack("!8s8sBBBBII", SPI_I, SPI_R, 46, 0x20, 35, 0x08, 1, 28 + sk_len)
    signed += struct.pack("!BBH", PayloadType.V, 0, sk_len) + iv + ct
    return SkCrypto(e, i, ke, ka), signed + i.mac(ka, signed)


def test_cbc_pad_length_too_big() -> None:
    opener, data = _cbc_forge(b"\x00" * 15 + b"\x20")  # Pad Length 32 > 15 available
    with pytest.raises(InvalidSyntax, match="Pad Length 32"):
        opener.open(data)


def test_cbc_any_aligned_pad_length_accepted() -> None:
    # RFC 7296 §3.14: "the recipient MUST accept any length that results in proper alignment"
    inner = bytes.fromhex("00000009") + b"hello"
    pad = 32 - len(inner) - 1
    opener, data = _cbc_forge(inner + b"\xee" * pad + bytes([pad]))
    assert opener.open(data).inner == (VendorIdPayload(b"hello"),)


def test_cbc_icv_checked_before_decrypting() -> None:
    sealer, opener = pair(EncrId.AES_CBC, 128, IntegId.HMAC_SHA2_256_128)
    data = bytearray(sealer.seal(auth_msg()))
    data[-1] ^= 0xFF
    calls = []

    class Spy:
        def __init__(self, inner) -> None:
            self.inner = inner

        def decrypt(self, *a, **k):
            calls.append(a)
            return self.inner.decrypt(*a, **k)

    opener._cipher = Spy(opener._cipher)
    with pytest.raises(IntegrityError):
        opener.open(bytes(data))
    assert calls == []


def test_cbc_ciphertext_not_whole_blocks() -> None:
    sealer, opener = pair(EncrId.AES_CBC, 128, IntegId.HMAC_SHA2_256_128)
    data = sealer.seal(auth_msg())
    # add one octet inside the SK payload (and fix lengths): no longer block aligned
    b = bytearray(data[:-16] + b"\x00" + data[-16:])
    struct.pack_into("!I", b, 24, len(b))
    struct.pack_into("!H", b, 30, struct.unpack_from("!H", b, 30)[0] + 1)
    with pytest.raises(IntegrityError, match="whole blocks"):
        opener.open(bytes(b))


@pytest.mark.parametrize("suite", [SUITES[0], SUITES[6]], ids=ids)
def test_sk_body_too_short(suite) -> None:
    _, opener = pair(*suite)
    for body in (b"", b"\x00" * 8, b"\x00" * 24):
        m = Message(SPI_I, SPI_R, ExchangeType.IKE_AUTH, 1, (EncryptedPayload(35, body),), HeaderFlag.INITIATOR)
        with pytest.raises(IntegrityError):
            opener.open(m.encode())


def test_no_sk_payload() -> None:
    _, opener = pair(*SUITES[0])
    m = Message(SPI_I, SPI_R, ExchangeType.IKE_AUTH, 1, (VendorIdPayload(b"x"),), HeaderFlag.INITIATOR)
    with pytest.raises(InvalidSyntax, match="no SK payload"):
        opener.open(m.encode())


def test_malformed_outer_message() -> None:
    _, opener = pair(*SUITES[0])
    with pytest.raises(MessageError):
        opener.open(b"\x00" * 10)


def test_inner_critical_unknown_and_malformed() -> None:
    sealer, opener = pair(*SUITES[0])
    with pytest.raises(UnsupportedCriticalPayload) as e:
        opener.open(sealer.seal(auth_msg((UnknownPayload(222, b"", critical=True),))))
    assert e.value.payload_type == 222 and e.value.header.message_id == 1
    # non-critical unknown inner payloads are kept
    m = opener.open(sealer.seal(auth_msg((UnknownPayload(222, b"z"),))))
    assert m.inner == (UnknownPayload(222, b"z"),)
    with pytest.raises(MalformedPayload) as e2:
        opener.open(sealer.seal(auth_msg((NoncePayload(b"short"),))))
    assert e2.value.payload_type == PayloadType.NONCE


def test_inner_chain_with_trailing_garbage() -> None:
    # correctly sealed plaintext whose payload chain is inconsistent
    inner = bytes.fromhex("00000009") + b"hello" + b"\x01\x02"
    pad = (-(len(inner) + 1)) % 16
    opener, data = _cbc_forge(inner + bytes(pad) + bytes([pad]))
    with pytest.raises(InvalidSyntax, match="after the last payload inside SK"):
        opener.open(data)


def test_outer_payloads_before_sk_are_authenticated() -> None:
    for suite in (SUITES[0], SUITES[6]):
        sealer, opener = pair(*suite)
        data = sealer.seal(auth_msg(outer=(VendorIdPayload(b"clear"),)))
        m = opener.open(data)
        assert m.payloads[0] == VendorIdPayload(b"clear")
        assert payload_summary(m) == "V,SK{IDi,N(INITIAL_CONTACT),IDr,AUTH,CP,SA,TSi,TSr,N(MOBIKE_SUPPORTED)}"
        bad = data.replace(b"clear", b"CLEAR")
        with pytest.raises(IntegrityError):
            opener.open(bad)


def test_reseal_opened_message() -> None:
    sealer, opener = pair(*SUITES[6])
    m = opener.open(sealer.seal(auth_msg()))
    again = opener.open(sealer.seal(m))
    assert again.inner == m.inner and again.payloads[:-1] == m.payloads[:-1]


def test_iv_generation() -> None:
    gcm, _ = pair(*SUITES[0])
    ivs = [int.from_bytes(gcm.seal(auth_msg())[32:40], "big") for _ in range(5)]
    # counter from a random start: never repeats under a key
    assert [(v - ivs[0]) % 2**64 for v in ivs] == [0, 1, 2, 3, 4]
    _, other = pair(*SUITES[0])
    assert other.seal(auth_msg())[32:40] != gcm.seal(auth_msg())[32:40]
    cbc, _ = pair(*SUITES[6])
    a, b = cbc.seal(auth_msg())[32:48], cbc.seal(auth_msg())[32:48]
    assert a != b  # CBC: random, unpredictable


def test_aead_without_integ_only() -> None:
    e = encr(EncrId.AES_GCM_16, 128)
    with pytest.raises(ValueError):
        SkCrypto(e, integ(IntegId.HMAC_SHA2_256_128), bytes(20), bytes(32))
    with pytest.raises(ValueError):
        SkCrypto(encr(EncrId.AES_CBC, 128), None, bytes(16))


# --------------------------------------------------------------------------- tshark


@pytest.mark.skipif(TSHARK is None, reason="tshark not installed")
@pytest.mark.parametrize(
    "suite",
    [(EncrId.AES_GCM_16, 256, None), (EncrId.AES_CBC, 128, IntegId.HMAC_SHA2_256_128),
     (EncrId.AES_CBC, 256, IntegId.HMAC_SHA2_512_256)],
    ids=ids,
)
def test_tshark_decrypts_sk(tmp_path, suite) -> None:
    e = encr(suite[0], suite[1])
    i = integ(suite[2]) if suite[2] is not None else None
    sk_e = os.urandom(e.key_bytes)
    sk_a = os.urandom(i.key_bytes) if i else b""
    sealer = SkCrypto(e, i, sk_e, sk_a)
    data = sealer.seal(auth_msg())
    row = uat_decryption_row(suite[:2], suite[2], sk_e, sk_a)
    out = tshark_verbose(tmp_path, [data], "-o", f"uat:ikev2_decryption_table:{row}")
    assert "Malformed" not in out
    for needle in (
        "Payload: Encrypted and Authenticated (46)",
        "Payload: Identification - Initiator (35)",
        "Notify Message Type: INITIAL_CONTACT (16384)",
        "Payload: Authentication (39)",
        "Payload: Traffic Selector - Responder (45)",
        "Notify Message Type: MOBIKE_SUPPORTED (16396)",
    ):
        assert needle in out, needle
    # Wireshark recomputes the ICV / GCM tag itself: an independent check of
    # our AAD (RFC 5282 §5.1) and of the ICV coverage (RFC 7296 §3.14).
    assert "Decrypted Data" in out
    assert "Integrity Checksum Data:" in out and "[correct]" in out and "incorrect" not in out
