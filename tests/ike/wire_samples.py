"""Shared helpers for the wire-format tests: sample messages and a pcap writer for tshark."""

from __future__ import annotations

import functools
import ipaddress
import shutil
import struct
import subprocess
from pathlib import Path

from cygnet.ike.iana import (
    AuthMethod,
    CertEncoding,
    CfgAttr,
    CfgType,
    EncrId,
    ExchangeType,
    HeaderFlag,
    KeId,
    NotifyType,
    PrfId,
    ProtocolId,
    TransformType,
    TsType,
)
from cygnet.ike.message import Message
from cygnet.ike.payloads import (
    AuthPayload,
    CertPayload,
    CertReqPayload,
    CfgAttribute,
    CpPayload,
    DeletePayload,
    EapPayload,
    Identity,
    IdiPayload,
    IdrPayload,
    KePayload,
    NoncePayload,
    NotifyPayload,
    RawTrafficSelector,
    SaPayload,
    TrafficSelector,
    TsiPayload,
    TsrPayload,
    VendorIdPayload,
)
from cygnet.ike.proposals import Proposal, Transform

TSHARK = shutil.which("tshark")

SPI_I = bytes.fromhex("0102030405060708")
SPI_R = bytes.fromhex("a1a2a3a4a5a6a7a8")

IKE_PROPOSAL = Proposal(
    1,
    ProtocolId.IKE,
    b"",
    (
        Transform(TransformType.ENCR, EncrId.AES_GCM_16, 256),
        Transform(TransformType.PRF, PrfId.HMAC_SHA2_512),
        Transform(TransformType.KE, KeId.ECP_256),
    ),
)


def ts4(a: str, b: str, proto: int = 0, sp: int = 0, ep: int = 65535) -> TrafficSelector:
    return TrafficSelector(ipaddress.ip_address(a), ipaddress.ip_address(b), proto, sp, ep)


def sa_init_request() -> Message:
    return Message(
        SPI_I,
        bytes(8),
        ExchangeType.IKE_SA_INIT,
        0,
        (
            SaPayload((IKE_PROPOSAL,)),
            KePayload(KeId.ECP_256, bytes(range(64))),
            NoncePayload(bytes(range(100, 132))),
            NotifyPayload(NotifyType.NAT_DETECTION_SOURCE_IP, b"\x11" * 20),
            NotifyPayload(NotifyType.NAT_DETECTION_DESTINATION_IP, b"\x22" * 20),
        ),
        HeaderFlag.INITIATOR,
    )


def sa_init_response() -> Message:
    return Message(
        SPI_I,
        SPI_R,
        ExchangeType.IKE_SA_INIT,
        0,
        (
            SaPayload((IKE_PROPOSAL,)),
            KePayload(KeId.ECP_256, bytes(range(64, 128))),
            NoncePayload(bytes(range(32))),
            NotifyPayload(NotifyType.NAT_DETECTION_SOURCE_IP, b"\x33" * 20),
            NotifyPayload(NotifyType.NAT_DETECTION_DESTINATION_IP, b"\x44" * 20),
            CertReqPayload(CertEncoding.X509_SIGNATURE, b"\x55" * 20),
            NotifyPayload(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED),
        ),
        HeaderFlag.RESPONSE,
    )


ESP_PROPOSAL = Proposal(
    1,
    ProtocolId.ESP,
    b"\xc0\xff\xee\x01",
    (
        Transform(TransformType.ENCR, EncrId.AES_CBC, 128),
        Transform(TransformType.INTEG, 12),
        Transform(TransformType.ESN, 0),
    ),
)


def auth_request_inner() -> tuple:
    return (
        IdiPayload(Identity.from_libreswan("@west")),
        NotifyPayload(NotifyType.INITIAL_CONTACT),
        IdrPayload(Identity.from_libreswan("@east")),
        AuthPayload(AuthMethod.PSK, b"\x77" * 64),
        CpPayload(CfgType.CFG_REQUEST, (CfgAttribute(CfgAttr.INTERNAL_IP4_ADDRESS),)),
        SaPayload((ESP_PROPOSAL,)),
        TsiPayload((ts4("192.0.1.0", "192.0.1.255"),)),
        TsrPayload((ts4("192.0.2.0", "192.0.2.255"),)),
        NotifyPayload(NotifyType.MOBIKE_SUPPORTED),
    )


