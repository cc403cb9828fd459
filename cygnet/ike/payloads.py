"""IKEv2 payload bodies (RFC 7296 §3.3-§3.16, RFC 7383 §2.5).

One frozen dataclass per payload type. `encode()` returns the payload *body*
(what follows the 4-byte generic payload header), which is also exactly the
octets RFC 7296 §2.15 signs for ID payloads ("RestOfInitIDPayload").
`decode(body)` rebuilds the object and raises `PayloadError` on any malformed
input, never IndexError/struct.error: a packet must never crash the daemon.

The generic payload header (next payload, critical bit, length) and the
chaining of payloads belong to `message`; these classes only know their
bodies. Each payload carries its own `critical` flag so that a decoded
message re-encodes bit for bit.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field
from typing import ClassVar, Self

from cygnet.ike.errors import IkeError
from cygnet.ike.iana import (
    ATTR_AF_TV,
    AuthMethod,
    CertEncoding,
    CfgAttr,
    CfgType,
    IdType,
    KeId,
    NotifyType,
    PayloadType,
    ProtocolId,
    TransformAttr,
    TransformType,
    TsType,
    name_of,
)
from cygnet.ike.proposals import Proposal, Transform

__all__ = [
    "PayloadError",
    "Payload",
    "SaPayload",
    "IgnoredTransform",
    "KePayload",
    "Identity",
    "IdiPayload",
    "IdrPayload",
    "CertPayload",
    "CertReqPayload",
    "AuthPayload",
    "NoncePayload",
    "NotifyPayload",
    "DeletePayload",
    "VendorIdPayload",
    "TrafficSelector",
    "RawTrafficSelector",
    "TsiPayload",
    "TsrPayload",
    "CfgAttribute",
    "CpPayload",
    "EapPayload",
    "EncryptedPayload",
    "EncryptedFragmentPayload",
    "UnknownPayload",
    "PAYLOAD_CLASSES",
    "decode_payload",
    "NONCE_MIN",
    "NONCE_MAX",
]

#: RFC 7296 §3.9: "Nonce Data MUST be between 16 and 256 octets, inclusive."
NONCE_MIN = 16
NONCE_MAX = 256


class PayloadError(IkeError, ValueError):
    """A payload body is malformed; `payload_type` says which payload.

    RFC 7296 §1.5/§2.21.3: a syntactically bad request is answered with
    INVALID_SYNTAX (when it passed integrity checks).
    """

    notify = NotifyType.INVALID_SYNTAX

    def __init__(self, payload_type: int, reason: str) -> None:
        self.payload_type = payload_type
        self.reason = reason
        super().__init__(f"{name_of(PayloadType, payload_type)} payload: {reason}")


def _enum(enum: type, value: int) -> int:
    """`enum(value)` when the registry knows it, else the plain int (kept, not rejected)."""
    try:
        return enum(value)
    except ValueError:
        return value


class _Reader:
    """Bounds-checked cursor over a payload body; every short read is a PayloadError."""

    __slots__ = ("data", "pos", "ptype")

    def __init__(self, ptype: int, data: bytes) -> None:
        self.ptype = ptype
        self.data = data
        self.pos = 0

    def fail(self, reason: str) -> PayloadError:
        return PayloadError(self.ptype, reason)

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.remaining < n:
            raise self.fail(f"truncated {what} (need {n} octets, have {self.remaining})")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self, what: str) -> int:
        return self.take(1, what)[0]

    def u16(self, what: str) -> int:
        return int.from_bytes(self.take(2, what), "big")

    def rest(self) -> bytes:
        out = self.data[self.pos :]
        self.pos = len(self.data)
        return out


@dataclass(frozen=True, slots=True)
class Payload:
    """Base of all payloads. `critical` is the generic header's C bit (RFC 7296 §3.2)."""

    TYPE: ClassVar[int] = PayloadType.NONE
    critical: bool = field(default=False, kw_only=True)

    @property
    def type(self) -> int:
        """The payload type code that goes in the previous Next Payload field."""
        return self.TYPE

    def encode(self) -> bytes:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def decode(cls, body: bytes, *, critical: bool = False) -> Self:  # pragma: no cover
        raise NotImplementedError


# --------------------------------------------------------------------------- SA (§3.3)

_LAST = 0
_MORE_PROPOSALS = 2
_MORE_TRANSFORMS = 3

#: RFC 7296 §3.3.1: SPI Size is 0 for an initial IKE SA negotiation, 8 for
#: an IKE SA rekey, 4 for ESP and AH.
_SPI_SIZES = {ProtocolId.IKE: (0, 8), ProtocolId.AH: (4,), ProtocolId.ESP: (4,)}


@dataclass(frozen=True, slots=True)
class IgnoredTransform:
    """A received transform carrying an attribute we do not understand.

    RFC 7296 §3.3.6: such a transform is not acceptable, so it is left out of
    its proposal (selection never sees it) but remembered here for logging.
    """

    proposal_number: int
    type: int
    id: int
    attributes: bytes


