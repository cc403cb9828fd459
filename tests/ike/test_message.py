"""IKE header and payload chain (RFC 7296 §3.1-§3.2): golden bytes, checks, Libreswan-style printing."""

from __future__ import annotations

import struct

import pytest

from cygnet.ike.iana import (
    ExchangeType,
    HeaderFlag,
    NotifyType,
    PayloadType,
)
from cygnet.ike.message import (
    HEADER_LEN,
    InvalidLength,
    InvalidMajorVersion,
    InvalidSyntax,
    MalformedPayload,
    Message,
    MessageError,
    TruncatedHeader,
    UnsupportedCriticalPayload,
    decode_chain,
    encode_chain,
    payload_name,
    payload_names,
    payload_summary,
    peek_header,
)
from cygnet.ike.payloads import (
    EncryptedPayload,
    KePayload,
    NoncePayload,
    NotifyPayload,
    SaPayload,
    UnknownPayload,
    VendorIdPayload,
)

from .wire_samples import (
    SPI_I,
    SPI_R,
    TSHARK,
    every_payload,
    sa_init_request,
    sa_init_response,
    tshark_verbose,
)

# IKE_SA_INIT request written out from the RFC 7296 §3 layouts, field by field.
GOLDEN_SA_INIT = bytes.fromhex(
    # §3.1 IKE header
    "0102030405060708"  # IKE SA Initiator's SPI
    "0000000000000000"  # IKE SA Responder's SPI: zero in the first message
    "21"  # Next Payload: SA (33)
    "20"  # MjVer 2, MnVer 0
    "22"  # Exchange Type: IKE_SA_INIT (34)
    "08"  # Flags: I(nitiator)
    "00000000"  # Message ID 0
    "000000e8"  # Length 232
    # §3.3 SA payload: generic header
    "22" "00" "0028"  # next KE, not critical, length 40
    # §3.3.1 Proposal substructure
    "00" "00" "0024"  # last proposal, reserved, length 36
    "01" "01" "00" "03"  # Proposal Num 1, Protocol IKE, SPI Size 0, 3 transforms
    # §3.3.2 Transforms
    "03" "00" "000c" "01" "00" "0014"  # more; len 12; ENCR; ENCR_AES_GCM_16 (20)
    "800e" "0100"  # §3.3.5 attribute: AF=1 Key Length (14) = 256
    "03" "00" "0008" "02" "00" "0007"  # more; len 8; PRF; PRF_HMAC_SHA2_512 (7)
    "00" "00" "0008" "04" "00" "0013"  # last; len 8; KE; group 19 (ECP 256)
    # §3.4 KE payload
    "28" "00" "0048"  # next Nonce (40), length 72
    "0013" "0000"  # DH Group Num 19, reserved
    + bytes(range(64)).hex()
    # §3.9 Nonce payload
    + "29" "00" "0024"  # next Notify (41), length 36
    + bytes(range(100, 132)).hex()
    # §3.10 Notify NAT_DETECTION_SOURCE_IP
    + "29" "00" "001c"  # next Notify, length 28
    "00" "00" "4004"  # Protocol 0, SPI Size 0, type 16388
    + "11" * 20
    # §3.10 Notify NAT_DETECTION_DESTINATION_IP
    + "00" "00" "001c"  # last payload, length 28
    "00" "00" "4005"  # type 16389
    + "22" * 20
)


def test_golden_sa_init_encode() -> None:
    assert sa_init_request().encode() == GOLDEN_SA_INIT


def test_golden_sa_init_decode() -> None:
    m = Message.decode(GOLDEN_SA_INIT)
    assert m == sa_init_request()
    assert m.spi_i == SPI_I and m.spi_r == bytes(8)
    assert m.exchange is ExchangeType.IKE_SA_INIT and m.message_id == 0
    assert m.from_initiator and m.is_request and not m.is_response
    assert m.types() == [PayloadType.SA, PayloadType.KE, PayloadType.NONCE, PayloadType.N, PayloadType.N]
    assert m.find(KePayload).group == 19
    assert [n.notify_type for n in m.notifies()] == [
        NotifyType.NAT_DETECTION_SOURCE_IP,
        NotifyType.NAT_DETECTION_DESTINATION_IP,
    ]
    assert m.notifies(NotifyType.NAT_DETECTION_SOURCE_IP)[0].data == b"\x11" * 20
    assert m.find(SaPayload).proposals[0].transforms[2].id == 19
    assert m.find(UnknownPayload) is None


