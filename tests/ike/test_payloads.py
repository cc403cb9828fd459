"""Payload bodies (RFC 7296 §3.3-§3.16): round trips, exact layouts, and every malformation."""

from __future__ import annotations

import ipaddress
import struct

import pytest

from cygnet.ike.iana import (
    CfgAttr,
    EncrId,
    IdType,
    NotifyType,
    PayloadType,
    ProtocolId,
    TransformType,
    TsType,
)
from cygnet.ike.payloads import (
    PAYLOAD_CLASSES,
    CpPayload,
    DeletePayload,
    EncryptedFragmentPayload,
    Identity,
    IdiPayload,
    IdrPayload,
    KePayload,
    NoncePayload,
    NotifyPayload,
    PayloadError,
    RawTrafficSelector,
    SaPayload,
    TsiPayload,
    UnknownPayload,
    decode_payload,
    der_to_dn,
    dn_to_der,
)
from cygnet.ike.proposals import Proposal, Transform

from .wire_samples import ESP_PROPOSAL, IKE_PROPOSAL, every_payload, ts4


@pytest.mark.parametrize("payload", every_payload(), ids=lambda p: type(p).__name__)
def test_round_trip(payload) -> None:
    body = payload.encode()
    again = type(payload).decode(body)
    assert again == payload
    assert again.encode() == body
    assert decode_payload(payload.type, body) == payload


def test_critical_flag_is_kept() -> None:
    p = NoncePayload.decode(b"x" * 16, critical=True)
    assert p.critical and p != NoncePayload(b"x" * 16)


def test_every_class_registered() -> None:
    assert set(PAYLOAD_CLASSES) == {
        PayloadType.SA, PayloadType.KE, PayloadType.IDi, PayloadType.IDr, PayloadType.CERT,
        PayloadType.CERTREQ, PayloadType.AUTH, PayloadType.NONCE, PayloadType.N, PayloadType.D,
        PayloadType.V, PayloadType.TSi, PayloadType.TSr, PayloadType.SK, PayloadType.CP,
        PayloadType.EAP, PayloadType.SKF,
    }


def test_unknown_payload_kept_raw() -> None:
    p = decode_payload(200, b"abc", critical=True)
    assert p == UnknownPayload(200, b"abc", critical=True)
    assert p.type == 200 and p.encode() == b"abc"


# --------------------------------------------------------------------------- SA

SA_ONE = bytes.fromhex(
    "00000024 01010003"  # last proposal, length 36, #1, IKE, SPI size 0, 3 transforms
    "0300000c 01000014 800e0100"  # more, len 12, ENCR, AES_GCM_16, KEY_LENGTH=256 (TV)
    "03000008 02000007"  # more, len 8, PRF, HMAC_SHA2_512
    "00000008 04000013"  # last, len 8, KE, 19
)


def test_sa_exact_layout() -> None:
    assert SaPayload((IKE_PROPOSAL,)).encode() == SA_ONE
    sa = SaPayload.decode(SA_ONE)
    (p,) = sa.proposals
    assert p.number == 1 and p.protocol is ProtocolId.IKE and p.spi == b""
    assert p.transforms[0] == Transform(TransformType.ENCR, EncrId.AES_GCM_16, 256)
    assert isinstance(p.transforms[0].type, TransformType)


def _sa_err(body: bytes, match: str) -> None:
    with pytest.raises(PayloadError, match=match) as e:
        SaPayload.decode(body)
    assert e.value.payload_type == PayloadType.SA


def _set(body: bytes, off: int, fmt: str, value: int) -> bytes:
    b = bytearray(body)
    struct.pack_into(fmt, b, off, value)
    return bytes(b)


def test_sa_empty() -> None:
    _sa_err(b"", "without a last proposal")
    with pytest.raises(PayloadError):
        SaPayload(()).encode()


def test_sa_bad_last_substruc() -> None:
    _sa_err(_set(SA_ONE, 0, "!B", 3), "Last Substruc 3")
    _sa_err(_set(SA_ONE, 0, "!B", 2), "without a last proposal")  # claims more, nothing follows
    _sa_err(_set(SA_ONE, 8, "!B", 2), "transform Last Substruc 2")
    _sa_err(_set(SA_ONE, 28, "!B", 3), "without a last transform")  # last transform says "more"
    _sa_err(_set(SA_ONE, 8, "!B", 0), "transforms, has 1|octets after the last transform")