@dataclass(frozen=True, slots=True)
class SaPayload(Payload):
    """Security Association payload: one or more proposals (RFC 7296 §3.3)."""

    TYPE: ClassVar[int] = PayloadType.SA
    proposals: tuple[Proposal, ...]
    ignored: tuple[IgnoredTransform, ...] = ()

    def encode(self) -> bytes:
        if not self.proposals:
            raise PayloadError(self.TYPE, "an SA payload needs at least one proposal")
        out = bytearray()
        for i, prop in enumerate(self.proposals):
            last = i == len(self.proposals) - 1
            out += _encode_proposal(prop, last)
        return bytes(out)

    @classmethod
    def decode(cls, body: bytes, *, critical: bool = False) -> Self:
        r = _Reader(PayloadType.SA, body)
        proposals: list[Proposal] = []
        ignored: list[IgnoredTransform] = []
        last = _MORE_PROPOSALS
        while last != _LAST:
            if r.remaining == 0:
                raise r.fail("proposal list ends without a last proposal (Last Substruc 0)")
            last = r.u8("proposal header")
            if last not in (_LAST, _MORE_PROPOSALS):
                raise r.fail(f"proposal Last Substruc {last}, expected 0 or 2")
            r.take(1, "proposal header")
            plen = r.u16("proposal length")
            if plen < 8:
                raise r.fail(f"proposal length {plen} < 8")
            sub = _Reader(PayloadType.SA, r.take(plen - 4, "proposal"))
            prop, ign = _decode_proposal(sub)
            expected = proposals[-1].number + 1 if proposals else None
            if expected is not None and prop.number != expected:
                # §3.3.1: "each subsequent Proposal MUST have the same number as
                # the previous one or be one (1) greater" - same number is the
                # IKEv1 AND form, which IKEv2 does not use.
                raise r.fail(f"proposal number {prop.number}, expected {expected}")
            proposals.append(prop)
            ignored.extend(ign)
        if r.remaining:
            raise r.fail(f"{r.remaining} octets after the last proposal")
        if len(proposals) > 1 and proposals[0].number != 1:
            raise r.fail(f"first proposal number {proposals[0].number}, expected 1")
        return cls(tuple(proposals), tuple(ignored), critical=critical)


def _encode_proposal(prop: Proposal, last: bool) -> bytes:
    if not 0 < prop.number < 256 or len(prop.spi) > 255 or len(prop.transforms) > 255:
        raise PayloadError(PayloadType.SA, f"proposal {prop.number} out of range")
    tbytes = bytearray()
    for j, t in enumerate(prop.transforms):
        attrs = b""
        if t.key_length is not None:
            attrs = struct.pack("!HH", ATTR_AF_TV | TransformAttr.KEY_LENGTH, t.key_length)
        flag = _LAST if j == len(prop.transforms) - 1 else _MORE_TRANSFORMS
        tbytes += struct.pack("!BBHBBH", flag, 0, 8 + len(attrs), t.type, 0, t.id) + attrs
    length = 8 + len(prop.spi) + len(tbytes)
    head = struct.pack(
        "!BBHBBBB",
        _LAST if last else _MORE_PROPOSALS,
        0,
        length,
        prop.number,
        prop.protocol,
        len(prop.spi),
        len(prop.transforms),
    )
    return head + prop.spi + bytes(tbytes)


def _decode_proposal(r: _Reader) -> tuple[Proposal, list[IgnoredTransform]]:
    """Decode one proposal after its first 4 octets (flag, reserved, length)."""
    number = r.u8("proposal number")
    if number == 0:
        raise r.fail("proposal number 0")
    proto_raw = r.u8("protocol id")
    try:
        protocol = ProtocolId(proto_raw)
    except ValueError:
        raise r.fail(f"proposal {number}: unknown protocol id {proto_raw}") from None
    spi_size = r.u8("SPI size")
    if spi_size not in _SPI_SIZES[protocol]:
        raise r.fail(f"proposal {number}: SPI size {spi_size} invalid for {protocol.name}")
    count = r.u8("number of transforms")
    spi = r.take(spi_size, "SPI")
    transforms: list[Transform] = []
    ignored: list[IgnoredTransform] = []
    last = _MORE_TRANSFORMS
    seen = 0
    while last != _LAST:
        if r.remaining == 0:
            raise r.fail(f"proposal {number}: transform list ends without a last transform")
        last = r.u8("transform header")
        if last not in (_LAST, _MORE_TRANSFORMS):
            raise r.fail(f"transform Last Substruc {last}, expected 0 or 3")
        r.take(1, "transform header")
        tlen = r.u16("transform length")
        if tlen < 8:
            raise r.fail(f"transform length {tlen} < 8")
        t = _Reader(PayloadType.SA, r.take(tlen - 4, "transform"))
        ttype = _enum(TransformType, t.u8("transform type"))
        t.take(1, "transform reserved")
        tid = t.u16("transform id")
        attrs = t.rest()
        seen += 1
        key_length, unknown = _decode_attributes(t, attrs)
        if unknown:
            ignored.append(IgnoredTransform(number, ttype, tid, attrs))
        else:
            transforms.append(Transform(ttype, tid, key_length))  # type: ignore[arg-type]
    if r.remaining:
        raise r.fail(f"proposal {number}: {r.remaining} octets after the last transform")
    if seen != count:
        raise r.fail(f"proposal {number}: says {count} transforms, has {seen}")
    return Proposal(number, protocol, spi, tuple(transforms)), ignored