def test_peek_header() -> None:
    h = peek_header(GOLDEN_SA_INIT)
    assert (h.spi_i, h.next_payload, h.major_version, h.minor_version) == (SPI_I, 33, 2, 0)
    assert h.exchange_name == "IKE_SA_INIT" and h.from_initiator and not h.is_response
    assert h.length == 232
    with pytest.raises(TruncatedHeader) as e:
        peek_header(GOLDEN_SA_INIT[:27])
    assert e.value.notify is None
    # IKEv1's header has the same shape: peek still works, decode refuses it
    v1 = GOLDEN_SA_INIT[:17] + b"\x10" + GOLDEN_SA_INIT[18:]
    assert peek_header(v1).major_version == 1


def test_every_payload_in_one_message() -> None:
    payloads = tuple(every_payload())
    m = Message(SPI_I, SPI_R, ExchangeType.INFORMATIONAL, 7, payloads, HeaderFlag.RESPONSE)
    data = m.encode()
    assert Message.decode(data) == m
    assert struct.unpack_from("!I", data, 24)[0] == len(data)


def test_response_round_trip_and_flags() -> None:
    m = sa_init_response()
    again = Message.decode(m.encode())
    assert again == m and again.is_response and not again.from_initiator


def test_reserved_flag_bits_ignored_minor_version_ignored() -> None:
    data = bytearray(GOLDEN_SA_INIT)
    data[19] |= 0x07 | 0x40  # RFC 7296 §3.1: X bits MUST be ignored on receipt
    data[17] = 0x21  # minor version 1: "MUST be ignored"
    m = Message.decode(bytes(data))
    assert m.flags == HeaderFlag.INITIATOR


# --------------------------------------------------------------------------- errors


def _patched(data: bytes, off: int, fmt: str, value: int) -> bytes:
    b = bytearray(data)
    struct.pack_into(fmt, b, off, value)
    return bytes(b)


def test_truncated_header() -> None:
    for n in (0, 1, 27):
        with pytest.raises(TruncatedHeader):
            Message.decode(GOLDEN_SA_INIT[:n])


@pytest.mark.parametrize("version", [0x10, 0x30, 0xF0, 0x00])
def test_bad_major_version(version: int) -> None:
    with pytest.raises(InvalidMajorVersion) as e:
        Message.decode(_patched(GOLDEN_SA_INIT, 17, "!B", version))
    assert e.value.notify == NotifyType.INVALID_MAJOR_VERSION
    assert e.value.major == version >> 4
    assert e.value.header is not None and e.value.header.spi_i == SPI_I


@pytest.mark.parametrize("delta", [-1, 1, 100])
def test_length_mismatch(delta: int) -> None:
    with pytest.raises(InvalidLength) as e:
        Message.decode(_patched(GOLDEN_SA_INIT, 24, "!I", 232 + delta))
    assert e.value.notify == NotifyType.INVALID_SYNTAX


def test_datagram_longer_or_shorter_than_header_says() -> None:
    with pytest.raises(InvalidLength):
        Message.decode(GOLDEN_SA_INIT + b"\x00")
    with pytest.raises(InvalidLength):
        Message.decode(GOLDEN_SA_INIT[:-1])


def _relen(data: bytes) -> bytes:
    return _patched(data, 24, "!I", len(data))


def test_payload_length_below_four() -> None:
    for plen in (0, 1, 3):
        with pytest.raises(InvalidSyntax, match=f"length {plen} < 4"):
            Message.decode(_patched(GOLDEN_SA_INIT, 30, "!H", plen))


def test_payload_length_past_end() -> None:
    with pytest.raises(InvalidSyntax, match="runs past the end"):
        Message.decode(_patched(GOLDEN_SA_INIT, 30, "!H", 1000))
    # the last payload claims one octet more than there is
    with pytest.raises(InvalidSyntax, match="runs past the end"):
        Message.decode(_patched(GOLDEN_SA_INIT, 232 - 28 + 2, "!H", 29))


def test_truncated_generic_header() -> None:
    # chain says another payload follows, but the datagram ends
    data = _patched(GOLDEN_SA_INIT, 232 - 28, "!B", PayloadType.V)
    with pytest.raises(InvalidSyntax, match="truncated generic header"):
        Message.decode(data)
    with pytest.raises(InvalidSyntax, match="truncated generic header"):
        Message.decode(_relen(data + b"\x00\x00"))


def test_trailing_octets_after_chain() -> None:
    with pytest.raises(InvalidSyntax, match="octets after the last payload"):
        Message.decode(_relen(GOLDEN_SA_INIT + b"\x00" * 4))


