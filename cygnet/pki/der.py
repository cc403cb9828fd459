"""Just enough DER to read NSS's PBES2/PBMAC1 blobs.

NSS wraps every encrypted key attribute and every integrity MAC in a small
PKCS#5 structure; parsing those few shapes by hand avoids a dependency on an
ASN.1 library for a handful of SEQUENCEs, OCTET STRINGs and OIDs.
"""

from __future__ import annotations

from dataclasses import dataclass

SEQUENCE = 0x30
OCTET_STRING = 0x04
INTEGER = 0x02
OID = 0x06
NULL = 0x05


class DerError(ValueError):
    """Malformed or unexpected DER."""


@dataclass(frozen=True, slots=True)
class Tlv:
    """One DER element: its tag and its content octets."""

    tag: int
    value: bytes

    def children(self) -> list[Tlv]:
        """The elements inside a constructed value (a SEQUENCE)."""
        return parse_all(self.value)

    def expect(self, tag: int) -> Tlv:
        """Return self if it has `tag`, else raise: keeps the parsers terse."""
        if self.tag != tag:
            raise DerError(f"expected DER tag 0x{tag:02x}, got 0x{self.tag:02x}")
        return self

    def as_int(self) -> int:
        """An INTEGER's value (non-negative in everything NSS writes)."""
        return int.from_bytes(self.expect(INTEGER).value, "big", signed=True)

    def as_oid(self) -> str:
        """An OBJECT IDENTIFIER in dotted form."""
        return decode_oid(self.expect(OID).value)


def parse_one(data: bytes, offset: int = 0) -> tuple[Tlv, int]:
    """Parse the element at `offset`; return it and the offset just past it."""
    if offset + 2 > len(data):
        raise DerError("truncated DER header")
    tag = data[offset]
    length = data[offset + 1]
    offset += 2
    if length & 0x80:
        n = length & 0x7F
        if n == 0 or n > 4 or offset + n > len(data):
            raise DerError("bad DER length")
        length = int.from_bytes(data[offset:offset + n], "big")
        offset += n
    end = offset + length
    if end > len(data):
        raise DerError("DER value runs past its container")
    return Tlv(tag, bytes(data[offset:end])), end


def parse(data: bytes) -> Tlv:
    """Parse exactly one element that fills `data`."""
    tlv, end = parse_one(data)
    if end != len(data):
        raise DerError("trailing bytes after DER value")
    return tlv


def parse_all(data: bytes) -> list[Tlv]:
    """Parse a run of consecutive elements."""
    out: list[Tlv] = []
    offset = 0
    while offset < len(data):
        tlv, offset = parse_one(data, offset)
        out.append(tlv)
    return out


def decode_oid(body: bytes) -> str:
    """Dotted form of an OID's content octets."""
    if not body:
        raise DerError("empty OID")
    arcs: list[int] = []
    value = 0
    for byte in body:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = arcs[0]
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return ".".join(str(a) for a in head + arcs[1:])


def encode_length(n: int) -> bytes:
    """DER length octets."""
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def encode(tag: int, value: bytes) -> bytes:
    """One DER element."""
    return bytes([tag]) + encode_length(len(value)) + value


def encode_oid(dotted: str) -> bytes:
    """An OBJECT IDENTIFIER element from dotted form."""
    arcs = [int(a) for a in dotted.split(".")]
    body = bytearray()
    for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(reversed(chunk))
    return encode(OID, bytes(body))