def _decode_attributes(r: _Reader, attrs: bytes) -> tuple[int | None, bool]:
    """(KEY_LENGTH or None, whether an unknown attribute was present).

    RFC 7296 §3.3.5: KEY_LENGTH is TV format (AF=1); a TLV KEY_LENGTH or a
    repeated one is malformed. Other attribute types are not defined for IKEv2.
    """
    a = _Reader(r.ptype, attrs)
    key_length: int | None = None
    unknown = False
    while a.remaining:
        head = a.u16("attribute type")
        atype = head & ~ATTR_AF_TV
        if head & ATTR_AF_TV:
            value = a.u16("attribute value")
        else:
            alen = a.u16("attribute length")
            a.take(alen, "attribute value")
            value = None
        if atype == TransformAttr.KEY_LENGTH:
            if value is None:
                raise a.fail("KEY_LENGTH attribute must be TV format")
            if key_length is not None:
                raise a.fail("repeated KEY_LENGTH attribute")
            key_length = value
        else:
            unknown = True
    return key_length, unknown


# --------------------------------------------------------------------------- KE (§3.4)


@dataclass(frozen=True, slots=True)
class KePayload(Payload):
    """Key Exchange payload: the group (transform type 4 id) and the public value."""

    TYPE: ClassVar[int] = PayloadType.KE
    group: int
    data: bytes

    def encode(self) -> bytes:
        return struct.pack("!HH", self.group, 0) + self.data

    @classmethod
    def decode(cls, body: bytes, *, critical: bool = False) -> Self:
        r = _Reader(PayloadType.KE, body)
        group = r.u16("group")
        r.take(2, "reserved")
        return cls(_enum(KeId, group), r.rest(), critical=critical)


# --------------------------------------------------------------------------- ID (§3.5)

#: Libreswan's names for ID types (its enum, e.g. ID_USER_FQDN for RFC822).
_LIBRESWAN_ID_NAMES = {
    IdType.ID_IPV4_ADDR: "ID_IPV4_ADDR",
    IdType.ID_FQDN: "ID_FQDN",
    IdType.ID_RFC822_ADDR: "ID_USER_FQDN",
    IdType.ID_IPV6_ADDR: "ID_IPV6_ADDR",
    IdType.ID_DER_ASN1_DN: "ID_DER_ASN1_DN",
    IdType.ID_DER_ASN1_GN: "ID_DER_ASN1_GN",
    IdType.ID_KEY_ID: "ID_KEY_ID",
    IdType.ID_FC_NAME: "ID_FC_NAME",
    IdType.ID_NULL: "ID_NULL",
}

_ADDR_LEN = {IdType.ID_IPV4_ADDR: 4, IdType.ID_IPV6_ADDR: 16}