def test_payload_length_inconsistent_with_body() -> None:
    # Shorten the SA payload by 4: its body is then a truncated proposal
    data = _patched(GOLDEN_SA_INIT, 30, "!H", 36)
    with pytest.raises(InvalidSyntax):
        Message.decode(data)


def test_malformed_payload_body_is_typed() -> None:
    # Nonce of 15 octets inside an otherwise consistent message
    m = Message(SPI_I, bytes(8), ExchangeType.IKE_SA_INIT, 0, (VendorIdPayload(b"x"),), HeaderFlag.INITIATOR)
    data = bytearray(m.encode())
    data[28] = PayloadType.NONCE
    data = bytes(data[:16]) + bytes([PayloadType.NONCE]) + bytes(data[17:])
    data = data[:28] + bytes([0, 0, 0, 4 + 15]) + b"n" * 15
    with pytest.raises(MalformedPayload) as e:
        Message.decode(_relen(data))
    assert e.value.payload_type == PayloadType.NONCE
    assert e.value.notify == NotifyType.INVALID_SYNTAX
    assert isinstance(e.value, MessageError) and isinstance(e.value, ValueError)


def _chain_message(items: list[tuple[int, int, bytes]], first: int) -> bytes:
    """Build a message from raw (next, flags, body) generic payloads."""
    body = b"".join(struct.pack("!BBH", n, f, 4 + len(b)) + b for n, f, b in items)
    hdr = struct.pack("!8s8sBBBBII", SPI_I, SPI_R, first, 0x20, 37, 0x08, 1, 28 + len(body))
    return hdr + body


def test_sk_must_be_last() -> None:
    data = _chain_message([(PayloadType.V, 0, b"sealed"), (0, 0, b"vid")], PayloadType.SK)
    with pytest.raises(InvalidSyntax, match="SK payload is not the last"):
        Message.decode(data)


def test_only_one_sk() -> None:
    # A second SK after the first: the first is then not last
    data = _chain_message([(PayloadType.SK, 0, b"a"), (PayloadType.IDi, 0, b"b")], PayloadType.SK)
    with pytest.raises(InvalidSyntax, match="not the last"):
        Message.decode(data)


def test_sk_last_with_inner_first_type() -> None:
    data = _chain_message([(PayloadType.SK, 0, b"v"), (PayloadType.IDi, 0, b"sealed")], PayloadType.V)
    m = Message.decode(data)
    sk = m.payloads[-1]
    assert isinstance(sk, EncryptedPayload) and sk.first_inner == PayloadType.IDi and sk.data == b"sealed"
    assert m.encode() == data
    assert payload_summary(m) == "V,SK"


def test_unknown_critical_payload() -> None:
    data = _chain_message([(PayloadType.V, 0x80, b"?"), (0, 0, b"vid")], 200)
    with pytest.raises(UnsupportedCriticalPayload) as e:
        Message.decode(data)
    assert e.value.payload_type == 200
    assert e.value.notify == NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD
    assert e.value.notify_data == b"\xc8"
    assert e.value.header.message_id == 1


def test_unknown_noncritical_payload_skipped_but_kept() -> None:
    data = _chain_message([(PayloadType.V, 0x7F, b"?"), (0, 0, b"vid")], 200)
    m = Message.decode(data)
    assert m.payloads[0] == UnknownPayload(200, b"?")
    assert m.payloads[1] == VendorIdPayload(b"vid")
    assert payload_summary(m) == "200,V"


def test_known_payload_with_critical_bit_accepted() -> None:
    data = _chain_message([(0, 0x80, b"vid")], PayloadType.V)
    (v,) = Message.decode(data).payloads
    assert v == VendorIdPayload(b"vid", critical=True)
    assert Message.decode(data).encode() == data


def test_inner_chain_rejects_sk() -> None:
    raw = struct.pack("!BBH", 0, 0, 6) + b"xx"
    with pytest.raises(InvalidSyntax, match="inside SK"):
        decode_chain(PayloadType.SK, raw, inner=True)


def test_encode_chain_sk_not_last_refused() -> None:
    with pytest.raises(ValueError):
        encode_chain([EncryptedPayload(0, b"x"), VendorIdPayload(b"")])


def test_empty_message() -> None:
    m = Message(SPI_I, SPI_R, ExchangeType.INFORMATIONAL, 3, (), HeaderFlag.RESPONSE)
    data = m.encode()
    assert len(data) == HEADER_LEN and data[16] == 0
    assert Message.decode(data) == m


# --------------------------------------------------------------------------- printing