def test_sa_bad_lengths() -> None:
    _sa_err(_set(SA_ONE, 2, "!H", 7), "proposal length 7")
    _sa_err(_set(SA_ONE, 2, "!H", 200), "truncated proposal")
    _sa_err(_set(SA_ONE, 2, "!H", 32), "truncated|octets after")
    _sa_err(_set(SA_ONE, 10, "!H", 4), "transform length 4")
    _sa_err(_set(SA_ONE, 10, "!H", 100), "truncated transform")
    _sa_err(SA_ONE + b"\x00", "truncated|after the last proposal")
    _sa_err(SA_ONE[:-1], "truncated")


def test_sa_transform_count_mismatch() -> None:
    _sa_err(_set(SA_ONE, 7, "!B", 4), "says 4 transforms, has 3")


def test_sa_spi_sizes() -> None:
    _sa_err(_set(SA_ONE, 6, "!B", 4), "SPI size 4 invalid for IKE")
    esp = SaPayload((ESP_PROPOSAL,)).encode()
    _sa_err(_set(esp, 6, "!B", 0), "SPI size 0 invalid for ESP")
    _sa_err(_set(SA_ONE, 5, "!B", 9), "unknown protocol id 9")


def test_sa_proposal_numbering() -> None:
    two = SaPayload((IKE_PROPOSAL, Proposal(2, ProtocolId.IKE, b"", IKE_PROPOSAL.transforms))).encode()
    second = len(SA_ONE)
    _sa_err(_set(two, second + 4, "!B", 3), "proposal number 3, expected 2")
    _sa_err(_set(_set(two, 4, "!B", 5), second + 4, "!B", 6), "first proposal number 5")
    _sa_err(_set(SA_ONE, 4, "!B", 0), "proposal number 0")
    # A response's single proposal carries the chosen number.
    assert SaPayload.decode(_set(SA_ONE, 4, "!B", 7)).proposals[0].number == 7


def test_sa_key_length_must_be_tv() -> None:
    _sa_err(_set(SA_ONE, 16, "!H", 0x000E), "truncated attribute|KEY_LENGTH attribute must be TV")


def test_sa_repeated_key_length() -> None:
    body = bytes.fromhex("00000018 01010001 00000010 01000014 800e0100 800e0080")
    _sa_err(body, "repeated KEY_LENGTH")


def test_sa_unknown_attribute_rejects_only_that_transform() -> None:
    # RFC 7296 §3.3.6: a transform with an attribute we do not understand is
    # not acceptable; the other transforms of the proposal stay.
    body = bytes.fromhex(
        "00000028 01010002"
        "03000014 01000014 800e0100 00310004 deadbeef"  # TLV attribute 0x31
        "0000000c 0100000c 800e0080"
    )
    sa = SaPayload.decode(body)
    assert sa.proposals[0].transforms == (Transform(TransformType.ENCR, EncrId.AES_CBC, 128),)
    (ign,) = sa.ignored
    assert (ign.proposal_number, ign.type, ign.id) == (1, TransformType.ENCR, EncrId.AES_GCM_16)


def test_sa_unknown_transform_type_kept_as_int() -> None:
    body = bytes.fromhex("00000010 01010001 00000008 63000001")
    (t,) = SaPayload.decode(body).proposals[0].transforms
    assert t.type == 0x63 and not isinstance(t.type, TransformType)


# --------------------------------------------------------------------------- KE / Nonce / N / D


def test_ke_layout_and_errors() -> None:
    assert KePayload(19, b"\x04\x05").encode() == bytes.fromhex("00130000 0405")
    with pytest.raises(PayloadError, match="truncated"):
        KePayload.decode(b"\x00\x13\x00")


@pytest.mark.parametrize("n", [0, 1, 15, 257, 1000])
def test_nonce_bounds(n: int) -> None:
    with pytest.raises(PayloadError, match=f"nonce of {n} octets") as e:
        NoncePayload.decode(b"\x00" * n)
    assert e.value.payload_type == PayloadType.NONCE