@dataclass(frozen=True, slots=True)
class Identity:
    """An IKE identity: ID Type and Identification Data (RFC 7296 §3.5).

    `from_libreswan` reads `leftid=`/`rightid=` syntax; `str()` prints it back
    the way Libreswan does (`@east`, `192.1.2.23`, `C=CA, O=..., CN=...`) and
    `describe()` adds the type: `ID_FQDN '@east'`.
    """

    id_type: int
    data: bytes

    @classmethod
    def from_libreswan(cls, text: str) -> Identity:
        """Parse Libreswan id syntax; raises ValueError for bad input.

        `%null` -> ID_NULL; anything with `=` -> ID_DER_ASN1_DN (optional
        leading `@`); `@#hex` -> ID_KEY_ID; `@[text]` -> ID_KEY_ID (text);
        `@name` -> ID_FQDN; an address -> ID_IPV4/6_ADDR; `user@host` ->
        ID_RFC822_ADDR (Libreswan's ID_USER_FQDN).
        """
        if text == "%null":
            return cls(IdType.ID_NULL, b"")
        if "=" in text:
            return cls(IdType.ID_DER_ASN1_DN, dn_to_der(text[1:] if text[:1] == "@" else text))
        if "@" not in text:
            addr = ipaddress.ip_address(text)
            kind = IdType.ID_IPV4_ADDR if addr.version == 4 else IdType.ID_IPV6_ADDR
            return cls(kind, addr.packed)
        if text.startswith("@#"):
            hexpart = text[2:]
            if hexpart[:2].lower() == "0x":
                hexpart = hexpart[2:]
            return cls(IdType.ID_KEY_ID, bytes.fromhex(hexpart))
        if text.startswith("@["):
            inner = text[2:-1] if text.endswith("]") else text[2:]
            return cls(IdType.ID_KEY_ID, inner.encode())
        if text.startswith("@"):
            return cls(IdType.ID_FQDN, text[1:].encode())
        return cls(IdType.ID_RFC822_ADDR, text.encode())

    def __str__(self) -> str:
        t, d = self.id_type, self.data
        if t in _ADDR_LEN and len(d) == _ADDR_LEN[t]:
            addr = ipaddress.ip_address(d)
            return "%any" if addr.is_unspecified else str(addr)
        if t == IdType.ID_FQDN:
            return "@" + _printable(d)
        if t == IdType.ID_RFC822_ADDR:
            return _printable(d)
        if t == IdType.ID_DER_ASN1_DN:
            try:
                return der_to_dn(d)
            except ValueError:
                return "@~" + d.hex()
        if t == IdType.ID_KEY_ID:
            return "@#0x" + d.hex()
        if t == IdType.ID_NULL:
            return "ID_NULL"
        return f"unknown id kind {t}"

    @property
    def type_name(self) -> str:
        return _LIBRESWAN_ID_NAMES.get(self.id_type, str(self.id_type))  # type: ignore[call-overload]

    def describe(self) -> str:
        """Libreswan's log form: `ID_FQDN '@east'`."""
        return f"{self.type_name} '{self}'"

    def validate(self, ptype: int = PayloadType.IDi) -> None:
        """Raise PayloadError when the data cannot be of this ID type."""
        t = self.id_type
        if t in _ADDR_LEN and len(self.data) != _ADDR_LEN[t]:
            raise PayloadError(ptype, f"{name_of(IdType, t)} with {len(self.data)} octets")
        # ID_NULL with data is kept: RFC 7619 §3 has the sender leave it empty
        # and the receiver ignore the contents.


def _printable(data: bytes) -> str:
    """Bytes as Libreswan's jam_sanitized: printable ASCII kept, the rest as \\ooo."""
    return "".join(chr(b) if 0x20 <= b < 0x7F and b != 0x5C else f"\\{b:03o}" for b in data)


#: Attribute short names Libreswan uses when printing and parsing DNs.
_DN_NAMES: dict[str, str] = {
    "2.5.4.6": "C",
    "2.5.4.8": "ST",
    "2.5.4.7": "L",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.3": "CN",
    "2.5.4.5": "SN",
    "2.5.4.12": "T",
    "2.5.4.42": "GN",
    "2.5.4.4": "S",
    "2.5.4.43": "I",
    "2.5.4.9": "STREET",
    "2.5.4.17": "PC",
    "0.9.2342.19200300.100.1.25": "DC",
    "0.9.2342.19200300.100.1.1": "UID",
    "1.2.840.113549.1.9.1": "E",
}
_DN_OIDS = {v: k for k, v in _DN_NAMES.items()} | {
    "EMAIL": "1.2.840.113549.1.9.1",
    "EMAILADDRESS": "1.2.840.113549.1.9.1",
    "SERIALNUMBER": "2.5.4.5",
    "SURNAME": "2.5.4.4",
    "GIVENNAME": "2.5.4.42",
}


def _split_dn(text: str) -> list[str]:
    """Split `C=CA, O=x\\, y` (or `/C=CA/O=x`) into RDN strings, honouring `\\` escapes."""
    sep = "/" if text.startswith("/") else ","
    if sep == "/":
        text = text[1:]
    parts, cur, esc = [], [], False
    for ch in text:
        if esc:
            cur.append(ch)
            esc = False
        elif ch == "\\":
            esc = True
        elif ch == sep:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def dn_to_der(text: str) -> bytes:
    """Encode a Libreswan/LDAP-style DN (`C=CA, O=Libreswan, CN=east`) as DER.

    The RDNs keep the order written (Libreswan's atodn), first RDN outermost.
    """
    from cryptography import x509
    from cryptography.x509.oid import NameOID, ObjectIdentifier

    rdns = []
    for part in _split_dn(text):
        key, eq, value = part.partition("=")
        if not eq:
            raise ValueError(f"DN component {part!r} has no '='")
        key = key.strip()
        oid = _DN_OIDS.get(key.upper()) or (key if key[:1].isdigit() else None)
        if oid is None:
            raise ValueError(f"unknown DN attribute {key!r}")
        obj = ObjectIdentifier(oid)
        value = value.strip()
        if obj in (NameOID.COUNTRY_NAME,) and len(value) != 2:
            raise ValueError(f"country name {value!r} must be 2 letters")
        rdns.append(x509.RelativeDistinguishedName([x509.NameAttribute(obj, value)]))
    if not rdns:
        raise ValueError("empty DN")
    return x509.Name(rdns).public_bytes()


