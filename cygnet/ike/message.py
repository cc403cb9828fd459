"""IKEv2 messages on the wire: the IKE header and the payload chain (RFC 7296 §3.1, §3.2).

`Message.decode(datagram)` checks every length before trusting it and turns
every malformation into a `MessageError` whose `notify` says what RFC 7296
lets a responder answer (None: drop silently). `Message.encode()` is its
exact inverse for well-formed messages. Payload bodies live in `payloads`;
sealing and opening the Encrypted payload lives in `sk`.

Printing follows Libreswan's logs: `payload_summary` gives
`SK{IDi,N(INITIAL_CONTACT),IDr,AUTH,SA,TSi,TSr}`, `SA,KE,Ni,N(...)`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from cygnet.ike.errors import IkeError
from cygnet.ike.iana import (
    IKE_VERSION_2,
    ExchangeType,
    HeaderFlag,
    NotifyType,
    PayloadType,
    name_of,
)
from cygnet.ike.payloads import (
    EncryptedFragmentPayload,
    EncryptedPayload,
    NotifyPayload,
    Payload,
    PayloadError,
    UnknownPayload,
    decode_payload,
)

__all__ = [
    "HEADER_LEN",
    "GENERIC_HEADER_LEN",
    "MessageError",
    "TruncatedHeader",
    "InvalidMajorVersion",
    "InvalidSyntax",
    "InvalidLength",
    "MalformedPayload",
    "UnsupportedCriticalPayload",
    "Header",
    "Message",
    "peek_header",
    "encode_header",
    "encode_chain",
    "decode_chain",
    "payload_name",
    "payload_names",
    "payload_summary",
]

#: RFC 7296 §3.1: the IKE header is 28 octets.
HEADER_LEN = 28
#: RFC 7296 §3.2: every payload starts with a 4-octet generic payload header.
GENERIC_HEADER_LEN = 4
_CRITICAL = 0x80
_KNOWN_FLAGS = HeaderFlag.INITIATOR | HeaderFlag.VERSION | HeaderFlag.RESPONSE
_HEADER = struct.Struct("!8s8sBBBBII")


# --------------------------------------------------------------------------- errors


class MessageError(IkeError, ValueError):
    """A datagram that is not a well-formed IKEv2 message.

    `notify` is what to answer with (RFC 7296 §2.21, §3.10.1), None to drop.
    `header` is the decoded IKE header when the failure came after it, so the
    engine can address a reply (SPIs, Message ID, exchange).
    """

    notify: NotifyType | None = NotifyType.INVALID_SYNTAX

    def __init__(self, reason: str, header: Header | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.header = header


class TruncatedHeader(MessageError):
    """Shorter than an IKE header: nothing to answer to (no SPIs), so drop."""

    notify = None


class InvalidMajorVersion(MessageError):
    """Major version is not 2. RFC 7296 §2.5: answer INVALID_MAJOR_VERSION
    (carrying the highest version we support) for versions above ours."""

    notify = NotifyType.INVALID_MAJOR_VERSION

    def __init__(self, reason: str, header: Header | None = None, major: int = 0) -> None:
        super().__init__(reason, header)
        self.major = major


class InvalidSyntax(MessageError):
    """Any structural error inside the message (RFC 7296 §3.10.1 INVALID_SYNTAX)."""

    notify = NotifyType.INVALID_SYNTAX


class InvalidLength(InvalidSyntax):
    """The header's Length does not equal the datagram's length."""


class MalformedPayload(InvalidSyntax):
    """A payload body failed to decode; `payload_type` names it, `__cause__` is the PayloadError."""

    def __init__(self, reason: str, header: Header | None = None, payload_type: int = 0) -> None:
        super().__init__(reason, header)
        self.payload_type = payload_type


class UnsupportedCriticalPayload(MessageError):
    """An unrecognized payload type with the critical bit set (RFC 7296 §2.5).

    The answer is UNSUPPORTED_CRITICAL_PAYLOAD whose Notification Data is the
    one-octet `payload_type` (§3.10.1).
    """

    notify = NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD

    def __init__(self, payload_type: int, header: Header | None = None) -> None:
        super().__init__(f"unsupported critical payload type {payload_type}", header)
        self.payload_type = payload_type

    @property
    def notify_data(self) -> bytes:
        return bytes([self.payload_type & 0xFF])


# --------------------------------------------------------------------------- header


@dataclass(frozen=True, slots=True)
class Header:
    """The 28-octet IKE header as received (RFC 7296 §3.1)."""

    spi_i: bytes
    spi_r: bytes
    next_payload: int
    major_version: int
    minor_version: int
    exchange: int
    flags: HeaderFlag
    message_id: int
    length: int

    @property
    def is_response(self) -> bool:
        return bool(self.flags & HeaderFlag.RESPONSE)

    @property
    def from_initiator(self) -> bool:
        """I flag: the sender is the IKE SA's original initiator."""
        return bool(self.flags & HeaderFlag.INITIATOR)

    @property
    def exchange_name(self) -> str:
        return name_of(ExchangeType, self.exchange)


