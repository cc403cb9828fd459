"""IKEv2 authentication (RFC 7296 §2.15): signed octets, PSK, NULL, PPK, and one front door.

Each side proves its identity over its "signed octets": its own first message,
the peer's nonce and a MAC of its own ID payload.  Shared keys (method 2) and
NULL authentication (RFC 7619, method 13) MAC those octets; the public-key
methods sign them (see `cygnet.ike.auth_sig`).  `compute_auth`/`verify_auth`
dispatch on the AUTH payload's method so the exchange code needs no per-method
branches.  Everything here is pure: keys and octets in, bytes or a verdict out.

MAC and AUTH comparisons go through `hmac.compare_digest` (DESIGN.md).
"""

from __future__ import annotations

import hmac
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol, TypeVar

from cygnet.ike.auth_sig import (
    ECDSA_METHOD_HASH,
    AuthError,
    PrivateKey,
    PublicKey,
    SigKind,
    SigScheme,
    check_digital,
    describe,
    key_hashes,
    sign_digital,
    sign_ecdsa_raw,
    sign_rsa_sha1,
    verify_ecdsa_raw,
    verify_rsa_sha1,
)
from cygnet.ike.iana import AuthMethod, HashAlgorithm, IdType, NotifyType

__all__ = [
    "DEFAULT_SIGHASH_OFFER",
    "KEY_PAD",
    "LIBRESWAN_SIGHASH_PREFERENCE",
    "NULL_ID_BODY",
    "AuthError",
    "AuthResult",
    "AuthSyntaxError",
    "PpkIdType",
    "Prf",
    "choose_hash",
    "compute_auth",
    "decode_ppk_identity",
    "decode_signature_hashes",
    "encode_ppk_identity",
    "encode_signature_hashes",
    "int_auth_octets",
    "null_auth",
    "ppk_prime_keys",
    "psk_auth",
    "signed_octets",
    "verify_auth",
    "verify_null",
    "verify_psk",
]


class AuthSyntaxError(AuthError):
    """Malformed auth-related notify data (SIGNATURE_HASH_ALGORITHMS, PPK_IDENTITY)."""

    notify = NotifyType.INVALID_SYNTAX


class Prf(Protocol):
    """What we need of a negotiated PRF (`cygnet.ike.transforms.PrfAlg` fits)."""

    def prf(self, key: bytes, data: bytes) -> bytes: ...


#: RFC 7296 §2.15: the pad string keyed with the shared secret (17 octets, no NUL).
KEY_PAD = b"Key Pad for IKEv2"


def signed_octets(
    message_bytes: bytes,
    peer_nonce: bytes,
    prf: Prf,
    sk_p: bytes,
    id_payload_body: bytes,
    int_auth: bytes = b"",
) -> bytes:
    """RFC 7296 §2.15 InitiatorSignedOctets / ResponderSignedOctets.

    = RealMessage | Nonce(peer) | prf(SK_px, RestOfIDPayload) [| IntAuth].
    `message_bytes` is our own IKE_SA_INIT message as sent (for the one
    verifying: as the peer sent it); `sk_p` is the *signer's* SK_pi/SK_pr;
    `id_payload_body` is the signer's ID payload without its generic header
    (ID type, 3 reserved octets, data).  `int_auth` is RFC 9242's IntAuth
    when IKE_INTERMEDIATE exchanges took place (see `int_auth_octets`).
    """
    return message_bytes + peer_nonce + prf.prf(sk_p, id_payload_body) + int_auth


def int_auth_octets(int_auth_i: bytes, int_auth_r: bytes, ike_auth_mid: int) -> bytes:
    """RFC 9242 §3.3.2 IntAuth = IntAuth_iN | IntAuth_rN | IKE_AUTH_MID (4 octets).

    The same value is appended by both sides; the per-exchange chaining
    (IntAuth_iN from the IKE_INTERMEDIATE messages) is the exchange code's job.
    """
    if not 0 <= ike_auth_mid <= 0xFFFFFFFF:
        raise ValueError("Message ID out of range")
    return int_auth_i + int_auth_r + ike_auth_mid.to_bytes(4)