def der_to_dn(der: bytes) -> str:
    """Print a DER Name Libreswan-style: RDNs in wire order, `, ` separated.

    `cryptography` has no public Name-from-DER call, and IDs need only the
    Name's shape (SEQUENCE OF SET OF SEQUENCE {OID, string}), so it is read
    here. Raises ValueError on anything that is not such a Name.
    """
    r = _Der(der)
    seq = r.expect(0x30)
    if r.pos != len(der):
        raise ValueError("trailing octets after DN")
    out = []
    s = _Der(seq)
    while s.pos < len(seq):
        rdn = _Der(s.expect(0x31))
        avas = []
        while rdn.pos < len(rdn.data):
            av = _Der(rdn.expect(0x30))
            oid = _decode_oid(av.expect(0x06))
            tag, value = av.any()
            if tag == 0x1E:
                text = value.decode("utf-16-be", "replace")
            elif tag in (0x0C, 0x13, 0x16, 0x14, 0x1C):
                text = value.decode("utf-8", "replace")
            else:
                text = "#" + value.hex()
            text = text.replace("\\", "\\\\").replace(",", "\\,")
            avas.append(f"{_DN_NAMES.get(oid, oid)}={text}")
        if not avas:
            raise ValueError("empty RDN")
        out.append(" + ".join(avas))
    return ", ".join(out)


