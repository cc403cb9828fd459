"""Raw public keys as ipsec.conf and DNS carry them.

`leftrsasigkey=0s...` is the RFC 3110 RSA blob in base64; `leftecdsakey=0s...`
is the bare EC point X||Y (the RFC 6605 DNSKEY form) that Libreswan 4.10
prints; IPSECKEY records use the same bytes with algorithm 2 (RSA) or 3
(ECDSA). The 9-character keyid Libreswan shows beside a key is the start of
the RSA blob's base64, or of the CKAID's base64 for ECDSA.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from cygnet.pki.ckaid import PublicKey, ckaid_of

#: IPSECKEY algorithm numbers (RFC 4025, RFC 8005 for ECDSA).
IPSECKEY_ALGORITHM_RSA = 2
IPSECKEY_ALGORITHM_ECDSA = 3

#: Raw X||Y length -> curve, for `leftecdsakey=0s...`.
_CURVES_BY_POINT_LEN: dict[int, ec.EllipticCurve] = {
    64: ec.SECP256R1(),
    96: ec.SECP384R1(),
    132: ec.SECP521R1(),
}

#: Smallest RSA modulus accepted from configuration; NSS refuses smaller ones too.
MIN_RSA_MODULUS_BITS = 1024

KeyKind = Literal["rsa", "ecdsa"]


class RawKeyError(ValueError):
    """A `0s`/`0x` key string that does not decode to a usable public key."""


def key_type_name(public_key: PublicKey) -> str:
    """'RSA' or 'ECDSA', the word `showhostkey --list` prints."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return "RSA"
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return "ECDSA"
    raise RawKeyError(f"unsupported key type {type(public_key).__name__}")