# --- shared keys (method 2) and NULL (method 13) -------------------------------------


def psk_auth(prf: Prf, psk: bytes, octets: bytes) -> bytes:
    """AUTH = prf(prf(Shared Secret, "Key Pad for IKEv2"), <signed octets>)."""
    if not psk:
        # An empty secret would "authenticate" anyone who guesses it is empty.
        raise AuthError("no pre-shared key")
    return prf.prf(prf.prf(psk, KEY_PAD), octets)


def verify_psk(prf: Prf, psk: bytes, octets: bytes, auth_data: bytes) -> bool:
    """Constant-time check of a peer's shared-key AUTH data (length mismatch is just False)."""
    return hmac.compare_digest(psk_auth(prf, psk, octets), auth_data)


def null_auth(prf: Prf, sk_p: bytes, octets: bytes) -> bytes:
    """RFC 7619: computed as for shared keys with SK_pi (initiator) / SK_pr (responder)
    as the secret, so it proves only possession of the IKE SA keys, not an identity.

    ID notes: a NULL-authenticating peer normally sends ID_NULL (`NULL_ID_BODY`,
    no identification data), but any ID type may accompany method 13 and its
    value is then unauthenticated; whatever body was received is what gets MACed
    into the signed octets.  Libreswan answers with NULL auth when the peer's
    IDr is ID_NULL and the connection allows authby=null.
    """
    return psk_auth(prf, sk_p, octets)


def verify_null(prf: Prf, sk_p: bytes, octets: bytes, auth_data: bytes) -> bool:
    """Check a peer's NULL AUTH; `sk_p` is the peer's SK_px (SK_pi when we are responder)."""
    return hmac.compare_digest(null_auth(prf, sk_p, octets), auth_data)


#: ID payload body for ID_NULL (RFC 7619): type 13, three reserved octets, no data.
NULL_ID_BODY = bytes([IdType.ID_NULL, 0, 0, 0])


# --- SIGNATURE_HASH_ALGORITHMS (RFC 7427 §4) -----------------------------------------

#: What we announce: Libreswan 4.10's default (sha2_256, sha2_384, sha2_512), plus
#: RFC 8420 IDENTITY so EdDSA peers can sign (peers ignore values they do not know).
DEFAULT_SIGHASH_OFFER = (
    HashAlgorithm.SHA2_256,
    HashAlgorithm.SHA2_384,
    HashAlgorithm.SHA2_512,
    HashAlgorithm.IDENTITY,
)

#: Libreswan signs with the strongest negotiated hash (ikev2_auth.c negotiated_hash_map).
LIBRESWAN_SIGHASH_PREFERENCE = (
    HashAlgorithm.SHA2_512,
    HashAlgorithm.SHA2_384,
    HashAlgorithm.SHA2_256,
    HashAlgorithm.IDENTITY,
)


_E = TypeVar("_E", bound=IntEnum)


def _enum_or_int(enum: type[_E], value: int) -> _E | int:
    try:
        return enum(value)
    except ValueError:
        return value


def encode_signature_hashes(hashes: Iterable[int]) -> bytes:
    """Notify data: the hash algorithm identifiers as 16-bit big-endian values."""
    out = bytearray()
    for h in hashes:
        if not 0 <= h <= 0xFFFF:
            raise ValueError(f"hash algorithm id {h} does not fit 16 bits")
        out += int(h).to_bytes(2)
    return bytes(out)


def decode_signature_hashes(data: bytes) -> tuple[HashAlgorithm | int, ...]:
    """Parse the notify data; unknown ids stay ints (they are legal, just unusable)."""
    if len(data) % 2:
        raise AuthSyntaxError("SIGNATURE_HASH_ALGORITHMS data has an odd length")
    out: list[HashAlgorithm | int] = []
    for i in range(0, len(data), 2):
        out.append(_enum_or_int(HashAlgorithm, int.from_bytes(data[i : i + 2])))
    return tuple(out)