def _decode_oid(b: bytes) -> str:
    if not b:
        raise ValueError("empty OID")
    first = b[0]
    arcs = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    v = 0
    for byte in b[1:]:
        v = (v << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(v)
            v = 0
    if b[-1] & 0x80:
        raise ValueError("truncated OID")
    return ".".join(map(str, arcs))


class _Der:
    """Just enough DER TLV reading for Names."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def any(self) -> tuple[int, bytes]:
        d = self.data
        if self.pos + 2 > len(d):
            raise ValueError("truncated DER")
        tag, n = d[self.pos], d[self.pos + 1]
        self.pos += 2
        if n & 0x80:
            k = n & 0x7F
            if k == 0 or k > 4 or self.pos + k > len(d):
                raise ValueError("bad DER length")
            n = int.from_bytes(d[self.pos : self.pos + k], "big")
            self.pos += k
        if self.pos + n > len(d):
            raise ValueError("truncated DER value")
        v = d[self.pos : self.pos + n]
        self.pos += n
        return tag, v

    def expect(self, tag: int) -> bytes:
        t, v = self.any()
        if t != tag:
            raise ValueError(f"DER tag {t:#x}, expected {tag:#x}")
        return v


@dataclass(frozen=True, slots=True)
class _IdPayload(Payload):
    identity: Identity

    def encode(self) -> bytes:
        return struct.pack("!B3x", self.identity.id_type) + self.identity.data

    @classmethod
    def decode(cls, body: bytes, *, critical: bool = False) -> Self:
        r = _Reader(cls.TYPE, body)
        id_type = _enum(IdType, r.u8("ID type"))
        r.take(3, "reserved")
        ident = Identity(id_type, r.rest())
        ident.validate(cls.TYPE)
        return cls(ident, critical=critical)


@dataclass(frozen=True, slots=True)
class IdiPayload(_IdPayload):
    """Identification - Initiator (RFC 7296 §3.5)."""

    TYPE: ClassVar[int] = PayloadType.IDi


@dataclass(frozen=True, slots=True)
class IdrPayload(_IdPayload):
    """Identification - Responder (RFC 7296 §3.5)."""

    TYPE: ClassVar[int] = PayloadType.IDr


# --------------------------------------------------------------------- CERT/CERTREQ/AUTH


@dataclass(frozen=True, slots=True)
class _EncodedData(Payload):
    """CERT and CERTREQ share one shape: an encoding octet and opaque data."""

    encoding: int
    data: bytes

    def encode(self) -> bytes:
        return bytes([self.encoding]) + self.data

    @classmethod
    def decode(cls, body: bytes, *, critical: bool = False) -> Self:
        r = _Reader(cls.TYPE, body)
        enc = _enum(CertEncoding, r.u8("certificate encoding"))
        return cls(enc, r.rest(), critical=critical)


@dataclass(frozen=True, slots=True)
class CertPayload(_EncodedData):
    """Certificate payload (RFC 7296 §3.6): encoding and opaque data."""

    TYPE: ClassVar[int] = PayloadType.CERT


@dataclass(frozen=True, slots=True)
class CertReqPayload(_EncodedData):
    """Certificate Request (RFC 7296 §3.7): for X.509, concatenated SHA-1 CA key hashes."""

    TYPE: ClassVar[int] = PayloadType.CERTREQ


@dataclass(frozen=True, slots=True)
class AuthPayload(Payload):
    """Authentication payload (RFC 7296 §3.8): method and authentication data."""

    TYPE: ClassVar[int] = PayloadType.AUTH
    method: int
    data: bytes

    def encode(self) -> bytes:
        return struct.pack("!B3x", self.method) + self.data

    @classmethod
    def decode(cls, body: bytes, *, critical: bool = False) -> Self:
        r = _Reader(cls.TYPE, body)
        method = _enum(AuthMethod, r.u8("auth method"))
        r.take(3, "reserved")
        return cls(method, r.rest(), critical=critical)


# --------------------------------------------------------------------------- Nonce


@dataclass(frozen=True, slots=True)
class NoncePayload(Payload):
    """Nonce payload, Ni or Nr (RFC 7296 §3.9): 16..256 octets of random data."""

    TYPE: ClassVar[int] = PayloadType.NONCE
    data: bytes

    def encode(self) -> bytes:
        return self.data

    @classmethod
    def decode(cls, body: bytes, *, critical: bool = False) -> Self:
        if not NONCE_MIN <= len(body) <= NONCE_MAX:
            raise PayloadError(cls.TYPE, f"nonce of {len(body)} octets, not {NONCE_MIN}..{NONCE_MAX}")
        return cls(body, critical=critical)


# --------------------------------------------------------------------------- Notify


@dataclass(frozen=True, slots=True)
class NotifyPayload(Payload):
    """Notify payload (RFC 7296 §3.10).

    `protocol` is 0 when the notify concerns the IKE SA and has no SPI
    (RFC 7296 §3.10: "this field MUST be sent as zero and MUST be ignored on
    receipt" for IKE SA notifies with SPI Size 0). Data stays raw: its meaning
    (NAT detection hashes, cookies, ...) is the engine's business.
    """

    TYPE: ClassVar[int] = PayloadType.N
    notify_type: int
    data: bytes = b""
    protocol: int = 0
    spi: bytes = b""

    def encode(self) -> bytes:
        return struct.pack("!BBH", self.protocol, len(self.spi), self.notify_type) + self.spi + self.data

    @classmethod
    def decode(cls, body: bytes, *, critical: bool = False) -> Self:
        r = _Reader(cls.TYPE, body)
        protocol = _enum(ProtocolId, r.u8("protocol id"))
        spi_size = r.u8("SPI size")
        ntype = _enum(NotifyType, r.u16("notify type"))
        spi = r.take(spi_size, "SPI")
        return cls(ntype, r.rest(), protocol, spi, critical=critical)

    @property
    def name(self) -> str:
        return name_of(NotifyType, self.notify_type)


# --------------------------------------------------------------------------- Delete


@dataclass(frozen=True, slots=True)
class DeletePayload(Payload):
    """Delete payload (RFC 7296 §3.11): IKE (no SPIs) or ESP/AH with 4-octet SPIs."""

    TYPE: ClassVar[int] = PayloadType.D
    protocol: int
    spis: tuple[bytes, ...] = ()

    @property
    def spi_size(self) -> int:
        """0 for IKE (the SA is the one the message travels on), 4 for ESP/AH."""
        return 0 if self.protocol == ProtocolId.IKE else 4

    def encode(self) -> bytes:
        size = self.spi_size
        if any(len(s) != size for s in self.spis) or len(self.spis) > 0xFFFF:
            raise PayloadError(self.TYPE, f"SPIs must be {size} octets for this protocol")
        return struct.pack("!BBH", self.protocol, size, len(self.spis)) + b"".join(self.spis)

    @classmethod
    def decode(cls, body: bytes, *, critical: bool = False) -> Self:
        r = _Reader(cls.TYPE, body)
        protocol = _enum(ProtocolId, r.u8("protocol id"))
        size = r.u8("SPI size")
        count = r.u16("number of SPIs")
        if protocol == ProtocolId.IKE:
            # §3.11: "For IKE SA, the SPI Size MUST be zero" and Num of SPIs zero.
            if size != 0 or count != 0:
                raise r.fail(f"IKE delete with SPI size {size} and {count} SPIs")
        elif protocol in (ProtocolId.ESP, ProtocolId.AH):
            if size != 4:
                raise r.fail(f"{name_of(ProtocolId, protocol)} delete with SPI size {size}")
        else:
            raise r.fail(f"unknown protocol id {protocol}")
        if r.remaining != size * count:
            raise r.fail(f"{count} SPIs of {size} octets but {r.remaining} octets follow")
        spis = tuple(r.take(size, "SPI") for _ in range(count))
        return cls(protocol, spis, critical=critical)


# --------------------------------------------------------------------------- Vendor ID


@dataclass(frozen=True, slots=True)
class VendorIdPayload(Payload):
    """Vendor ID payload (RFC 7296 §3.12): opaque data."""

    TYPE: ClassVar[int] = PayloadType.V
    data: bytes

    def encode(self) -> bytes:
        return self.data

    @classmethod
    def decode(cls, body: bytes, *, critical: bool = False) -> Self:
        return cls(body, critical=critical)


# --------------------------------------------------------------------------- TS (§3.13)

_TS_ADDR_LEN = {TsType.TS_IPV4_ADDR_RANGE: 4, TsType.TS_IPV6_ADDR_RANGE: 16}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class TrafficSelector:
    """An address range traffic selector (TS_IPV4_ADDR_RANGE / TS_IPV6_ADDR_RANGE).

    `ip_protocol` 0 means any; ports 0..65535 mean any (RFC 7296 §3.13.1).
    """

    start: IPAddress
    end: IPAddress
    ip_protocol: int = 0
    start_port: int = 0
    end_port: int = 65535

    @property
    def ts_type(self) -> TsType:
        return TsType.TS_IPV4_ADDR_RANGE if self.start.version == 4 else TsType.TS_IPV6_ADDR_RANGE

    def encode(self) -> bytes:
        if self.start.version != self.end.version:
            raise PayloadError(PayloadType.TSi, "TS start and end of different families")
        return (
            struct.pack(
                "!BBHHH",
                self.ts_type,
                self.ip_protocol,
                8 + 2 * len(self.start.packed),
                self.start_port,
                self.end_port,
            )
            + self.start.packed
            + self.end.packed
        )


@dataclass(frozen=True, slots=True)
class RawTrafficSelector:
    """Any other selector type (TS_SECLABEL, TS_FC_ADDR_RANGE, unknown), body kept raw.

    `data` is everything after the 4-octet TS Type/IP Protocol/Length header;
    for TS_SECLABEL (RFC 9478) the second octet is reserved and kept in `second`.
    """

    ts_type: int
    data: bytes
    second: int = 0

    def encode(self) -> bytes:
        return struct.pack("!BBH", self.ts_type, self.second, 4 + len(self.data)) + self.data


AnyTrafficSelector = TrafficSelector | RawTrafficSelector


@dataclass(frozen=True, slots=True)
class _TsPayload(Payload):
    selectors: tuple[AnyTrafficSelector, ...]

    def encode(self) -> bytes:
        if len(self.selectors) > 255:
            raise PayloadError(self.TYPE, "more than 255 traffic selectors")
        return struct.pack("!B3x", len(self.selectors)) + b"".join(
            s.encode() for s in self.selectors
        )

    @classmethod
    def decode(cls, body: bytes, *, critical: bool = False) -> Self:
        r = _Reader(cls.TYPE, body)
        count = r.u8("number of TSs")
        r.take(3, "reserved")
        out: list[AnyTrafficSelector] = []
        for _ in range(count):
            ts_type = r.u8("TS type")
            proto = r.u8("IP protocol")
            slen = r.u16("selector length")
            if slen < 4:
                raise r.fail(f"selector length {slen} < 4")
            sel = r.take(slen - 4, "selector")
            alen = _TS_ADDR_LEN.get(ts_type)  # type: ignore[call-overload]
            if alen is None:
                out.append(RawTrafficSelector(_enum(TsType, ts_type), sel, proto))
                continue
            if slen != 8 + 2 * alen:
                raise r.fail(f"{name_of(TsType, ts_type)} selector length {slen}, expected {8 + 2 * alen}")
            sport, eport = struct.unpack_from("!HH", sel)
            start = ipaddress.ip_address(sel[4 : 4 + alen])
            end = ipaddress.ip_address(sel[4 + alen :])
            out.append(TrafficSelector(start, end, proto, sport, eport))
        if r.remaining:
            raise r.fail(f"{r.remaining} octets after {count} traffic selectors")
        return cls(tuple(out), critical=critical)


@dataclass(frozen=True, slots=True)
class TsiPayload(_TsPayload):
    """Traffic Selector - Initiator (RFC 7296 §3.13)."""

    TYPE: ClassVar[int] = PayloadType.TSi


@dataclass(frozen=True, slots=True)
class TsrPayload(_TsPayload):
    """Traffic Selector - Responder (RFC 7296 §3.13)."""

    TYPE: ClassVar[int] = PayloadType.TSr


# --------------------------------------------------------------------------- CP (§3.15)


@dataclass(frozen=True, slots=True)
class CfgAttribute:
    """One configuration attribute: type (15 bits) and value (possibly empty = a request)."""

    type: int
    value: bytes = b""

    def encode(self) -> bytes:
        if not 0 <= self.type < 0x8000 or len(self.value) > 0xFFFF:
            raise PayloadError(PayloadType.CP, f"attribute {self.type} out of range")
        return struct.pack("!HH", self.type, len(self.value)) + self.value


@dataclass(frozen=True, slots=True)
class CpPayload(Payload):
    """Configuration payload (RFC 7296 §3.15): CFG_REQUEST/REPLY/SET/ACK + attributes."""

    TYPE: ClassVar[int] = PayloadType.CP
    cfg_type: int
    attributes: tuple[CfgAttribute, ...] = ()

    def encode(self) -> bytes:
        return struct.pack("!B3x", self.cfg_type) + b"".join(a.encode() for a in self.attributes)

    @classmethod
    def decode(cls, body: bytes, *, critical: bool = False) -> Self:
        r = _Reader(cls.TYPE, body)
        cfg_type = _enum(CfgType, r.u8("CFG type"))
        r.take(3, "reserved")
        attrs = []
        while r.remaining:
            # §3.15.1: the top bit is Reserved and "MUST be ignored on receipt".
            atype = r.u16("attribute type") & 0x7FFF
            alen = r.u16("attribute length")
            attrs.append(CfgAttribute(_enum(CfgAttr, atype), r.take(alen, "attribute value")))
        return cls(cfg_type, tuple(attrs), critical=critical)


# --------------------------------------------------------------------------- EAP / SK / SKF


@dataclass(frozen=True, slots=True)
class EapPayload(Payload):
    """EAP payload (RFC 7296 §3.16): the EAP message, passed through raw."""

    TYPE: ClassVar[int] = PayloadType.EAP
    data: bytes

    def encode(self) -> bytes:
        return self.data

    @classmethod
    def decode(cls, body: bytes, *, critical: bool = False) -> Self:
        return cls(body, critical=critical)


@dataclass(frozen=True, slots=True)
class EncryptedPayload(Payload):
    """Encrypted and Authenticated payload SK (RFC 7296 §3.14), still sealed.

    `first_inner` is the type of the first embedded payload: RFC 7296 puts it
    in the SK payload's own Next Payload field. `data` is IV || ciphertext ||
    ICV; `sk.SkCrypto.open` turns it into inner payloads.
    """

    TYPE: ClassVar[int] = PayloadType.SK
    first_inner: int
    data: bytes

    def encode(self) -> bytes:
        return self.data

    @classmethod
    def decode(cls, body: bytes, *, critical: bool = False, first_inner: int = 0) -> Self:
        return cls(first_inner, body, critical=critical)


@dataclass(frozen=True, slots=True)
class EncryptedFragmentPayload(Payload):
    """Encrypted Fragment payload SKF (RFC 7383 §2.5).

    `first_inner` is meaningful only in fragment 1 (RFC 7383: "MUST be set to
    zero" in the others). `data` is IV || ciphertext || ICV of this fragment.
    """

    TYPE: ClassVar[int] = PayloadType.SKF
    first_inner: int
    number: int
    total: int
    data: bytes

    def encode(self) -> bytes:
        return struct.pack("!HH", self.number, self.total) + self.data

    @classmethod
    def decode(cls, body: bytes, *, critical: bool = False, first_inner: int = 0) -> Self:
        r = _Reader(cls.TYPE, body)
        number = r.u16("fragment number")
        total = r.u16("total fragments")
        # RFC 7383 §2.5: numbers start from 1 and cannot exceed Total Fragments.
        if number == 0 or total == 0 or number > total:
            raise r.fail(f"fragment {number} of {total}")
        return cls(first_inner, number, total, r.rest(), critical=critical)


# --------------------------------------------------------------------------- unknown


@dataclass(frozen=True, slots=True)
class UnknownPayload(Payload):
    """A payload type we do not implement (non-critical ones are skipped but kept)."""

    type_code: int
    data: bytes

    @property
    def type(self) -> int:
        return self.type_code

    def encode(self) -> bytes:
        return self.data

    @classmethod
    def decode(cls, body: bytes, *, critical: bool = False, type_code: int = 0) -> Self:
        return cls(type_code, body, critical=critical)


PAYLOAD_CLASSES: dict[int, type[Payload]] = {
    c.TYPE: c
    for c in (
        SaPayload,
        KePayload,
        IdiPayload,
        IdrPayload,
        CertPayload,
        CertReqPayload,
        AuthPayload,
        NoncePayload,
        NotifyPayload,
        DeletePayload,
        VendorIdPayload,
        TsiPayload,
        TsrPayload,
        EncryptedPayload,
        CpPayload,
        EapPayload,
        EncryptedFragmentPayload,
    )
}


def decode_payload(ptype: int, body: bytes, *, critical: bool = False, next_type: int = 0) -> Payload:
    """Decode one body by type; unknown types become UnknownPayload.

    `next_type` is the payload's own Next Payload field, which SK and SKF use
    for the first embedded payload's type.
    """
    cls = PAYLOAD_CLASSES.get(ptype)
    if cls is None:
        return UnknownPayload(ptype, body, critical=critical)
    if cls in (EncryptedPayload, EncryptedFragmentPayload):
        return cls.decode(body, critical=critical, first_inner=next_type)  # type: ignore[call-arg]
    return cls.decode(body, critical=critical)
