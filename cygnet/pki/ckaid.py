"""CKAIDs: how NSS and Libreswan name a key pair.

NSS sets a generated or imported key's CKA_ID to the SHA-1 of its public
value (the RSA modulus, or the EC point 04||X||Y), and Libreswan's
`--ckaid`, `leftckaid=` and `showhostkey` all use that same 20-byte value in
hex, so a key keeps its name across `certutil`, `pk12util` and `ipsec`.
"""

from __future__ import annotations

import hashlib
import string

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


class CkaidError(ValueError):
    """A CKAID string that is not hex, or a key type without a CKAID rule."""


def public_value(public_key: PublicKey) -> bytes:
    """The bytes NSS hashes into CKA_ID: RSA modulus (no leading zero) or EC point."""
    if isinstance(public_key, rsa.RSAPublicKey):
        n = public_key.public_numbers().n
        return n.to_bytes((n.bit_length() + 7) // 8, "big")
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    raise CkaidError(f"no CKAID rule for {type(public_key).__name__}")


def ckaid_of(public_key: PublicKey) -> bytes:
    """NSS's CKA_ID for a key pair: SHA-1 of its public value."""
    return hashlib.sha1(public_value(public_key)).digest()


def ckaid_hex(ckaid: bytes) -> str:
    """Lower-case hex, as `ipsec showhostkey --list` prints it."""
    return ckaid.hex()


def parse_ckaid(text: str) -> bytes:
    """A full CKAID from hex (`leftckaid=`); odd length or non-hex is an error."""
    t = text.strip()
    if not t or len(t) % 2 or any(c not in string.hexdigits for c in t):
        raise CkaidError(f"CKAID '{text}' is not an even-length hex string")
    return bytes.fromhex(t)


def ckaid_starts_with(ckaid: bytes, prefix: str) -> bool:
    """Libreswan's match for `--ckaid X`: X is a case-insensitive hex prefix."""
    return ckaid.hex().startswith(prefix.strip().lower())