def choose_hash(
    local_prefs: Sequence[HashAlgorithm],
    peer_offered: Collection[int],
    key: PrivateKey | PublicKey | None = None,
) -> HashAlgorithm | None:
    """The first of our preferences the peer offered (and, given `key`, that the key can use).

    None means method 14 is impossible: fall back to the legacy method or fail.
    """
    usable = key_hashes(key) if key is not None else None
    for h in local_prefs:
        if h in peer_offered and (usable is None or h in usable):
            return h
    return None


# --- Postquantum Preshared Keys (RFC 8784) -------------------------------------------


class PpkIdType(IntEnum):
    """RFC 8784 §5.1 PPK_ID types (first octet of PPK_IDENTITY data)."""

    PPK_ID_OPAQUE = 1
    PPK_ID_FIXED = 2


def _prf_plus(prf: Prf, key: bytes, seed: bytes, length: int) -> bytes:
    """RFC 7296 §2.13 prf+: T1 = prf(K, S|0x01), Tn = prf(K, Tn-1|S|n)."""
    out, t, n = b"", b"", 1
    while len(out) < length:
        if n > 255:
            raise ValueError("prf+ output too long")
        t = prf.prf(key, t + seed + bytes([n]))
        out += t
        n += 1
    return out[:length]


def ppk_prime_keys(
    prf: Prf, ppk: bytes, sk_d: bytes, sk_pi: bytes, sk_pr: bytes
) -> tuple[bytes, bytes, bytes]:
    """RFC 8784 §3: SK_x' = prf+(PPK, SK_x), each as long as the original.

    The primed SK_pi'/SK_pr' then go into the signed octets for AUTH, and
    SK_d' into Child SA keys; NO_PPK_AUTH (if sent) uses the unprimed ones.
    """
    if not ppk:
        raise AuthError("empty PPK")
    return (
        _prf_plus(prf, ppk, sk_d, len(sk_d)),
        _prf_plus(prf, ppk, sk_pi, len(sk_pi)),
        _prf_plus(prf, ppk, sk_pr, len(sk_pr)),
    )


def encode_ppk_identity(ppk_id: bytes, ppk_type: int = PpkIdType.PPK_ID_FIXED) -> bytes:
    """PPK_IDENTITY notify data: PPK type octet | PPK_ID (Libreswan sends PPK_ID_FIXED)."""
    if not ppk_id:
        raise ValueError("empty PPK_ID")
    if not 0 < ppk_type <= 0xFF:
        raise ValueError("PPK type must be one octet, not 0")
    return bytes([ppk_type]) + ppk_id


def decode_ppk_identity(data: bytes) -> tuple[PpkIdType | int, bytes]:
    """Parse PPK_IDENTITY data into (type, PPK_ID); unknown types stay ints for the caller."""
    if len(data) < 2:
        raise AuthSyntaxError("PPK_IDENTITY data needs a type and a non-empty PPK_ID")
    if data[0] == 0:
        raise AuthSyntaxError("PPK_IDENTITY type 0 is reserved")
    return _enum_or_int(PpkIdType, data[0]), bytes(data[1:])


# --- one front door ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuthResult:
    """A verified AUTH payload: which method, which signature scheme, and the log phrase."""

    method: AuthMethod
    scheme: SigScheme | None
    description: str