def test_notify_layout() -> None:
    n = NotifyPayload(NotifyType.REKEY_SA, b"", ProtocolId.ESP, b"\x01\x02\x03\x04")
    assert n.encode() == bytes.fromhex("03044009 01020304")
    assert NotifyPayload.decode(bytes.fromhex("0000000e")).name == "NO_PROPOSAL_CHOSEN"
    assert NotifyPayload.decode(bytes.fromhex("00009999")).name == str(0x9999)
    with pytest.raises(PayloadError, match="truncated SPI"):
        NotifyPayload.decode(bytes.fromhex("0308400901"))
    with pytest.raises(PayloadError):
        NotifyPayload.decode(b"\x00\x00\x40")


def test_delete_checks() -> None:
    assert DeletePayload(ProtocolId.IKE).encode() == bytes.fromhex("01000000")
    for bad, msg in [
        ("01040001 01020304", "IKE delete"),
        ("03080001 0102030405060708", "SPI size 8"),
        ("03040002 01020304", "2 SPIs of 4 octets but 4"),
        ("03040001 0102030405", "but 5"),
        ("09000000", "unknown protocol"),
        ("0304", "truncated"),
    ]:
        with pytest.raises(PayloadError, match=msg):
            DeletePayload.decode(bytes.fromhex(bad))


# --------------------------------------------------------------------------- ID


@pytest.mark.parametrize(
    ("text", "id_type", "data", "shown"),
    [
        ("@east", IdType.ID_FQDN, b"east", "ID_FQDN '@east'"),
        ("192.1.2.23", IdType.ID_IPV4_ADDR, bytes([192, 1, 2, 23]), "ID_IPV4_ADDR '192.1.2.23'"),
        ("2001:db8:1:2::23", IdType.ID_IPV6_ADDR, ipaddress.ip_address("2001:db8:1:2::23").packed,
         "ID_IPV6_ADDR '2001:db8:1:2::23'"),
        ("user@example.com", IdType.ID_RFC822_ADDR, b"user@example.com", "ID_USER_FQDN 'user@example.com'"),
        ("@#0a0b", IdType.ID_KEY_ID, b"\x0a\x0b", "ID_KEY_ID '@#0x0a0b'"),
        ("@#0x0a0b", IdType.ID_KEY_ID, b"\x0a\x0b", "ID_KEY_ID '@#0x0a0b'"),
        ("@[keyname]", IdType.ID_KEY_ID, b"keyname", "ID_KEY_ID '@#0x6b65796e616d65'"),
        ("%null", IdType.ID_NULL, b"", "ID_NULL 'ID_NULL'"),
    ],
)
def test_identity_libreswan_syntax(text: str, id_type: int, data: bytes, shown: str) -> None:
    ident = Identity.from_libreswan(text)
    assert (ident.id_type, ident.data) == (id_type, data)
    assert ident.describe() == shown


def test_identity_dn() -> None:
    text = "C=CA, ST=Ontario, O=Libreswan, OU=Test Department, CN=east.testing.libreswan.org, E=user-east@testing.libreswan.org"
    ident = Identity.from_libreswan(text)
    assert ident.id_type == IdType.ID_DER_ASN1_DN
    assert str(ident) == text
    assert ident.describe() == f"ID_DER_ASN1_DN '{text}'"
    # Leading @ is allowed and dropped (Libreswan's atodn); "/" form too.
    assert Identity.from_libreswan("@" + text) == ident
    assert dn_to_der("/C=CA/O=Libreswan") == dn_to_der("C=CA, O=Libreswan")
    # The DER is what cryptography produces for the same Name, RDNs in written order.
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    name = x509.Name([
        x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COUNTRY_NAME, "CA")]),
        x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Libreswan")]),
    ])
    assert dn_to_der("C=CA, O=Libreswan") == name.public_bytes()
    assert der_to_dn(name.public_bytes()) == "C=CA, O=Libreswan"
    assert der_to_dn(dn_to_der(r"O=a\, b")) == r"O=a\, b"


@pytest.mark.parametrize("bad", ["", "C=CAN", "XX=1", "nonsense", "1.2.3.4.5"])
def test_identity_bad_text(bad: str) -> None:
    with pytest.raises(ValueError):
        Identity.from_libreswan(bad)