def test_summary_sa_init() -> None:
    assert payload_summary(sa_init_request()) == (
        "SA,KE,Ni,N(NAT_DETECTION_SOURCE_IP),N(NAT_DETECTION_DESTINATION_IP)"
    )
    assert payload_summary(sa_init_response()) == (
        "SA,KE,Nr,N(NAT_DETECTION_SOURCE_IP),N(NAT_DETECTION_DESTINATION_IP),CERTREQ,"
        "N(IKEV2_FRAGMENTATION_SUPPORTED)"
    )
    assert payload_summary(sa_init_response(), from_initiator=True).startswith("SA,KE,Ni,")


def test_summary_no_proposal_chosen_and_missing_list() -> None:
    # the spec's troubleshooting line:
    # "message payloads: N; missing payloads: SA,KE,Ni"
    m = Message(SPI_I, bytes(8), ExchangeType.IKE_SA_INIT, 0,
                (NotifyPayload(NotifyType.NO_PROPOSAL_CHOSEN),), HeaderFlag.RESPONSE)
    assert payload_summary(m) == "N(NO_PROPOSAL_CHOSEN)"
    assert payload_names(m.types()) == "N"
    assert payload_names([PayloadType.SA, PayloadType.KE, PayloadType.NONCE]) == "SA,KE,Ni"
    assert payload_name(PayloadType.NONCE, from_initiator=False) == "Nr"
    assert payload_name(PayloadType.SKF) == "SKF" and payload_name(99) == "99"


def test_summary_opened_sk() -> None:
    # from the reference pluto log: "processing decrypted IKE_AUTH request: SK{IDi,N(INITIAL_CONTACT),...}"
    from .wire_samples import auth_request_inner

    m = Message(SPI_I, SPI_R, ExchangeType.IKE_AUTH, 1, (EncryptedPayload(35, b"..."),),
                HeaderFlag.INITIATOR, auth_request_inner())
    assert payload_summary(m) == (
        "SK{IDi,N(INITIAL_CONTACT),IDr,AUTH,CP,SA,TSi,TSr,N(MOBIKE_SUPPORTED)}"
    )
    assert m.find(NoncePayload) is None and len(m.notifies()) == 2


# --------------------------------------------------------------------------- tshark


@pytest.mark.skipif(TSHARK is None, reason="tshark not installed")
def test_tshark_dissects_sa_init(tmp_path) -> None:
    out = tshark_verbose(tmp_path, [sa_init_request().encode(), sa_init_response().encode()])
    assert "Malformed" not in out and "Expert Info (Error" not in out
    for needle in (
        "Exchange type: IKE_SA_INIT (34)",
        "Payload: Security Association (33)",
        "Transform ID (ENCR): AES-GCM with a 16 octet ICV (20)",
        "Key Length: 256",
        "Transform ID (PRF): PRF_HMAC_SHA2_512 (7)",
        "Transform ID (D-H): 256-bit random ECP group (19)",
        "Payload: Key Exchange (34)",
        "Payload: Nonce (40)",
        "Notify Message Type: NAT_DETECTION_SOURCE_IP (16388)",
        "Notify Message Type: NAT_DETECTION_DESTINATION_IP (16389)",
        "Payload: Certificate Request (38)",
        "Notify Message Type: IKEV2_FRAGMENTATION_SUPPORTED (16430)",
        "Responder SPI: a1a2a3a4a5a6a7a8",
    ):
        assert needle in out, needle
    assert out.count("Internet Security Association and Key Management Protocol") == 2


@pytest.mark.skipif(TSHARK is None, reason="tshark not installed")
def test_tshark_dissects_every_payload(tmp_path) -> None:
    # Wireshark 3.x/4.0 trips an assertion on an empty ID_NULL body (its bug,
    # RFC 7619 §3 makes the data empty), so that one payload is left out here.
    payloads = tuple(p for p in every_payload() if getattr(p, "identity", None) is None or p.identity.data)
    m = Message(SPI_I, SPI_R, ExchangeType.INFORMATIONAL, 7, payloads, HeaderFlag.RESPONSE)
    out = tshark_verbose(tmp_path, [m.encode()])
    assert "Malformed" not in out
    for needle in (
        "Payload: Identification - Initiator (35)",
        "Payload: Identification - Responder (36)",
        "ID type: FQDN (2)",
        "ID type: DER_ASN1_DN (9)",
        "Payload: Certificate (37)",
        "Payload: Authentication (39)",
        "Payload: Delete (42)",
        "Payload: Vendor ID (43)",
        "Payload: Traffic Selector - Initiator (44)",
        "Starting Addr: 10.0.0.1",
        "Payload: Configuration (47)",
        "Payload: Extensible Authentication (48)",
    ):
        assert needle in out, needle