def compute_auth(
    method: int,
    octets: bytes,
    *,
    prf: Prf | None = None,
    psk: bytes | None = None,
    sk_p: bytes | None = None,
    private_key: PrivateKey | None = None,
    scheme: SigScheme | HashAlgorithm | None = None,
) -> bytes:
    """Authentication Data for our AUTH payload (without the method octet and reserved bytes).

    Needs: PSK -> prf, psk; NULL -> prf, sk_p (ours); RSA_SIG and ECDSA_* ->
    private_key; DIGITAL_SIGNATURE -> private_key and scheme (or a negotiated hash).
    """
    try:
        method = AuthMethod(method)
    except ValueError:
        raise AuthError(f"unknown AUTH method {method}") from None
    if method in (AuthMethod.PSK, AuthMethod.NULL):
        secret = psk if method is AuthMethod.PSK else sk_p
        if prf is None or secret is None:
            raise AuthError(f"AUTH method {method.name} needs a PRF and a secret")
        return psk_auth(prf, secret, octets)
    if private_key is None:
        raise AuthError(f"AUTH method {method.name} needs a private key")
    if method is AuthMethod.RSA_SIG:
        return sign_rsa_sha1(private_key, octets)
    if method in ECDSA_METHOD_HASH:
        return sign_ecdsa_raw(private_key, octets, method)
    if method is AuthMethod.DIGITAL_SIGNATURE:
        if scheme is None:
            raise AuthError("Digital Signature needs a scheme or negotiated hash")
        return sign_digital(private_key, octets, scheme)
    raise AuthError(f"AUTH method {method.name} is not supported")


def verify_auth(
    method: int,
    octets: bytes,
    auth_data: bytes,
    *,
    prf: Prf | None = None,
    psk: bytes | None = None,
    sk_p: bytes | None = None,
    public_key: PublicKey | None = None,
    allowed_hashes: Collection[HashAlgorithm] = (),
    allowed_kinds: Collection[SigKind] | None = None,
    allowed_methods: Collection[AuthMethod] | None = None,
) -> AuthResult:
    """Check a peer's AUTH payload; any failure raises AuthError (AUTHENTICATION_FAILED).

    `method` is the peer's raw method octet. `sk_p` is the peer's SK_px (NULL);
    `allowed_hashes` is what we sent in SIGNATURE_HASH_ALGORITHMS (method 14).
    `allowed_methods` lets the caller refuse, say, PSK on an rsasig connection
    before any crypto runs.
    """
    try:
        m = AuthMethod(method)
    except ValueError:
        raise AuthError(f"unknown AUTH method {method}") from None
    if allowed_methods is not None and m not in allowed_methods:
        raise AuthError(f"peer used AUTH method {m.name}, which local policy does not allow")
    scheme: SigScheme | None = None
    if m in (AuthMethod.PSK, AuthMethod.NULL):
        secret = psk if m is AuthMethod.PSK else sk_p
        if prf is None or secret is None:
            raise AuthError(f"no secret to check AUTH method {m.name}")
        ok = hmac.compare_digest(psk_auth(prf, secret, octets), auth_data)
        what = "PSK" if m is AuthMethod.PSK else "NULL"
    elif public_key is None:
        raise AuthError(f"no public key to check AUTH method {m.name}")
    elif m is AuthMethod.RSA_SIG:
        ok = verify_rsa_sha1(public_key, octets, auth_data)
        scheme = SigScheme(SigKind.PKCS1_RSA, HashAlgorithm.SHA1, b"")
        what = describe(public_key, scheme)
    elif m in ECDSA_METHOD_HASH:
        ok = verify_ecdsa_raw(public_key, octets, auth_data, m)
        scheme = SigScheme(SigKind.ECDSA, ECDSA_METHOD_HASH[m], b"")
        what = describe(public_key, scheme)
    elif m is AuthMethod.DIGITAL_SIGNATURE:
        scheme, ok = check_digital(
            public_key, octets, auth_data, allowed_hashes, allowed_kinds=allowed_kinds
        )
        what = describe(public_key, scheme)
    else:
        raise AuthError(f"AUTH method {m.name} is not supported")
    if not ok:
        raise AuthError(f"{what} AUTH did not verify")
    return AuthResult(m, scheme, what)