def test_identity_bad_der_prints_hex() -> None:
    assert str(Identity(IdType.ID_DER_ASN1_DN, b"\x30\x05")) == "@~3005"


def test_id_payload_layout_and_checks() -> None:
    p = IdiPayload(Identity.from_libreswan("@east"))
    assert p.encode() == bytes.fromhex("02000000") + b"east"
    assert IdrPayload.decode(bytes.fromhex("01000000 c0010217")).identity.describe() == "ID_IPV4_ADDR '192.1.2.23'"
    with pytest.raises(PayloadError, match="ID_IPV4_ADDR with 3 octets") as e:
        IdrPayload.decode(bytes.fromhex("01000000 c00102"))
    assert e.value.payload_type == PayloadType.IDr
    with pytest.raises(PayloadError, match="ID_IPV6_ADDR with 4 octets"):
        IdiPayload.decode(bytes.fromhex("05000000 c0010217"))
    with pytest.raises(PayloadError, match="truncated"):
        IdiPayload.decode(b"\x02\x00")
    # unknown ID types are kept
    assert IdiPayload.decode(b"\x63\x00\x00\x00x").identity.id_type == 0x63


# --------------------------------------------------------------------------- TS


def test_ts_layout() -> None:
    body = TsiPayload((ts4("192.0.1.0", "192.0.1.255", 6, 22, 22),)).encode()
    assert body == bytes.fromhex("01000000 07060010 00160016 c0000100 c00001ff")


@pytest.mark.parametrize(
    ("hexbody", "msg"),
    [
        ("01000000 07000011 0000ffff c0000100 c00001ff00", "selector length 17, expected 16"),
        ("01000000 07000010 0000ffff c0000100", "truncated selector"),
        ("01000000 07000003", "selector length 3"),
        ("02000000 07000010 0000ffff c0000100 c00001ff", "truncated TS type"),
        ("01000000 07000010 0000ffff c0000100 c00001ff 00", "1 octets after 1"),
        ("01000000 08000010 0000ffff c0000100 c00001ff", "TS_IPV6_ADDR_RANGE selector length 16, expected 40"),
        ("010000", "truncated"),
    ],
)
def test_ts_errors(hexbody: str, msg: str) -> None:
    body = bytes.fromhex(hexbody)
    with pytest.raises(PayloadError, match=msg):
        TsiPayload.decode(body)


def test_ts_seclabel_raw() -> None:
    body = bytes.fromhex("01000000 1000000a") + b"label\x00"
    (sel,) = TsiPayload.decode(body).selectors
    assert sel == RawTrafficSelector(TsType.TS_SECLABEL, b"label\x00")


# --------------------------------------------------------------------------- CP / SKF


def test_cp_layout_and_errors() -> None:
    body = bytes.fromhex("01000000 00010000 00030000")
    cp = CpPayload.decode(body)
    assert [a.type for a in cp.attributes] == [CfgAttr.INTERNAL_IP4_ADDRESS, CfgAttr.INTERNAL_IP4_DNS]
    assert cp.encode() == body
    # reserved top bit of the attribute type is ignored
    assert CpPayload.decode(bytes.fromhex("01000000 80010000")).attributes[0].type == 1
    with pytest.raises(PayloadError, match="truncated attribute value"):
        CpPayload.decode(bytes.fromhex("01000000 00010004 0a00"))
    with pytest.raises(PayloadError, match="truncated attribute length"):
        CpPayload.decode(bytes.fromhex("01000000 0001"))


def test_skf_fields() -> None:
    p = EncryptedFragmentPayload.decode(bytes.fromhex("00020003") + b"iv..", first_inner=0)
    assert (p.number, p.total, p.data) == (2, 3, b"iv..")
    assert p.encode() == bytes.fromhex("00020003") + b"iv.."
    for bad in ("00000003", "00040003", "00010000", "0001"):
        with pytest.raises(PayloadError):
            EncryptedFragmentPayload.decode(bytes.fromhex(bad))


def test_payload_error_is_value_error_with_notify() -> None:
    with pytest.raises(ValueError) as e:
        NoncePayload.decode(b"")
    assert e.value.notify == NotifyType.INVALID_SYNTAX
    assert "NONCE payload" in str(e.value)