def peek_header(data: bytes) -> Header:
    """Read the IKE header without looking at payloads (the daemon's dispatch).

    Checks only that 28 octets are there; version and length are left to the
    caller (IKEv1 has the same header shape, with major version 1).
    """
    if len(data) < HEADER_LEN:
        raise TruncatedHeader(f"{len(data)} octets is shorter than the {HEADER_LEN}-octet IKE header")
    spi_i, spi_r, np, ver, exch, flags, mid, length = _HEADER.unpack_from(data)
    return Header(
        spi_i, spi_r, np, ver >> 4, ver & 0x0F, _enum(ExchangeType, exch),
        HeaderFlag(flags & _KNOWN_FLAGS), mid, length,
    )


def encode_header(
    spi_i: bytes,
    spi_r: bytes,
    next_payload: int,
    exchange: int,
    flags: int,
    message_id: int,
    length: int,
) -> bytes:
    """Pack an IKEv2 header (version 2.0)."""
    if len(spi_i) != 8 or len(spi_r) != 8:
        raise ValueError("IKE SPIs are 8 octets")
    return _HEADER.pack(spi_i, spi_r, next_payload, IKE_VERSION_2, exchange, flags, message_id, length)


def _enum(enum: type, value: int) -> int:
    try:
        return enum(value)
    except ValueError:
        return value


# --------------------------------------------------------------------------- chain


def _generic(next_payload: int, critical: bool, body_len: int) -> bytes:
    length = GENERIC_HEADER_LEN + body_len
    if length > 0xFFFF:
        raise ValueError(f"payload of {length} octets does not fit a 16-bit length")
    return struct.pack("!BBH", next_payload, _CRITICAL if critical else 0, length)


def encode_chain(payloads: Sequence[Payload]) -> tuple[int, bytes]:
    """Encode payloads with their generic headers: (first payload type, octets).

    The Encrypted (SK/SKF) payload must be last; its own Next Payload field
    carries `first_inner` (RFC 7296 §3.14).
    """
    out = bytearray()
    for i, p in enumerate(payloads):
        last = i == len(payloads) - 1
        if isinstance(p, EncryptedPayload | EncryptedFragmentPayload):
            if not last:
                raise ValueError("the Encrypted payload must be the last payload")
            nxt = p.first_inner
        else:
            nxt = 0 if last else payloads[i + 1].type
        body = p.encode()
        out += _generic(nxt, p.critical, len(body)) + body
    return (payloads[0].type if payloads else PayloadType.NONE), bytes(out)