@functools.cache
def sample_cert_der() -> bytes:
    """A small self-signed EC certificate (real DER, so dissectors accept it)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "west.testing.libreswan.org")])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


def every_payload() -> list:
    """One of each payload kind, for round-trip tests."""
    return [
        SaPayload((IKE_PROPOSAL, Proposal(2, ProtocolId.IKE, b"", (Transform(TransformType.ENCR, EncrId.AES_CBC, 128),)))),
        SaPayload((Proposal(1, ProtocolId.IKE, bytes(range(8)), IKE_PROPOSAL.transforms),)),
        SaPayload((ESP_PROPOSAL,)),
        KePayload(KeId.CURVE25519, b"\x09" * 32),
        IdiPayload(Identity.from_libreswan("@west")),
        IdrPayload(Identity.from_libreswan("192.1.2.23")),
        IdrPayload(Identity.from_libreswan("2001:db8:1:2::23")),
        IdiPayload(Identity.from_libreswan("user@example.com")),
        IdiPayload(Identity.from_libreswan("@#0a0b0c")),
        IdiPayload(Identity.from_libreswan("%null")),
        IdiPayload(Identity.from_libreswan("C=CA, ST=Ontario, O=Libreswan, CN=west.testing.libreswan.org")),
        CertPayload(CertEncoding.X509_SIGNATURE, sample_cert_der()),
        CertReqPayload(CertEncoding.X509_SIGNATURE, b"\xaa" * 40),
        AuthPayload(AuthMethod.DIGITAL_SIGNATURE, b"\x0c" + bytes.fromhex("300a06082a8648ce3d040302") + b"sig" * 10),
        NoncePayload(b"\x01" * 16),
        NoncePayload(b"\x02" * 256),
        NotifyPayload(NotifyType.NO_PROPOSAL_CHOSEN),
        NotifyPayload(NotifyType.REKEY_SA, b"", ProtocolId.ESP, b"\x01\x02\x03\x04"),
        NotifyPayload(NotifyType.COOKIE, b"c" * 32),
        NotifyPayload(40000, b"private"),
        DeletePayload(ProtocolId.IKE),
        DeletePayload(ProtocolId.ESP, (b"\x01\x02\x03\x04", b"\x05\x06\x07\x08")),
        VendorIdPayload(b"OEN"),
        TsiPayload((ts4("0.0.0.0", "255.255.255.255"), ts4("10.0.0.1", "10.0.0.1", 6, 80, 80))),
        TsrPayload((TrafficSelector(ipaddress.ip_address("2001:db8::"), ipaddress.ip_address("2001:db8::ffff"), 17, 500, 500),)),
        TsrPayload((RawTrafficSelector(TsType.TS_SECLABEL, b"system_u:object_r:ipsec_spd_t:s0\x00"),)),
        CpPayload(CfgType.CFG_REPLY, (CfgAttribute(CfgAttr.INTERNAL_IP4_ADDRESS, bytes([100, 64, 0, 1])), CfgAttribute(CfgAttr.INTERNAL_IP4_DNS, bytes([1, 1, 1, 1])))),
        EapPayload(b"\x01\x02\x00\x05\x01"),
    ]


def pcap_bytes(frames: list[bytes], src: str = "192.1.2.45", dst: str = "192.1.2.23", port: int = 500) -> bytes:
    """A classic pcap (LINKTYPE_RAW = 101: IPv4 packets) holding UDP datagrams."""
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101))
    s, d = ipaddress.ip_address(src).packed, ipaddress.ip_address(dst).packed
    for i, f in enumerate(frames):
        # Alternate direction so request/response look like a conversation.
        a, b = (s, d) if i % 2 == 0 else (d, s)
        udp = struct.pack("!HHHH", port, port, 8 + len(f), 0) + f
        ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i, 0, 64, 17, 0, a, b))
        csum = sum(struct.unpack("!10H", bytes(ip)))
        while csum >> 16:
            csum = (csum & 0xFFFF) + (csum >> 16)
        ip[10:12] = struct.pack("!H", ~csum & 0xFFFF)
        pkt = bytes(ip) + udp
        out += struct.pack("<IIII", 1700000000 + i, 0, len(pkt), len(pkt)) + pkt
    return bytes(out)


def tshark_verbose(tmp: Path, frames: list[bytes], *opts: str) -> str:
    path = tmp / "ike.pcap"
    path.write_bytes(pcap_bytes(frames))
    assert TSHARK is not None
    res = subprocess.run(
        [TSHARK, "-n", "-r", str(path), "-V", *opts],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    return res.stdout


#: Wireshark's names for the ikev2_decryption_table UAT (packet-isakmp.c).
WIRESHARK_ENCR = {
    (EncrId.AES_GCM_16, 256): "AES-GCM-256 with 16 octet ICV [RFC5282]",
    (EncrId.AES_GCM_16, 128): "AES-GCM-128 with 16 octet ICV [RFC5282]",
    (EncrId.AES_CBC, 128): "AES-CBC-128 [RFC3602]",
    (EncrId.AES_CBC, 256): "AES-CBC-256 [RFC3602]",
}
WIRESHARK_INTEG = {None: "NONE [RFC4306]", 12: "HMAC_SHA2_256_128 [RFC4868]", 14: "HMAC_SHA2_512_256 [RFC4868]"}


def uat_decryption_row(encr_key: tuple, integ_id: int | None, sk_e: bytes, sk_a: bytes) -> str:
    """One `-o uat:ikev2_decryption_table:` row; both directions use the same keys here.

    Columns: Initiator SPI, Responder SPI, SK_ei, SK_er, encryption, SK_ai, SK_ar, integrity.
    """
    return (
        f'{SPI_I.hex()},{SPI_R.hex()},{sk_e.hex()},{sk_e.hex()},"{WIRESHARK_ENCR[encr_key]}",'
        f'{sk_a.hex()},{sk_a.hex()},"{WIRESHARK_INTEG[integ_id]}"'
    )
