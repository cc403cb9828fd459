"""A packet must never crash the daemon (DESIGN.md): fuzz the decoders and SK open.

Only the typed errors may come out: MessageError (and its subclasses) from
`Message.decode`, PayloadError from payload bodies, MessageError or
IntegrityError from `SkCrypto.open`.
"""

from __future__ import annotations

import contextlib
import struct

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cygnet.ike.errors import IntegrityError
from cygnet.ike.iana import EncrId, ExchangeType, HeaderFlag, IntegId, PayloadType
from cygnet.ike.message import HEADER_LEN, Message, MessageError, decode_chain
from cygnet.ike.payloads import PAYLOAD_CLASSES, PayloadError, SaPayload, decode_payload
from cygnet.ike.sk import SkCrypto
from cygnet.ike.transforms import encr, integ

from .wire_samples import (
    SPI_I,
    SPI_R,
    auth_request_inner,
    every_payload,
    sa_init_request,
    sa_init_response,
)

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

VALID = [
    sa_init_request().encode(),
    sa_init_response().encode(),
    Message(SPI_I, SPI_R, ExchangeType.INFORMATIONAL, 7, tuple(every_payload()), HeaderFlag.RESPONSE).encode(),
]


def _decode_or_typed_error(data: bytes) -> Message | None:
    try:
        m = Message.decode(data)
    except MessageError:
        return None
    # Whatever decodes must re-encode to something that decodes the same
    # (except SA transforms we had to drop, which cannot be re-sent).
    if not any(isinstance(p, SaPayload) and p.ignored for p in m.payloads):
        try:
            again = Message.decode(m.encode())
        except MessageError as e:  # pragma: no cover - reported with context
            raise AssertionError(f"re-encoded message fails to decode: {e}") from e
        assert again == m
    return m


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes(data: bytes) -> None:
    _decode_or_typed_error(data)


@FUZZ
@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=300))
def test_random_body_behind_valid_header(first: int, flags: int, body: bytes) -> None:
    hdr = struct.pack("!8s8sBBBBII", SPI_I, SPI_R, first, 0x20, 35, flags, 1, HEADER_LEN + len(body))
    _decode_or_typed_error(hdr + body)


@FUZZ
@given(st.sampled_from(sorted(PAYLOAD_CLASSES) + [0, 1, 99, 255]), st.binary(max_size=200))
def test_payload_bodies(ptype: int, body: bytes) -> None:
    try:
        p = decode_payload(ptype, body)
    except PayloadError:
        return
    if not (isinstance(p, SaPayload) and p.ignored):
        assert decode_payload(ptype, p.encode(), next_type=getattr(p, "first_inner", 0)) == p


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "byte", "truncate", "length16", "insert", "delete"]))
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte":
            data[pos] = draw(st.integers(0, 255))
        elif kind == "truncate":
            del data[pos:]
        elif kind == "length16" and pos + 2 <= len(data):
            struct.pack_into("!H", data, pos, draw(st.sampled_from([0, 1, 3, 4, 5, 0xFFFF, len(data) - pos])))
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[pos : pos + draw(st.integers(1, 8))]
    if draw(st.booleans()) and len(data) >= HEADER_LEN:
        struct.pack_into("!I", data, 24, len(data))  # keep the header length honest
    return bytes(data)


@FUZZ
@given(mutated())
@example(VALID[0][:-1])
def test_mutated_valid_messages(data: bytes) -> None:
    _decode_or_typed_error(data)


@FUZZ
@given(st.sampled_from(sorted(PAYLOAD_CLASSES) + [7, 200]), st.binary(max_size=300))
def test_inner_chain(first: int, plain: bytes) -> None:
    with contextlib.suppress(MessageError):
        decode_chain(first, plain, inner=True)


# --------------------------------------------------------------------------- SK open

GCM_KEY = bytes(range(36))
CBC_KEYS = (bytes(range(16)), bytes(range(32)))
GCM = SkCrypto(encr(EncrId.AES_GCM_16, 256), None, GCM_KEY)
CBC = SkCrypto(encr(EncrId.AES_CBC, 128), integ(IntegId.HMAC_SHA2_256_128), *CBC_KEYS)
AUTH = Message(SPI_I, SPI_R, ExchangeType.IKE_AUTH, 1, (), HeaderFlag.INITIATOR, auth_request_inner())
SEALED = [GCM.seal(AUTH), CBC.seal(AUTH)]


def _open_typed(crypto: SkCrypto, data: bytes) -> None:
    with contextlib.suppress(MessageError, IntegrityError):
        crypto.open(data)


@FUZZ
@given(st.integers(0, 1), st.data())
def test_sk_open_mutated(which: int, data) -> None:
    sealed = bytearray(SEALED[which])
    crypto = (GCM, CBC)[which]
    for _ in range(data.draw(st.integers(1, 3))):
        pos = data.draw(st.integers(0, len(sealed) - 1))
        kind = data.draw(st.sampled_from(["flip", "truncate", "sklen", "extend"]))
        if kind == "flip":
            sealed[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "truncate":
            del sealed[max(pos, 1) :]
        elif kind == "sklen" and len(sealed) >= 32:
            struct.pack_into("!H", sealed, 30, data.draw(st.integers(0, 0xFFFF)))
        elif kind == "extend":
            sealed += data.draw(st.binary(min_size=1, max_size=40))
    if data.draw(st.booleans()) and len(sealed) >= HEADER_LEN:
        struct.pack_into("!I", sealed, 24, len(sealed))
        if len(sealed) >= 32:
            struct.pack_into("!H", sealed, 30, len(sealed) - HEADER_LEN)
    _open_typed(crypto, bytes(sealed))


def _gcm_seal_raw(first_inner: int, plain: bytes) -> bytes:
    """Authentic SK message around arbitrary plaintext (padding octets included)."""
    sk_len = 4 + 8 + len(plain) + 16
    aad = struct.pack("!8s8sBBBBII", SPI_I, SPI_R, PayloadType.SK, 0x20, 35, 0x08, 1, HEADER_LEN + sk_len)
    aad += struct.pack("!BBH", first_inner, 0, sk_len)
    iv = b"\x00" * 7 + b"\x2a"
    return aad + iv + AESGCM(GCM_KEY[:32]).encrypt(GCM_KEY[32:] + iv, plain, aad)


@FUZZ
@given(st.sampled_from(sorted(PAYLOAD_CLASSES) + [0, 5, 200]), st.binary(max_size=300))
@example(PayloadType.V, b"")
@example(PayloadType.V, b"\xff")
def test_sk_open_authentic_garbage_plaintext(first: int, plain: bytes) -> None:
    """Integrity passes, so everything after decryption (padding, inner chain) is exercised."""
    _open_typed(GCM, _gcm_seal_raw(first, plain))


@FUZZ
@given(st.lists(st.sampled_from(every_payload()), max_size=6))
def test_sk_seal_open_any_payloads(inner: list) -> None:
    for crypto in (GCM, CBC):
        msg = Message(SPI_I, SPI_R, ExchangeType.CREATE_CHILD_SA, 5, (), HeaderFlag.RESPONSE, tuple(inner))
        assert crypto.open(crypto.seal(msg)).inner == tuple(inner)