def _walk(
    first: int, data: bytes, start: int, header: Header | None, *, inner: bool
) -> Iterator[tuple[int, bool, int, int, int]]:
    """Yield (type, critical, own next field, body start, body end) along the chain."""
    ptype = first
    pos = start
    end = len(data)
    where = "inside SK" if inner else "in message"
    while ptype != PayloadType.NONE:
        if end - pos < GENERIC_HEADER_LEN:
            raise InvalidSyntax(
                f"truncated generic header of {name_of(PayloadType, ptype)} payload {where} at offset {pos}",
                header,
            )
        nxt, flags, plen = struct.unpack_from("!BBH", data, pos)
        if plen < GENERIC_HEADER_LEN:
            raise InvalidSyntax(f"{name_of(PayloadType, ptype)} payload length {plen} < 4", header)
        if pos + plen > end:
            raise InvalidSyntax(
                f"{name_of(PayloadType, ptype)} payload length {plen} at offset {pos} runs past the end ({end})",
                header,
            )
        yield ptype, bool(flags & _CRITICAL), nxt, pos + GENERIC_HEADER_LEN, pos + plen
        pos += plen
        if ptype in (PayloadType.SK, PayloadType.SKF):
            # RFC 7296 §3.14 / RFC 7383 §2.5: "MUST be the last payload";
            # its Next Payload field names the first inner payload instead.
            if inner:
                raise InvalidSyntax(f"{name_of(PayloadType, ptype)} payload inside SK", header)
            if pos != end:
                raise InvalidSyntax(f"{name_of(PayloadType, ptype)} payload is not the last payload", header)
            return
        ptype = nxt
    if pos != end:
        raise InvalidSyntax(f"{end - pos} octets after the last payload {where}", header)


def decode_chain(
    first: int, data: bytes, start: int = 0, header: Header | None = None, *, inner: bool = False
) -> tuple[Payload, ...]:
    """Decode a payload chain starting at `data[start:]` whose first type is `first`.

    `inner=True` for the plaintext of SK: no SK/SKF may appear in it.
    """
    out: list[Payload] = []
    for ptype, critical, nxt, b0, b1 in _walk(first, data, start, header, inner=inner):
        body = data[b0:b1]
        try:
            p = decode_payload(ptype, body, critical=critical, next_type=nxt)
        except PayloadError as e:
            raise MalformedPayload(str(e), header, ptype) from e
        if isinstance(p, UnknownPayload) and critical:
            raise UnsupportedCriticalPayload(ptype, header)
        out.append(p)
    return tuple(out)


# --------------------------------------------------------------------------- message

P = TypeVar("P", bound=Payload)


@dataclass(frozen=True, slots=True)
class Message:
    """A whole IKEv2 message.

    `payloads` are the payloads as they sit in the datagram (an
    `EncryptedPayload` last when the message is protected). `inner` is None
    until `sk.SkCrypto.open` fills it with the decrypted payloads; `find*`
    search `inner` when present, since only those are authenticated.
    """

    spi_i: bytes
    spi_r: bytes
    exchange: int
    message_id: int
    payloads: tuple[Payload, ...] = ()
    flags: HeaderFlag = HeaderFlag(0)
    inner: tuple[Payload, ...] | None = None

    # ---- header flags

    @property
    def is_response(self) -> bool:
        return bool(self.flags & HeaderFlag.RESPONSE)

    @property
    def is_request(self) -> bool:
        return not self.is_response

    @property
    def from_initiator(self) -> bool:
        """I flag (RFC 7296 §3.1): set by the original initiator of the IKE SA."""
        return bool(self.flags & HeaderFlag.INITIATOR)

    @property
    def exchange_name(self) -> str:
        return name_of(ExchangeType, self.exchange)

    # ---- lookup

    @property
    def content(self) -> tuple[Payload, ...]:
        """The payloads that matter: decrypted ones if opened, else the clear ones."""
        return self.inner if self.inner is not None else self.payloads

    def find(self, kind: type[P]) -> P | None:
        """First payload of a class (e.g. `SaPayload`), or None."""
        for p in self.content:
            if isinstance(p, kind):
                return p
        return None

    def find_all(self, kind: type[P]) -> list[P]:
        return [p for p in self.content if isinstance(p, kind)]

    def notifies(self, ntype: int | None = None) -> list[NotifyPayload]:
        """Notify payloads, optionally only of one type."""
        return [
            p for p in self.content
            if isinstance(p, NotifyPayload) and (ntype is None or p.notify_type == ntype)
        ]

    def types(self) -> list[int]:
        return [p.type for p in self.content]

    # ---- wire

    def encode(self) -> bytes:
        """Header + payload chain, with the Length field computed."""
        first, body = encode_chain(self.payloads)
        length = HEADER_LEN + len(body)
        return encode_header(
            self.spi_i, self.spi_r, first, self.exchange, self.flags, self.message_id, length
        ) + body

    @classmethod
    def decode(cls, data: bytes) -> Message:
        """Parse and check a whole datagram (RFC 7296 §3.1-§3.2).

        Raises TruncatedHeader, InvalidMajorVersion, InvalidLength,
        InvalidSyntax/MalformedPayload, UnsupportedCriticalPayload.
        """
        data = bytes(data)
        h = peek_header(data)
        if h.major_version != 2:
            raise InvalidMajorVersion(
                f"IKE major version {h.major_version}, only 2 is supported", h, h.major_version
            )
        if h.length != len(data):
            raise InvalidLength(
                f"IKE header length {h.length} differs from the datagram's {len(data)} octets", h
            )
        payloads = decode_chain(h.next_payload, data, HEADER_LEN, h)
        return cls(h.spi_i, h.spi_r, h.exchange, h.message_id, payloads, h.flags)

    def header(self, length: int = 0) -> Header:
        first = self.payloads[0].type if self.payloads else PayloadType.NONE
        return Header(self.spi_i, self.spi_r, first, 2, 0, self.exchange, self.flags,
                      self.message_id, length)

    def with_inner(self, inner: Iterable[Payload]) -> Message:
        return replace(self, inner=tuple(inner))


