"""Public-key AUTH payloads: RFC 7427 Digital Signature, legacy RSA, RFC 4754 ECDSA, RFC 8420 EdDSA.

Method 14 (Digital Signature) carries its own algorithm: Authentication Data is
one length octet, a DER AlgorithmIdentifier, then the signature.  We send the
exact blobs of RFC 7427 Appendix A (the ones Libreswan and strongSwan send),
and parse received ones with a small strict DER reader rather than by byte
comparison, so equivalent encodings (PKCS#1 v1.5 without NULL parameters, PSS
with another salt length) still verify.  ECDSA under method 14 is a DER
Ecdsa-Sig-Value; under methods 9-11 (RFC 4754) it is fixed-width r||s.

Every function that reads peer bytes returns False for a signature that does
not verify and raises `AuthError` for anything malformed or refused by
policy; nothing else escapes (a packet must never crash the daemon).
"""

from __future__ import annotations

import hmac
from collections.abc import Collection
from dataclasses import dataclass
from enum import Enum

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from cygnet.ike.errors import IkeError
from cygnet.ike.iana import AuthMethod, HashAlgorithm, NotifyType

PrivateKey = (
    rsa.RSAPrivateKey
    | ec.EllipticCurvePrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
)
PublicKey = (
    rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
)


class AuthError(IkeError):
    """Authentication failed or could not be attempted (bad AUTH data, policy, no key).

    RFC 7296 §2.21.2: the responder answers AUTHENTICATION_FAILED; an
    initiator deletes the IKE SA.
    """

    notify = NotifyType.AUTHENTICATION_FAILED


class SigKind(Enum):
    """Signature algorithm families; values are Libreswan's (RFC 7427's) names for logs."""

    RSASSA_PSS = "RSASSA-PSS"
    PKCS1_RSA = "PKCS#1 1.5 RSA"
    ECDSA = "ECDSA"
    ED25519 = "Ed25519"
    ED448 = "Ed448"


@dataclass(frozen=True, slots=True)
class SigScheme:
    """One signature scheme as named by an AlgorithmIdentifier.

    `blob` is the length octet + DER as sent (for parsed schemes: as received;
    empty for the legacy methods 1 and 9-11, which carry no AlgorithmIdentifier).
    `salt_length`/`mgf_hash` are only set for RSASSA-PSS.
    """

    kind: SigKind
    hash: HashAlgorithm
    blob: bytes
    salt_length: int | None = None
    mgf_hash: HashAlgorithm | None = None

    @property
    def name(self) -> str:
        return f"{self.kind.value} with {self.hash.name}"


# --- DER: OIDs and a strict reader --------------------------------------------------


def _oid(dotted: str) -> bytes:
    """DER contents octets of an OBJECT IDENTIFIER (readability over magic bytes)."""
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return bytes(out)


_OID_PSS = _oid("1.2.840.113549.1.1.10")
_OID_MGF1 = _oid("1.2.840.113549.1.1.8")
_HASH_OIDS = {
    _oid("1.3.14.3.2.26"): HashAlgorithm.SHA1,
    _oid("2.16.840.1.101.3.4.2.1"): HashAlgorithm.SHA2_256,
    _oid("2.16.840.1.101.3.4.2.2"): HashAlgorithm.SHA2_384,
    _oid("2.16.840.1.101.3.4.2.3"): HashAlgorithm.SHA2_512,
}
_PKCS1_OIDS = {
    _oid("1.2.840.113549.1.1.5"): HashAlgorithm.SHA1,
    _oid("1.2.840.113549.1.1.11"): HashAlgorithm.SHA2_256,
    _oid("1.2.840.113549.1.1.12"): HashAlgorithm.SHA2_384,
    _oid("1.2.840.113549.1.1.13"): HashAlgorithm.SHA2_512,
}
_ECDSA_OIDS = {
    _oid("1.2.840.10045.4.1"): HashAlgorithm.SHA1,
    _oid("1.2.840.10045.4.3.2"): HashAlgorithm.SHA2_256,
    _oid("1.2.840.10045.4.3.3"): HashAlgorithm.SHA2_384,
    _oid("1.2.840.10045.4.3.4"): HashAlgorithm.SHA2_512,
}
_EDDSA_OIDS = {_oid("1.3.101.112"): SigKind.ED25519, _oid("1.3.101.113"): SigKind.ED448}