def rsa_to_rfc3110(public_key: rsa.RSAPublicKey) -> bytes:
    """RFC 3110: exponent length (1 or 3 octets), exponent, modulus."""
    nums = public_key.public_numbers()
    e = nums.e.to_bytes((nums.e.bit_length() + 7) // 8, "big")
    n = nums.n.to_bytes((nums.n.bit_length() + 7) // 8, "big")
    head = bytes([len(e)]) if len(e) < 256 else b"\x00" + len(e).to_bytes(2, "big")
    return head + e + n


def rsa_from_rfc3110(blob: bytes) -> rsa.RSAPublicKey:
    """Inverse of `rsa_to_rfc3110`, with the sanity checks a config parser needs."""
    if len(blob) < 3:
        raise RawKeyError("RSA public key blob is too short")
    if blob[0]:
        elen, off = blob[0], 1
    else:
        elen, off = int.from_bytes(blob[1:3], "big"), 3
    e = int.from_bytes(blob[off:off + elen], "big")
    mod = blob[off + elen:]
    if elen == 0 or off + elen >= len(blob) or e < 3 or e % 2 == 0:
        raise RawKeyError("RSA public key has a bad exponent")
    n = int.from_bytes(mod, "big")
    if n.bit_length() < MIN_RSA_MODULUS_BITS:
        raise RawKeyError(f"RSA modulus of {n.bit_length()} bits is too small")
    try:
        return rsa.RSAPublicNumbers(e, n).public_key()
    except ValueError as err:
        raise RawKeyError(f"bad RSA public key: {err}") from err


def ecdsa_point(public_key: ec.EllipticCurvePublicKey) -> bytes:
    """The bare X||Y Libreswan prints for `leftecdsakey=` (no 0x04 prefix)."""
    return public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )[1:]


def ecdsa_from_point(blob: bytes) -> ec.EllipticCurvePublicKey:
    """An EC key from X||Y (or 04||X||Y); the length picks the curve."""
    raw = blob[1:] if len(blob) - 1 in _CURVES_BY_POINT_LEN and blob[:1] == b"\x04" else blob
    curve = _CURVES_BY_POINT_LEN.get(len(raw))
    if curve is None:
        raise RawKeyError(f"ECDSA public key of {len(blob)} bytes matches no known curve")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(curve, b"\x04" + raw)
    except ValueError as err:
        raise RawKeyError("ECDSA public key is not a point on its curve") from err


def ipseckey_rdata(public_key: PublicKey) -> tuple[int, bytes]:
    """(IPSECKEY algorithm, public-key bytes) for DNS and for `0s` strings."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return IPSECKEY_ALGORITHM_RSA, rsa_to_rfc3110(public_key)
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return IPSECKEY_ALGORITHM_ECDSA, ecdsa_point(public_key)
    raise RawKeyError(f"unsupported key type {type(public_key).__name__}")


def pubkey_to_base64(public_key: PublicKey) -> str:
    """The base64 text after `0s` (and in IPSECKEY records)."""
    return base64.b64encode(ipseckey_rdata(public_key)[1]).decode("ascii")


def pubkey_to_0s(public_key: PublicKey) -> str:
    """`0s` + base64, the form `leftrsasigkey=`/`leftecdsakey=` take."""
    return "0s" + pubkey_to_base64(public_key)


def decode_0s(text: str) -> bytes:
    """Bytes of a Libreswan `0s` (base64) or `0x` (hex) datum."""
    t = "".join(text.split())
    prefix, body = t[:2].lower(), t[2:]
    try:
        if prefix == "0s":
            if not body:
                raise RawKeyError("empty 0s value")
            return base64.b64decode(body, validate=True)
        if prefix == "0x":
            return bytes.fromhex(body.replace("_", ""))
    except (binascii.Error, ValueError) as err:
        raise RawKeyError(f"malformed {prefix} value: {err}") from err
    raise RawKeyError("raw key must start with 0s (base64) or 0x (hex)")


def pubkey_from_0s(text: str, kind: KeyKind = "rsa") -> PublicKey:
    """Parse `leftrsasigkey=` (kind 'rsa') or `leftecdsakey=` (kind 'ecdsa')."""
    blob = decode_0s(text)
    if kind == "rsa":
        return rsa_from_rfc3110(blob)
    if kind == "ecdsa":
        return ecdsa_from_point(blob)
    raise RawKeyError(f"unknown raw key kind {kind!r}")


def keyid_of(public_key: PublicKey) -> str:
    """Libreswan's 9-character keyid: RSA blob base64 prefix, ECDSA CKAID base64 prefix."""
    if isinstance(public_key, rsa.RSAPublicKey):
        blob = rsa_to_rfc3110(public_key)
    else:
        blob = ckaid_of(public_key)
    return base64.b64encode(blob).decode("ascii")[:9]


def pem_public_key(public_key: PublicKey) -> str:
    """SubjectPublicKeyInfo PEM, as `showhostkey --pem` prints it."""
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def spki_base64(public_key: PublicKey) -> str:
    """Base64 of the DER SubjectPublicKeyInfo, for `--pubkey` output."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode("ascii")


# --- showhostkey output -------------------------------------------------------


def format_leftright(public_key: PublicKey, side: str, pubkey: bool = False) -> str:
    """`showhostkey --left/--right`: the comment line and the `*sigkey=` line."""
    if pubkey:
        return f"\t{side}pubkey={spki_base64(public_key)}\n"
    name = "rsasigkey" if isinstance(public_key, rsa.RSAPublicKey) else "ecdsakey"
    comment = "rsakey" if name == "rsasigkey" else "ecdsakey"
    return (
        f"\t# {comment} {keyid_of(public_key)}\n"
        f"\t{side}{name}={pubkey_to_0s(public_key)}\n"
    )


def gateway_type(gateway: str | None) -> int:
    """IPSECKEY gateway type: 0 none, 1 IPv4, 2 IPv6; anything else is an error."""
    if gateway is None:
        return 0
    try:
        addr = ipaddress.ip_address(gateway)
    except ValueError as err:
        raise RawKeyError(f"unknown address family for gateway {gateway}") from err
    return 1 if addr.version == 4 else 2


def format_ipseckey(
    public_key: PublicKey, hostname: str, precedence: int = 10, gateway: str | None = None
) -> str:
    """`showhostkey --ipseckey`: one zone-file line, owner name from the hostname."""
    algorithm, blob = ipseckey_rdata(public_key)
    gw_type = gateway_type(gateway)
    b64 = base64.b64encode(blob).decode("ascii")
    return (
        f"{hostname}.    IN    IPSECKEY  {precedence} {gw_type} {algorithm} "
        f"{gateway if gateway is not None else '.'} {b64}\n"
    )