# --------------------------------------------------------------------------- printing

#: Libreswan's short payload names (its ISAKMP_NEXT_v2* enum minus the prefix).
_NAMES = {
    PayloadType.SA: "SA",
    PayloadType.KE: "KE",
    PayloadType.IDi: "IDi",
    PayloadType.IDr: "IDr",
    PayloadType.CERT: "CERT",
    PayloadType.CERTREQ: "CERTREQ",
    PayloadType.AUTH: "AUTH",
    PayloadType.NONCE: "Ni",
    PayloadType.N: "N",
    PayloadType.D: "D",
    PayloadType.V: "V",
    PayloadType.TSi: "TSi",
    PayloadType.TSr: "TSr",
    PayloadType.SK: "SK",
    PayloadType.CP: "CP",
    PayloadType.EAP: "EAP",
    PayloadType.GSPM: "GSPM",
    PayloadType.IDg: "IDG",
    PayloadType.GSA: "GSA",
    PayloadType.KD: "KD",
    PayloadType.SKF: "SKF",
}


def payload_name(ptype: int, from_initiator: bool | None = None) -> str:
    """Libreswan's name for a payload type.

    The nonce is `Ni` from the original initiator and `Nr` from the responder;
    with `from_initiator=None` it is `Ni`, the name Libreswan's payload table
    (and so its "missing payloads: SA,KE,Ni" line) uses either way.
    """
    if ptype == PayloadType.NONCE and from_initiator is False:
        return "Nr"
    return _NAMES.get(ptype, str(ptype))  # type: ignore[call-overload]


def payload_names(types: Iterable[int], from_initiator: bool | None = None) -> str:
    """Comma-joined names: `SA,KE,Ni` (the "message payloads:"/"missing payloads:" lists)."""
    return ",".join(payload_name(t, from_initiator) for t in types)


def _summary(payloads: Iterable[Payload], from_initiator: bool | None, inner: tuple[Payload, ...] | None) -> str:
    parts = []
    for p in payloads:
        if isinstance(p, NotifyPayload):
            parts.append(f"N({p.name})")
        elif isinstance(p, EncryptedPayload) and inner is not None:
            parts.append("SK{" + _summary(inner, from_initiator, None) + "}")
        else:
            parts.append(payload_name(p.type, from_initiator))
    return ",".join(parts)


def payload_summary(msg: Message, from_initiator: bool | None = None) -> str:
    """Libreswan-style list: `SA,KE,Ni,N(NAT_DETECTION_SOURCE_IP)`, `SK{IDr,AUTH,SA,TSi,TSr}`.

    `from_initiator` picks Ni/Nr; by default it is the message's I flag.
    """
    if from_initiator is None:
        from_initiator = msg.from_initiator
    return _summary(msg.payloads, from_initiator, msg.inner)