_SEQUENCE, _OID_TAG, _INTEGER = 0x30, 0x06, 0x02
_NULL_DER = b"\x05\x00"  # an ASN.1 NULL: the "no parameters" value of RFC 4055


def _tlv(buf: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, value start, value end) of the DER element at `pos`, inside buf[:end]."""
    if pos + 2 > end:
        raise AuthError("truncated ASN.1 element")
    tag, first = buf[pos], buf[pos + 1]
    if tag & 0x1F == 0x1F:
        raise AuthError("ASN.1 high tag numbers are not used here")
    pos += 2
    if first < 0x80:
        length = first
    else:
        n = first & 0x7F
        if n not in (1, 2) or pos + n > end:
            raise AuthError("bad ASN.1 length")
        length = int.from_bytes(buf[pos : pos + n])
        if length < 0x80 or buf[pos] == 0:
            raise AuthError("non-minimal ASN.1 length")
        pos += n
    if pos + length > end:
        raise AuthError("ASN.1 element overruns its container")
    return tag, pos, pos + length


def _alg_id(buf: bytes, start: int, end: int) -> tuple[bytes, tuple[int, int] | None]:
    """Parse exactly one AlgorithmIdentifier filling buf[start:end]: (OID, params span)."""
    tag, s, e = _tlv(buf, start, end)
    if tag != _SEQUENCE or e != end:
        raise AuthError("AlgorithmIdentifier is not one SEQUENCE")
    tag, os_, oe = _tlv(buf, s, e)
    if tag != _OID_TAG or oe == os_:
        raise AuthError("AlgorithmIdentifier lacks an OID")
    oid = buf[os_:oe]
    if oe == e:
        return oid, None
    _, _, pe = _tlv(buf, oe, e)
    if pe != e:
        raise AuthError("trailing data in AlgorithmIdentifier")
    return oid, (oe, e)


def _no_params(buf: bytes, params: tuple[int, int] | None) -> None:
    """Parameters must be absent or NULL (RFC 4055 / RFC 5758 allow either on receipt)."""
    if params is not None and buf[params[0] : params[1]] != _NULL_DER:
        raise AuthError("unexpected AlgorithmIdentifier parameters")


def _small_int(buf: bytes, start: int, end: int) -> int:
    tag, s, e = _tlv(buf, start, end)
    if tag != _INTEGER or e != end or not 1 <= e - s <= 3:
        raise AuthError("bad ASN.1 INTEGER")
    if buf[s] & 0x80 or (e - s > 1 and buf[s] == 0 and not buf[s + 1] & 0x80):
        raise AuthError("negative or non-minimal ASN.1 INTEGER")
    return int.from_bytes(buf[s:e])


def _hash_alg_id(buf: bytes, start: int, end: int) -> HashAlgorithm:
    oid, params = _alg_id(buf, start, end)
    _no_params(buf, params)
    if oid not in _HASH_OIDS:
        raise AuthError("unknown hash algorithm OID")
    return _HASH_OIDS[oid]


def _pss_params(
    buf: bytes, params: tuple[int, int] | None
) -> tuple[HashAlgorithm, HashAlgorithm, int]:
    """RSASSA-PSS-params (RFC 4055 §3.1): (hash, MGF1 hash, salt length); absent = defaults."""
    hash_alg, mgf_hash, salt = HashAlgorithm.SHA1, HashAlgorithm.SHA1, 20
    if params is None:
        return hash_alg, mgf_hash, salt
    tag, pos, end = _tlv(buf, *params)
    if tag != _SEQUENCE or end != params[1]:
        raise AuthError("RSASSA-PSS parameters are not a SEQUENCE")
    last = -1
    while pos < end:
        tag, s, e = _tlv(buf, pos, end)
        field = tag - 0xA0
        if not 0 <= field <= 3 or field <= last:
            raise AuthError("unexpected field in RSASSA-PSS parameters")
        last = field
        if field == 0:
            hash_alg = _hash_alg_id(buf, s, e)
        elif field == 1:
            oid, mgf_params = _alg_id(buf, s, e)
            if oid != _OID_MGF1 or mgf_params is None:
                raise AuthError("RSASSA-PSS mask generation is not MGF1")
            mgf_hash = _hash_alg_id(buf, *mgf_params)
        elif field == 2:
            salt = _small_int(buf, s, e)
        elif _small_int(buf, s, e) != 1:
            raise AuthError("RSASSA-PSS trailer field must be 1")
        pos = e
    return hash_alg, mgf_hash, salt


def parse_digital(auth_data: bytes) -> tuple[SigScheme, bytes]:
    """Split method-14 Authentication Data into (scheme, signature). AuthError if malformed/unknown."""
    if len(auth_data) < 2:
        raise AuthError("Digital Signature AUTH data too short")
    n = auth_data[0]
    if n == 0 or 1 + n > len(auth_data):
        raise AuthError("Digital Signature AlgorithmIdentifier length is wrong")
    blob, signature = bytes(auth_data[: 1 + n]), bytes(auth_data[1 + n :])
    if not signature:
        raise AuthError("empty signature")
    oid, params = _alg_id(blob, 1, len(blob))
    if oid == _OID_PSS:
        hash_alg, mgf_hash, salt = _pss_params(blob, params)
        return SigScheme(SigKind.RSASSA_PSS, hash_alg, blob, salt, mgf_hash), signature
    _no_params(blob, params)
    if oid in _PKCS1_OIDS:
        return SigScheme(SigKind.PKCS1_RSA, _PKCS1_OIDS[oid], blob), signature
    if oid in _ECDSA_OIDS:
        return SigScheme(SigKind.ECDSA, _ECDSA_OIDS[oid], blob), signature
    if oid in _EDDSA_OIDS:
        return SigScheme(_EDDSA_OIDS[oid], HashAlgorithm.IDENTITY, blob), signature
    raise AuthError("unknown signature algorithm in Digital Signature AUTH")


# --- the schemes we send (RFC 7427 Appendix A, RFC 8420 §2) -----------------------

_HASH_CLS: dict[HashAlgorithm, type[hashes.HashAlgorithm]] = {
    HashAlgorithm.SHA1: hashes.SHA1,
    HashAlgorithm.SHA2_256: hashes.SHA256,
    HashAlgorithm.SHA2_384: hashes.SHA384,
    HashAlgorithm.SHA2_512: hashes.SHA512,
}
_SHA2 = (HashAlgorithm.SHA2_256, HashAlgorithm.SHA2_384, HashAlgorithm.SHA2_512)


def _der(tag: int, body: bytes) -> bytes:
    assert len(body) < 0x80  # every blob here is short
    return bytes([tag, len(body)]) + body


def _with_len(der: bytes) -> bytes:
    return bytes([len(der)]) + der


# Hash AlgorithmIdentifiers inside RSASSA-PSS-params carry NULL parameters in
# RFC 7427 A.4.3 (and in what OpenSSL, NSS and strongSwan emit).
_HASH_DER = {
    h: _der(_SEQUENCE, _der(_OID_TAG, o) + _NULL_DER) for o, h in _HASH_OIDS.items() if h in _SHA2
}


def _pss_blob(h: HashAlgorithm) -> bytes:
    salt = _HASH_CLS[h].digest_size
    params = (
        _der(0xA0, _HASH_DER[h])
        + _der(0xA1, _der(_SEQUENCE, _der(_OID_TAG, _OID_MGF1) + _HASH_DER[h]))
        + _der(0xA2, _der(_INTEGER, bytes([salt])))
    )
    return _with_len(_der(_SEQUENCE, _der(_OID_TAG, _OID_PSS) + _der(_SEQUENCE, params)))


def _build_schemes() -> dict[tuple[SigKind, HashAlgorithm], SigScheme]:
    out: dict[tuple[SigKind, HashAlgorithm], SigScheme] = {}
    for oid, h in _PKCS1_OIDS.items():
        if h in _SHA2:  # with NULL parameters, as RFC 7427 A.1 and Libreswan send
            blob = _with_len(_der(_SEQUENCE, _der(_OID_TAG, oid) + _NULL_DER))
            out[SigKind.PKCS1_RSA, h] = SigScheme(SigKind.PKCS1_RSA, h, blob)
    for oid, h in _ECDSA_OIDS.items():
        if h in _SHA2:
            blob = _with_len(_der(_SEQUENCE, _der(_OID_TAG, oid)))
            out[SigKind.ECDSA, h] = SigScheme(SigKind.ECDSA, h, blob)
    for h in _SHA2:
        out[SigKind.RSASSA_PSS, h] = SigScheme(
            SigKind.RSASSA_PSS, h, _pss_blob(h), _HASH_CLS[h].digest_size, h
        )
    for oid, kind in _EDDSA_OIDS.items():
        blob = _with_len(_der(_SEQUENCE, _der(_OID_TAG, oid)))
        out[kind, HashAlgorithm.IDENTITY] = SigScheme(kind, HashAlgorithm.IDENTITY, blob)
    return out


#: Every scheme we can send, keyed by (kind, hash).
SCHEMES: dict[tuple[SigKind, HashAlgorithm], SigScheme] = _build_schemes()


def key_kinds(key: PrivateKey | PublicKey) -> tuple[SigKind, ...]:
    """The signature kinds a key can make or check, preferred first (PSS before PKCS#1 v1.5)."""
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return (SigKind.RSASSA_PSS, SigKind.PKCS1_RSA)
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return (SigKind.ECDSA,)
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return (SigKind.ED25519,)
    if isinstance(key, ed448.Ed448PrivateKey | ed448.Ed448PublicKey):
        return (SigKind.ED448,)
    raise AuthError(f"unsupported key type {type(key).__name__}")


def key_hashes(key: PrivateKey | PublicKey) -> tuple[HashAlgorithm, ...]:
    """Hashes usable with this key under method 14: EdDSA only signs with IDENTITY (RFC 8420)."""
    if key_kinds(key)[0] in (SigKind.ED25519, SigKind.ED448):
        return (HashAlgorithm.IDENTITY,)
    return _SHA2


def scheme_for(
    key: PrivateKey | PublicKey, hash_alg: HashAlgorithm, *, pkcs1: bool = False
) -> SigScheme:
    """The scheme we send for this key and negotiated hash: RSASSA-PSS for RSA unless `pkcs1`."""
    kinds = key_kinds(key)
    kind = SigKind.PKCS1_RSA if pkcs1 and SigKind.PKCS1_RSA in kinds else kinds[0]
    scheme = SCHEMES.get((kind, hash_alg))
    if scheme is None:
        raise AuthError(f"cannot sign with {kind.value} and hash {hash_alg.name}")
    return scheme


def sign_digital(
    private_key: PrivateKey, octets: bytes, scheme: SigScheme | HashAlgorithm
) -> bytes:
    """Method-14 Authentication Data (blob + signature) over the signed octets."""
    if isinstance(scheme, HashAlgorithm):
        scheme = scheme_for(private_key, scheme)
    if scheme.kind not in key_kinds(private_key):
        raise AuthError(f"{scheme.kind.value} needs another key type")
    try:
        if isinstance(private_key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
            return scheme.blob + private_key.sign(octets)
        h = _HASH_CLS[scheme.hash]()
        if isinstance(private_key, ec.EllipticCurvePrivateKey):
            return scheme.blob + private_key.sign(octets, ec.ECDSA(h))
        return scheme.blob + private_key.sign(octets, _rsa_padding(scheme), h)
    except (ValueError, UnsupportedAlgorithm) as e:  # e.g. RSA key too small for PSS-SHA512
        raise AuthError(f"cannot sign with {scheme.name}: {e}") from None


def _rsa_padding(scheme: SigScheme) -> padding.AsymmetricPadding:
    if scheme.kind is SigKind.PKCS1_RSA:
        return padding.PKCS1v15()
    mgf = _HASH_CLS[scheme.mgf_hash or scheme.hash]()
    return padding.PSS(mgf=padding.MGF1(mgf), salt_length=scheme.salt_length or 0)


def check_digital(
    public_key: PublicKey,
    octets: bytes,
    auth_data: bytes,
    allowed_hashes: Collection[HashAlgorithm],
    *,
    allowed_kinds: Collection[SigKind] | None = None,
) -> tuple[SigScheme, bool]:
    """Parse, apply policy, verify: (scheme, signature valid). AuthError if malformed or refused.

    `allowed_hashes` is what we offered in SIGNATURE_HASH_ALGORITHMS (RFC 7427
    §4: the peer must pick one of those); `allowed_kinds` narrows the families
    (e.g. no PKCS#1 v1.5), None meaning all the key can do.
    """
    scheme, signature = parse_digital(auth_data)
    if scheme.kind not in key_kinds(public_key):
        raise AuthError(f"peer signed with {scheme.kind.value} but its key cannot")
    if allowed_kinds is not None and scheme.kind not in allowed_kinds:
        raise AuthError(f"{scheme.kind.value} is not allowed by local policy")
    if scheme.hash not in allowed_hashes:
        raise AuthError(f"peer used hash {scheme.hash.name}, which we did not offer")
    return scheme, _verify(public_key, scheme, octets, signature)


def verify_digital(
    public_key: PublicKey,
    octets: bytes,
    auth_data: bytes,
    allowed_hashes: Collection[HashAlgorithm],
    *,
    allowed_kinds: Collection[SigKind] | None = None,
) -> bool:
    """True iff method-14 AUTH data verifies; False for a bad signature; AuthError otherwise."""
    return check_digital(
        public_key, octets, auth_data, allowed_hashes, allowed_kinds=allowed_kinds
    )[1]


def _verify(key: PublicKey, scheme: SigScheme, octets: bytes, signature: bytes) -> bool:
    """Run the cryptographic check; only InvalidSignature means False, the rest is AuthError."""
    try:
        if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            if len(signature) != (64 if scheme.kind is SigKind.ED25519 else 114):
                raise AuthError(f"{scheme.kind.value} signature has the wrong length")
            key.verify(signature, octets)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            r, s = decode_dss_signature(signature)
            if encode_dss_signature(r, s) != signature:
                raise AuthError("ECDSA signature is not canonical DER")
            key.verify(signature, octets, ec.ECDSA(_HASH_CLS[scheme.hash]()))
        else:
            _check_rsa_length(key, signature)
            key.verify(signature, octets, _rsa_padding(scheme), _HASH_CLS[scheme.hash]())
    except InvalidSignature:
        return False
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise AuthError(f"unusable {scheme.kind.value} signature: {e}") from None
    return True


def _check_rsa_length(key: rsa.RSAPublicKey, signature: bytes) -> None:
    """RFC 8017 §8.1.2/§8.2.2: a signature is exactly k = modulus bytes long."""
    if len(signature) != (key.key_size + 7) // 8:
        raise AuthError("RSA signature length does not match the key")


def describe(key: PrivateKey | PublicKey, scheme: SigScheme) -> str:
    """Libreswan's wording for logs: '2048-bit RSASSA-PSS with SHA2_512', 'P-256 ECDSA with SHA2_256'."""
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return f"{key.key_size}-bit {scheme.name}"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return f"P-{key.curve.key_size} {scheme.name}"
    return scheme.name


# --- method 1: RSA Digital Signature (PKCS#1 v1.5 over SHA-1) ------------------------


def sign_rsa_sha1(private_key: PrivateKey, octets: bytes) -> bytes:
    """RFC 7296 §3.8 method 1: RSASSA-PKCS1-v1_5 with SHA-1 (DigestInfo included, as Libreswan)."""
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise AuthError("AUTH method RSA needs an RSA key")
    return private_key.sign(octets, padding.PKCS1v15(), hashes.SHA1())


def verify_rsa_sha1(public_key: PublicKey, octets: bytes, auth_data: bytes) -> bool:
    """Method 1 check. Also accepts the bare SHA-1 hash without DigestInfo, as Libreswan does
    (older peers send the IKEv1-style encoding); both are full-length exact matches."""
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise AuthError("AUTH method RSA needs an RSA key")
    _check_rsa_length(public_key, auth_data)
    try:
        public_key.verify(auth_data, octets, padding.PKCS1v15(), hashes.SHA1())
        return True
    except InvalidSignature:
        pass
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise AuthError(f"unusable RSA signature: {e}") from None
    digest = hashes.Hash(hashes.SHA1())
    digest.update(octets)
    try:
        recovered = public_key.recover_data_from_signature(auth_data, padding.PKCS1v15(), None)
    except (InvalidSignature, ValueError):
        return False
    return hmac.compare_digest(recovered, digest.finalize())


# --- methods 9, 10, 11: RFC 4754 ECDSA with fixed-width r||s -------------------------

_ECDSA_METHODS: dict[AuthMethod, tuple[type[ec.EllipticCurve], HashAlgorithm, int]] = {
    AuthMethod.ECDSA_SHA256_P256: (ec.SECP256R1, HashAlgorithm.SHA2_256, 32),
    AuthMethod.ECDSA_SHA384_P384: (ec.SECP384R1, HashAlgorithm.SHA2_384, 48),
    AuthMethod.ECDSA_SHA512_P521: (ec.SECP521R1, HashAlgorithm.SHA2_512, 66),
}

#: Hash of each RFC 4754 method (the scheme a method-9/10/11 AUTH used, for logs).
ECDSA_METHOD_HASH = {m: h for m, (_, h, _) in _ECDSA_METHODS.items()}


def _ecdsa_method(method: AuthMethod, key: PrivateKey | PublicKey) -> tuple[HashAlgorithm, int]:
    if method not in _ECDSA_METHODS:
        raise AuthError(f"{method!r} is not an RFC 4754 ECDSA method")
    curve, h, width = _ECDSA_METHODS[method]
    if not isinstance(
        key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey
    ) or not isinstance(key.curve, curve):
        raise AuthError(f"AUTH method {method.name} needs a {curve.name} key")
    return h, width


def sign_ecdsa_raw(private_key: PrivateKey, octets: bytes, method: AuthMethod) -> bytes:
    """RFC 4754 §7: r and s, each left-padded to the curve's byte width, concatenated."""
    h, width = _ecdsa_method(method, private_key)
    assert isinstance(private_key, ec.EllipticCurvePrivateKey)
    r, s = decode_dss_signature(private_key.sign(octets, ec.ECDSA(_HASH_CLS[h]())))
    return r.to_bytes(width) + s.to_bytes(width)


def verify_ecdsa_raw(
    public_key: PublicKey, octets: bytes, auth_data: bytes, method: AuthMethod
) -> bool:
    """Check an RFC 4754 r||s signature; a wrong length is malformed (AuthError)."""
    h, width = _ecdsa_method(method, public_key)
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    if len(auth_data) != 2 * width:
        raise AuthError(f"{method.name} signature must be {2 * width} bytes")
    r, s = int.from_bytes(auth_data[:width]), int.from_bytes(auth_data[width:])
    try:
        public_key.verify(encode_dss_signature(r, s), octets, ec.ECDSA(_HASH_CLS[h]()))
    except InvalidSignature:
        return False
    except ValueError as e:
        raise AuthError(f"unusable ECDSA signature: {e}") from None
    return True
