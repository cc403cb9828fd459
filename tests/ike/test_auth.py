"""IKEv2 authentication: RFC 7296 §2.15 PSK/signed octets, RFC 7619 NULL, RFC 7427 Digital
Signature, RFC 4754 ECDSA, RFC 8420 EdDSA, RFC 8784 PPK.

Expected values are derived independently here (stdlib hmac/hashlib, RFC hex
text, plain modular arithmetic), never with the code under test.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cygnet.ike import auth, auth_sig, transforms
from cygnet.ike.auth import (
    KEY_PAD,
    AuthError,
    AuthSyntaxError,
    PpkIdType,
    choose_hash,
    compute_auth,
    decode_ppk_identity,
    decode_signature_hashes,
    encode_ppk_identity,
    encode_signature_hashes,
    int_auth_octets,
    null_auth,
    ppk_prime_keys,
    psk_auth,
    signed_octets,
    verify_auth,
    verify_null,
    verify_psk,
)
from cygnet.ike.auth_sig import (
    SCHEMES,
    SigKind,
    parse_digital,
    scheme_for,
    sign_digital,
    sign_ecdsa_raw,
    sign_rsa_sha1,
    verify_digital,
    verify_ecdsa_raw,
    verify_rsa_sha1,
)
from cygnet.ike.errors import IkeError
from cygnet.ike.iana import AuthMethod, HashAlgorithm, IdType, NotifyType, PrfId

H = HashAlgorithm
SHA2 = (H.SHA2_256, H.SHA2_384, H.SHA2_512)
ALL_HASHES = (H.SHA2_256, H.SHA2_384, H.SHA2_512, H.IDENTITY)
FUZZ = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


#: The engine's PRF_HMAC_SHA2_256; expected values below use the stdlib instead.
PRF = transforms.prf(PrfId.HMAC_SHA2_256)
RsaKey = rsa.RSAPrivateKey
EcKeys = dict[int, ec.EllipticCurvePrivateKey]
EdKeys = tuple[ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey]


def _hmac256(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


# --- keys, generated once per module (RSA keygen is slow) ------------------------------


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_keys() -> dict[int, ec.EllipticCurvePrivateKey]:
    return {
        256: ec.generate_private_key(ec.SECP256R1()),
        384: ec.generate_private_key(ec.SECP384R1()),
        521: ec.generate_private_key(ec.SECP521R1()),
    }


@pytest.fixture(scope="module")
def ed_keys() -> tuple[ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey]:
    return ed25519.Ed25519PrivateKey.generate(), ed448.Ed448PrivateKey.generate()


# --- signed octets, IntAuth ---------------------------------------------------------


def test_signed_octets_layout() -> None:
    msg, nonce, sk_p = b"\x11" * 40, b"\x22" * 32, b"\x33" * 32
    id_body = bytes([IdType.ID_FQDN, 0, 0, 0]) + b"east"
    expected = msg + nonce + _hmac256(sk_p, id_body)
    assert signed_octets(msg, nonce, PRF, sk_p, id_body) == expected
    assert signed_octets(msg, nonce, PRF, sk_p, id_body, b"IA") == expected + b"IA"


def test_int_auth_octets() -> None:
    assert int_auth_octets(b"i" * 32, b"r" * 32, 3) == b"i" * 32 + b"r" * 32 + b"\0\0\0\x03"
    with pytest.raises(ValueError):
        int_auth_octets(b"", b"", 1 << 32)


# --- PSK and NULL -------------------------------------------------------------------

OCTETS = bytes(range(256)) * 3


def test_psk_auth_matches_independent_hmac() -> None:
    psk = b"this is a shared secret"
    expected = _hmac256(_hmac256(psk, b"Key Pad for IKEv2"), OCTETS)
    assert KEY_PAD == b"Key Pad for IKEv2" and len(KEY_PAD) == 17
    assert psk_auth(PRF, psk, OCTETS) == expected
    assert verify_psk(PRF, psk, OCTETS, expected)


def test_psk_negative_cases() -> None:
    good = psk_auth(PRF, b"secret", OCTETS)
    assert not verify_psk(PRF, b"secreT", OCTETS, good)  # wrong PSK
    assert not verify_psk(PRF, b"secret", OCTETS[:-1] + b"\0", good)  # tampered octets
    assert not verify_psk(PRF, b"secret", OCTETS, good[:-1])  # truncated AUTH
    assert not verify_psk(PRF, b"secret", OCTETS, b"")
    with pytest.raises(AuthError):
        psk_auth(PRF, b"", OCTETS)


def test_psk_compare_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    verify_psk(PRF, b"k", OCTETS, b"x" * 32)
    verify_null(PRF, b"k", OCTETS, b"x" * 32)
    with pytest.raises(AuthError):
        verify_auth(AuthMethod.PSK, OCTETS, b"x" * 32, prf=PRF, psk=b"k")
    assert len(calls) == 3


def test_null_auth_is_psk_with_sk_p() -> None:
    sk_pi, sk_pr = b"\x01" * 32, b"\x02" * 32
    expected = _hmac256(_hmac256(sk_pi, b"Key Pad for IKEv2"), OCTETS)
    assert null_auth(PRF, sk_pi, OCTETS) == expected
    assert verify_null(PRF, sk_pi, OCTETS, expected)
    assert not verify_null(PRF, sk_pr, OCTETS, expected)
    assert auth.NULL_ID_BODY == b"\x0d\0\0\0"


# --- RFC 7427 Appendix A / RFC 8420 AlgorithmIdentifier blobs -------------------------

# DER of each AlgorithmIdentifier as printed in RFC 7427 Appendix A and RFC 8420 §2.
RFC_BLOBS = {
    (SigKind.PKCS1_RSA, H.SHA2_256): "300d06092a864886f70d01010b0500",
    (SigKind.PKCS1_RSA, H.SHA2_384): "300d06092a864886f70d01010c0500",
    (SigKind.PKCS1_RSA, H.SHA2_512): "300d06092a864886f70d01010d0500",
    (SigKind.ECDSA, H.SHA2_256): "300a06082a8648ce3d040302",
    (SigKind.ECDSA, H.SHA2_384): "300a06082a8648ce3d040303",
    (SigKind.ECDSA, H.SHA2_512): "300a06082a8648ce3d040304",
    (SigKind.RSASSA_PSS, H.SHA2_256): (
        "3041 0609 2a86 4886 f70d 0101 0a30 34a0 0f30 0d06 0960 8648 0165 0304 0201 0500"
        "a11c 301a 0609 2a86 4886 f70d 0101 0830 0d06 0960 8648 0165 0304 0201 0500 a203 0201 20"
    ),
    (SigKind.RSASSA_PSS, H.SHA2_384): (
        "3041 0609 2a86 4886 f70d 0101 0a30 34a0 0f30 0d06 0960 8648 0165 0304 0202 0500"
        "a11c 301a 0609 2a86 4886 f70d 0101 0830 0d06 0960 8648 0165 0304 0202 0500 a203 0201 30"
    ),
    (SigKind.RSASSA_PSS, H.SHA2_512): (
        "3041 0609 2a86 4886 f70d 0101 0a30 34a0 0f30 0d06 0960 8648 0165 0304 0203 0500"
        "a11c 301a 0609 2a86 4886 f70d 0101 0830 0d06 0960 8648 0165 0304 0203 0500 a203 0201 40"
    ),
    (SigKind.ED25519, H.IDENTITY): "300506032b6570",
    (SigKind.ED448, H.IDENTITY): "300506032b6571",
}


def _blob(der_hex: str) -> bytes:
    der = bytes.fromhex(der_hex.replace(" ", ""))
    return bytes([len(der)]) + der


@pytest.mark.parametrize("key", list(RFC_BLOBS), ids=lambda k: f"{k[0].name}-{k[1].name}")
def test_sent_blobs_are_the_rfc_blobs(key: tuple[SigKind, HashAlgorithm]) -> None:
    expected = _blob(RFC_BLOBS[key])
    assert SCHEMES[key].blob == expected
    scheme, sig = parse_digital(expected + b"SIG")
    assert (scheme.kind, scheme.hash, sig) == (*key, b"SIG")


def test_blob_lengths_match_libreswan() -> None:
    # Libreswan's ASN1 blob sizes: PKCS#1 1.5 RSA 15, ECDSA 12, RSASSA-PSS 67.
    assert SCHEMES[SigKind.PKCS1_RSA, H.SHA2_256].blob[0] == 15
    assert SCHEMES[SigKind.ECDSA, H.SHA2_256].blob[0] == 12
    assert SCHEMES[SigKind.RSASSA_PSS, H.SHA2_512].blob[0] == 67
    assert set(SCHEMES) == set(RFC_BLOBS)


def test_parse_pss_parameters() -> None:
    s, _ = parse_digital(_blob(RFC_BLOBS[SigKind.RSASSA_PSS, H.SHA2_384]) + b"x")
    assert (s.salt_length, s.mgf_hash) == (48, H.SHA2_384)
    # RFC 7427 A.4.1 / A.4.2: absent or empty parameters mean SHA-1, MGF1-SHA1, salt 20.
    for der in ("300b06092a864886f70d01010a", "300d06092a864886f70d01010a3000"):
        s, _ = parse_digital(_blob(der) + b"x")
        assert (s.kind, s.hash, s.mgf_hash, s.salt_length) == (
            SigKind.RSASSA_PSS,
            H.SHA1,
            H.SHA1,
            20,
        )


def test_parse_pkcs1_without_null_params() -> None:
    s, _ = parse_digital(_blob("300b06092a864886f70d01010b") + b"x")
    assert (s.kind, s.hash) == (SigKind.PKCS1_RSA, H.SHA2_256)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00",
        b"\x0f",  # length with nothing after it
        _blob(RFC_BLOBS[SigKind.ECDSA, H.SHA2_256]),  # no signature
        b"\x0c" + bytes.fromhex("300a06082a8648ce3d0403"),  # blob longer than data
        _blob("300a06082a8648ce3d040399") + b"s",  # unknown OID
        _blob("300b06082a8648ce3d04030200") + b"s",  # trailing byte inside SEQUENCE
        _blob("300c06082a8648ce3d0403020201") + b"s",  # ECDSA with INTEGER parameters
        _blob("3080") + b"s",  # indefinite length
        _blob("308100") + b"s",  # non-minimal length
        _blob("31050603 2b6570".replace(" ", "")) + b"s",  # SET, not SEQUENCE
        _blob("300d06092a864886f70d01010a3000" + "00") + b"s",
        # PSS with trailer field 2, and with fields out of order
        _blob("301206092a864886f70d01010a3005a303020102") + b"s",
        _blob("301706092a864886f70d01010a300aa203020120a203020120") + b"s",
        # PSS with a negative salt length
        _blob("301206092a864886f70d01010a3005a2030201ff") + b"s",
        # PSS with a non-MGF1 mask generation function
        _blob("302006092a864886f70d01010a3013a111300f06092a864886f70d01010930020500") + b"s",
    ],
)
def test_parse_malformed_blob_is_auth_error(data: bytes) -> None:
    with pytest.raises(AuthError):
        parse_digital(data)


# --- RFC 7427 Digital Signature round trips and policy ------------------------------


def _all_schemes(
    rsa_key: RsaKey, ec_keys: EcKeys, ed_keys: EdKeys
) -> Iterator[tuple[Any, auth_sig.SigScheme]]:
    for h in SHA2:
        yield rsa_key, SCHEMES[SigKind.RSASSA_PSS, h]
        yield rsa_key, SCHEMES[SigKind.PKCS1_RSA, h]
        for key in ec_keys.values():  # any hash with any curve (RFC 7427, as Libreswan)
            yield key, SCHEMES[SigKind.ECDSA, h]
    yield ed_keys[0], SCHEMES[SigKind.ED25519, H.IDENTITY]
    yield ed_keys[1], SCHEMES[SigKind.ED448, H.IDENTITY]


def test_digital_signature_round_trips(rsa_key: RsaKey, ec_keys: EcKeys, ed_keys: EdKeys) -> None:
    for key, scheme in _all_schemes(rsa_key, ec_keys, ed_keys):
        data = sign_digital(key, OCTETS, scheme)
        assert data.startswith(scheme.blob)
        pub = key.public_key()
        assert verify_digital(pub, OCTETS, data, ALL_HASHES), scheme.name
        assert not verify_digital(pub, OCTETS + b"!", data, ALL_HASHES), scheme.name
        flipped = data[:-1] + bytes([data[-1] ^ 1])
        assert not _false_or_error(pub, OCTETS, flipped, ALL_HASHES), scheme.name


def _false_or_error(
    pub: Any, octets: bytes, data: bytes, allowed: tuple[HashAlgorithm, ...]
) -> bool:
    """A corrupted DER ECDSA signature may be malformed (AuthError) rather than wrong."""
    try:
        return verify_digital(pub, octets, data, allowed)
    except AuthError:
        return False


def test_pss_signature_checked_with_cryptography_directly(rsa_key: RsaKey) -> None:
    data = sign_digital(rsa_key, OCTETS, H.SHA2_512)
    blob = SCHEMES[SigKind.RSASSA_PSS, H.SHA2_512].blob
    assert data[: len(blob)] == blob  # RSA keys sign RSASSA-PSS by default
    rsa_key.public_key().verify(
        data[len(blob) :],
        OCTETS,
        padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=64),
        hashes.SHA512(),
    )


def test_ecdsa_digital_signature_is_der(ec_keys: EcKeys) -> None:
    key = ec_keys[256]
    blob = SCHEMES[SigKind.ECDSA, H.SHA2_256].blob
    sig = sign_digital(key, OCTETS, H.SHA2_256)[len(blob) :]
    assert sig[0] == 0x30
    key.public_key().verify(sig, OCTETS, ec.ECDSA(hashes.SHA256()))


def test_hash_not_offered_is_refused(rsa_key: RsaKey) -> None:
    data = sign_digital(rsa_key, OCTETS, SCHEMES[SigKind.RSASSA_PSS, H.SHA2_512])
    with pytest.raises(AuthError, match="SHA2_512"):
        verify_digital(rsa_key.public_key(), OCTETS, data, (H.SHA2_256, H.SHA2_384))


def test_sha1_pss_is_refused_unless_offered(rsa_key: RsaKey) -> None:
    sig = rsa_key.sign(
        OCTETS, padding.PSS(mgf=padding.MGF1(hashes.SHA1()), salt_length=20), hashes.SHA1()
    )
    data = _blob("300d06092a864886f70d01010a3000") + sig
    with pytest.raises(AuthError):
        verify_digital(rsa_key.public_key(), OCTETS, data, ALL_HASHES)
    assert verify_digital(rsa_key.public_key(), OCTETS, data, (H.SHA1,))


def test_key_type_must_fit_the_blob(rsa_key: RsaKey, ec_keys: EcKeys, ed_keys: EdKeys) -> None:
    ecdsa_data = sign_digital(ec_keys[256], OCTETS, H.SHA2_256)
    with pytest.raises(AuthError):  # RSA key with an ECDSA blob
        verify_digital(rsa_key.public_key(), OCTETS, ecdsa_data, ALL_HASHES)
    pss_data = sign_digital(rsa_key, OCTETS, H.SHA2_256)
    with pytest.raises(AuthError):
        verify_digital(ec_keys[256].public_key(), OCTETS, pss_data, ALL_HASHES)
    ed_data = sign_digital(ed_keys[0], OCTETS, H.IDENTITY)
    with pytest.raises(AuthError):
        verify_digital(ed_keys[1].public_key(), OCTETS, ed_data, ALL_HASHES)
    with pytest.raises(AuthError):
        sign_digital(rsa_key, OCTETS, SCHEMES[SigKind.ECDSA, H.SHA2_256])
    with pytest.raises(AuthError):
        sign_digital(ed_keys[0], OCTETS, H.SHA2_256)
    with pytest.raises(AuthError):
        sign_digital(rsa_key, OCTETS, H.IDENTITY)


def test_eddsa_needs_identity_offered(ed_keys: EdKeys) -> None:
    data = sign_digital(ed_keys[0], OCTETS, H.IDENTITY)
    with pytest.raises(AuthError):
        verify_digital(ed_keys[0].public_key(), OCTETS, data, SHA2)


def test_allowed_kinds_can_refuse_pkcs1(rsa_key: RsaKey) -> None:
    data = sign_digital(rsa_key, OCTETS, scheme_for(rsa_key, H.SHA2_256, pkcs1=True))
    assert verify_digital(rsa_key.public_key(), OCTETS, data, SHA2)
    with pytest.raises(AuthError):
        verify_digital(
            rsa_key.public_key(), OCTETS, data, SHA2, allowed_kinds=(SigKind.RSASSA_PSS,)
        )


def test_interop_encodings_verify(rsa_key: RsaKey) -> None:
    pub = rsa_key.public_key()
    # PKCS#1 v1.5 AlgorithmIdentifier without the NULL parameters (RFC 7427 A.1 note)
    sig = rsa_key.sign(OCTETS, padding.PKCS1v15(), hashes.SHA384())
    assert verify_digital(pub, OCTETS, _blob("300b06092a864886f70d01010c") + sig, SHA2)
    # RSASSA-PSS SHA-256 with salt length 0 and hash identifiers without NULL parameters
    der = (
        "303d06092a864886f70d01010a3030a00d300b0609608648016503040201"
        "a11a301806092a864886f70d010108300b0609608648016503040201a203020100"
    )
    sig = rsa_key.sign(
        OCTETS, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=0), hashes.SHA256()
    )
    scheme, _ = parse_digital(_blob(der) + sig)
    assert (scheme.hash, scheme.salt_length) == (H.SHA2_256, 0)
    assert verify_digital(pub, OCTETS, _blob(der) + sig, SHA2)
    # a signature made with salt 32 does not pass as salt 0
    sig32 = sign_digital(rsa_key, OCTETS, H.SHA2_256)[68:]  # 1 + 67-byte blob
    assert not verify_digital(pub, OCTETS, _blob(der) + sig32, SHA2)


def test_wrong_length_signatures_are_auth_errors(rsa_key: RsaKey, ed_keys: EdKeys) -> None:
    data = sign_digital(rsa_key, OCTETS, H.SHA2_256)
    with pytest.raises(AuthError):
        verify_digital(rsa_key.public_key(), OCTETS, data[:-1], SHA2)
    data = sign_digital(ed_keys[0], OCTETS, H.IDENTITY)
    with pytest.raises(AuthError):
        verify_digital(ed_keys[0].public_key(), OCTETS, data + b"\0", ALL_HASHES)


# RFC 8032 §7.1 TEST 1 (empty message), checked through the RFC 8420 blob.
ED25519_PUB = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
ED25519_SIG = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"


def test_rfc8420_ed25519_known_signature() -> None:
    pub = ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(ED25519_PUB))
    data = _blob("300506032b6570") + bytes.fromhex(ED25519_SIG)
    assert verify_digital(pub, b"", data, (H.IDENTITY,))
    assert not verify_digital(pub, b"\0", data, (H.IDENTITY,))


# --- RFC 4754 ECDSA (methods 9, 10, 11) ---------------------------------------------


# RFC 4754 §8.1-8.3: private key w, public key (gwx, gwy), ephemeral k, signature (r, s)
# over the message "abc"; n is the curve order (FIPS 186-3 D.1.2).
@dataclass(frozen=True)
class Rfc4754:
    curve: ec.EllipticCurve
    hash: Callable[[bytes], Any]
    n: str
    w: str
    gwx: str
    gwy: str
    k: str
    r: str
    s: str


RFC4754 = {
    AuthMethod.ECDSA_SHA256_P256: Rfc4754(
        curve=ec.SECP256R1(),
        hash=hashlib.sha256,
        n="FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551",
        w="DC51D3866A15BACDE33D96F992FCA99DA7E6EF0934E7097559C27F1614C88A7F",
        gwx="2442A5CC0ECD015FA3CA31DC8E2BBC70BF42D60CBCA20085E0822CB04235E970",
        gwy="6FC98BD7E50211A4A27102FA3549DF79EBCB4BF246B80945CDDFE7D509BBFD7D",
        k="9E56F509196784D963D1C0A401510EE7ADA3DCC5DEE04B154BF61AF1D5A6DECE",
        r="CB28E0999B9C7715FD0A80D8E47A77079716CBBF917DD72E97566EA1C066957C",
        s="86FA3BB4E26CAD5BF90B7F81899256CE7594BB1EA0C89212748BFF3B3D5B0315",
    ),
    AuthMethod.ECDSA_SHA384_P384: Rfc4754(
        curve=ec.SECP384R1(),
        hash=hashlib.sha384,
        n="FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973",
        w="0BEB646634BA87735D77AE4809A0EBEA865535DE4C1E1DCB692E84708E81A5AF62E528C38B2A81B35309668D73524D9F",
        gwx="96281BF8DD5E0525CA049C048D345D3082968D10FEDF5C5ACA0C64E6465A97EA5CE10C9DFEC21797415710721F437922",
        gwy="447688BA94708EB6E2E4D59F6AB6D7EDFF9301D249FE49C33096655F5D502FAD3D383B91C5E7EDAA2B714CC99D5743CA",
        k="B4B74E44D71A13D568003D7489908D564C7761E229C58CBFA18950096EB7463B854D7FA992F934D927376285E63414FA",
        r="FB017B914E29149432D8BAC29A514640B46F53DDAB2C69948084E2930F1C8F7E08E07C9C63F2D21A07DCB56A6AF56EB3",
        s="B263A1305E057F984D38726A1B46874109F417BCA112674C528262A40A629AF1CBB9F516CE0FA7D2FF630863A00E8B9F",
    ),
    AuthMethod.ECDSA_SHA512_P521: Rfc4754(
        curve=ec.SECP521R1(),
        hash=hashlib.sha512,
        n="01" + "FF" * 32 + "FA51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409",
        w="0065FDA3409451DCAB0A0EAD45495112A3D813C17BFD34BDF8C1209D7DF5849120597779060A7FF9D704ADF78B570FFAD6F062E95C7E0C5D5481C5B153B48B375FA1",
        gwx="0151518F1AF0F563517EDD5485190DF95A4BF57B5CBA4CF2A9A3F6474725A35F7AFE0A6DDEB8BEDBCD6A197E592D40188901CECD650699C9B5E456AEA5ADD19052A8",
        gwy="006F3B142EA1BFFF7E2837AD44C9E4FF6D2D34C73184BBAD90026DD5E6E85317D9DF45CAD7803C6C20035B2F3FF63AFF4E1BA64D1C077577DA3F4286C58F0AEAE643",
        k="00C1C2B305419F5A41344D7E4359933D734096F556197A9B244342B8B62F46F9373778F9DE6B6497B1EF825FF24F42F9B4A4BD7382CFC3378A540B1B7F0C1B956C2F",
        r="0154FD3836AF92D0DCA57DD5341D3053988534FDE8318FC6AAAAB68E2E6F4339B19F2F281A7E0B22C269D93CF8794A9278880ED7DBB8D9362CAEACEE544320552251",
        s="017705A7030290D1CEB605A9A1BB03FF9CDD521E87A696EC926C8C10C8362DF4975367101F67D1CF9BCCBF2F3D239534FA509E70AAC851AE01AAC68D62F866472660",
    ),
}


@pytest.mark.parametrize("method", list(RFC4754), ids=lambda m: m.name)
def test_rfc4754_vectors(method: AuthMethod) -> None:
    v = RFC4754[method]
    x = {name: int(getattr(v, name), 16) for name in ("n", "w", "gwx", "gwy", "k", "r", "s")}
    key = ec.derive_private_key(x["w"], v.curve)
    pub = key.public_key()
    assert (pub.public_numbers().x, pub.public_numbers().y) == (x["gwx"], x["gwy"])
    # With k fixed, the RFC's signature is exactly r = (kG).x mod n, s = k^-1 (h + r w) mod n.
    kg = ec.derive_private_key(x["k"], v.curve).public_key().public_numbers()
    assert kg.x % x["n"] == x["r"]
    h = int.from_bytes(v.hash(b"abc").digest())
    assert pow(x["k"], -1, x["n"]) * (h + x["r"] * x["w"]) % x["n"] == x["s"]
    width = (v.curve.key_size + 7) // 8
    sig = x["r"].to_bytes(width) + x["s"].to_bytes(width)
    assert len(sig) == {256: 64, 384: 96, 521: 132}[v.curve.key_size]
    assert verify_ecdsa_raw(pub, b"abc", sig, method)
    assert not verify_ecdsa_raw(pub, b"abd", sig, method)
    result = verify_auth(method, b"abc", sig, public_key=pub)
    assert result.description.startswith(f"P-{v.curve.key_size} ECDSA with SHA2_")
    # our own signatures (random k) round-trip and have the fixed width
    ours = sign_ecdsa_raw(key, OCTETS, method)
    assert len(ours) == len(sig) and verify_ecdsa_raw(pub, OCTETS, ours, method)


def test_ecdsa_raw_negative(ec_keys: EcKeys) -> None:
    k256 = ec_keys[256]
    sig = sign_ecdsa_raw(k256, OCTETS, AuthMethod.ECDSA_SHA256_P256)
    with pytest.raises(AuthError):  # curve must match the method
        verify_ecdsa_raw(ec_keys[384].public_key(), OCTETS, sig, AuthMethod.ECDSA_SHA384_P384)
    with pytest.raises(AuthError):
        sign_ecdsa_raw(k256, OCTETS, AuthMethod.ECDSA_SHA512_P521)
    with pytest.raises(AuthError):
        verify_ecdsa_raw(k256.public_key(), OCTETS, sig[:-1], AuthMethod.ECDSA_SHA256_P256)
    with pytest.raises(AuthError):
        verify_ecdsa_raw(k256.public_key(), OCTETS, sig, AuthMethod.PSK)
    assert not verify_ecdsa_raw(k256.public_key(), OCTETS, bytes(64), AuthMethod.ECDSA_SHA256_P256)
    assert not verify_ecdsa_raw(
        k256.public_key(), OCTETS, b"\xff" * 64, AuthMethod.ECDSA_SHA256_P256
    )


# --- RSA method 1 -------------------------------------------------------------------


def test_rsa_sha1_method(rsa_key: RsaKey) -> None:
    pub = rsa_key.public_key()
    sig = sign_rsa_sha1(rsa_key, OCTETS)
    pub.verify(sig, OCTETS, padding.PKCS1v15(), hashes.SHA1())  # DigestInfo form
    assert verify_rsa_sha1(pub, OCTETS, sig)
    assert not verify_rsa_sha1(pub, OCTETS + b"x", sig)
    with pytest.raises(AuthError):
        verify_rsa_sha1(pub, OCTETS, sig[1:])
    assert verify_auth(AuthMethod.RSA_SIG, OCTETS, sig, public_key=pub).description == (
        "2048-bit PKCS#1 1.5 RSA with SHA1"
    )


def test_rsa_sha1_accepts_bare_hash_encoding(rsa_key: RsaKey) -> None:
    # EMSA-PKCS1-v1_5 block carrying the SHA-1 hash without DigestInfo (IKEv1 style).
    numbers = rsa_key.private_numbers()
    n, d = numbers.public_numbers.n, numbers.d
    k = (n.bit_length() + 7) // 8
    digest = hashlib.sha1(OCTETS).digest()
    em = b"\x00\x01" + b"\xff" * (k - 3 - len(digest)) + b"\x00" + digest
    sig = pow(int.from_bytes(em), d, n).to_bytes(k)
    pub = rsa_key.public_key()
    with pytest.raises(InvalidSignature):
        pub.verify(sig, OCTETS, padding.PKCS1v15(), hashes.SHA1())
    assert verify_rsa_sha1(pub, OCTETS, sig)
    assert not verify_rsa_sha1(pub, OCTETS + b"x", sig)


def test_rsa_sha1_key_type(ec_keys: EcKeys) -> None:
    with pytest.raises(AuthError):
        sign_rsa_sha1(ec_keys[256], OCTETS)
    with pytest.raises(AuthError):
        verify_rsa_sha1(ec_keys[256].public_key(), OCTETS, b"x" * 256)


# --- SIGNATURE_HASH_ALGORITHMS, choose_hash -------------------------------------------


def test_signature_hashes_codec() -> None:
    data = encode_signature_hashes(auth.DEFAULT_SIGHASH_OFFER)
    assert data == bytes.fromhex("0002000300040005")
    assert decode_signature_hashes(data) == auth.DEFAULT_SIGHASH_OFFER
    assert decode_signature_hashes(b"\x00\x02\x12\x34") == (H.SHA2_256, 0x1234)
    assert decode_signature_hashes(b"") == ()
    for bad in (b"\x00", b"\x00\x02\x00"):
        with pytest.raises(AuthSyntaxError) as e:
            decode_signature_hashes(bad)
        assert e.value.notify is NotifyType.INVALID_SYNTAX
    with pytest.raises(ValueError):
        encode_signature_hashes([0x10000])


@given(st.binary(max_size=64))
def test_signature_hashes_decode_fuzz(data: bytes) -> None:
    try:
        out = decode_signature_hashes(data)
    except AuthSyntaxError:
        assert len(data) % 2
    else:
        assert encode_signature_hashes(out) == data


def test_choose_hash(rsa_key: RsaKey, ed_keys: EdKeys) -> None:
    prefs = auth.LIBRESWAN_SIGHASH_PREFERENCE
    assert choose_hash(prefs, (2, 3, 4)) is H.SHA2_512
    assert choose_hash(prefs, (2, 3, 0x1234)) is H.SHA2_384
    assert choose_hash(prefs, (H.SHA2_256,)) is H.SHA2_256
    assert choose_hash(prefs, (1,)) is None
    assert choose_hash(prefs, ()) is None
    assert choose_hash(prefs, (2, 3, 4, 5), rsa_key) is H.SHA2_512
    assert choose_hash(prefs, (2, 3, 4, 5), ed_keys[0].public_key()) is H.IDENTITY
    assert choose_hash(prefs, (5,), rsa_key) is None
    assert choose_hash(prefs, (2, 3, 4), ed_keys[1]) is None


# --- PPK (RFC 8784) ---------------------------------------------------------------


def _prf_plus_stdlib(key: bytes, seed: bytes, length: int) -> bytes:
    out, t, i = b"", b"", 1
    while len(out) < length:
        t = _hmac256(key, t + seed + bytes([i]))
        out += t
        i += 1
    return out[:length]


def test_ppk_prime_keys() -> None:
    ppk, sk_d, sk_pi, sk_pr = b"P" * 32, b"d" * 32, b"i" * 48, b"r" * 20
    d2, pi2, pr2 = ppk_prime_keys(PRF, ppk, sk_d, sk_pi, sk_pr)
    assert d2 == _prf_plus_stdlib(ppk, sk_d, 32)
    assert pi2 == _prf_plus_stdlib(ppk, sk_pi, 48)  # longer than one PRF block
    assert pr2 == _prf_plus_stdlib(ppk, sk_pr, 20)
    assert (len(d2), len(pi2), len(pr2)) == (32, 48, 20)
    assert ppk_prime_keys(PRF, b"Q" * 32, sk_d, sk_pi, sk_pr)[0] != d2
    assert pi2 == PRF.prf_plus(ppk, sk_pi, 48)  # agrees with the keymat prf+
    with pytest.raises(AuthError):
        ppk_prime_keys(PRF, b"", sk_d, sk_pi, sk_pr)


def test_ppk_identity_codec() -> None:
    assert encode_ppk_identity(b"PPK_ID_1") == b"\x02PPK_ID_1"
    assert decode_ppk_identity(b"\x02PPK_ID_1") == (PpkIdType.PPK_ID_FIXED, b"PPK_ID_1")
    assert decode_ppk_identity(b"\x01x") == (PpkIdType.PPK_ID_OPAQUE, b"x")
    assert decode_ppk_identity(b"\xc8xy") == (200, b"xy")
    for bad in (b"", b"\x02", b"\x00abc"):
        with pytest.raises(AuthSyntaxError):
            decode_ppk_identity(bad)
    with pytest.raises(ValueError):
        encode_ppk_identity(b"")


# --- compute_auth / verify_auth -------------------------------------------------------


def test_errors_are_ike_errors() -> None:
    assert issubclass(AuthError, IkeError)
    assert AuthError("x").notify is NotifyType.AUTHENTICATION_FAILED


def test_dispatch_round_trips(rsa_key: RsaKey, ec_keys: EcKeys, ed_keys: EdKeys) -> None:
    psk_data = compute_auth(AuthMethod.PSK, OCTETS, prf=PRF, psk=b"s3cret")
    assert psk_data == psk_auth(PRF, b"s3cret", OCTETS)
    r = verify_auth(AuthMethod.PSK, OCTETS, psk_data, prf=PRF, psk=b"s3cret")
    assert (r.method, r.scheme) == (AuthMethod.PSK, None)
    null_data = compute_auth(AuthMethod.NULL, OCTETS, prf=PRF, sk_p=b"k" * 32)
    assert verify_auth(13, OCTETS, null_data, prf=PRF, sk_p=b"k" * 32).method is AuthMethod.NULL
    cases = [
        (AuthMethod.RSA_SIG, rsa_key, None),
        (AuthMethod.ECDSA_SHA256_P256, ec_keys[256], None),
        (AuthMethod.ECDSA_SHA512_P521, ec_keys[521], None),
        (AuthMethod.DIGITAL_SIGNATURE, rsa_key, H.SHA2_512),
        (AuthMethod.DIGITAL_SIGNATURE, ec_keys[384], H.SHA2_384),
        (AuthMethod.DIGITAL_SIGNATURE, ed_keys[0], H.IDENTITY),
    ]
    for method, key, scheme in cases:
        data = compute_auth(method, OCTETS, private_key=key, scheme=scheme)
        res = verify_auth(
            method, OCTETS, data, public_key=key.public_key(), allowed_hashes=ALL_HASHES
        )
        assert res.method is method
        with pytest.raises(AuthError):
            verify_auth(
                method, OCTETS + b"x", data, public_key=key.public_key(), allowed_hashes=ALL_HASHES
            )
    res = verify_auth(
        14,
        OCTETS,
        compute_auth(AuthMethod.DIGITAL_SIGNATURE, OCTETS, private_key=rsa_key, scheme=H.SHA2_512),
        public_key=rsa_key.public_key(),
        allowed_hashes=SHA2,
    )
    assert res.description == "2048-bit RSASSA-PSS with SHA2_512"
    assert res.scheme == SCHEMES[SigKind.RSASSA_PSS, H.SHA2_512]


def test_dispatch_refusals(rsa_key: RsaKey) -> None:
    pub = rsa_key.public_key()
    with pytest.raises(AuthError, match="unknown AUTH method"):
        verify_auth(200, OCTETS, b"x", public_key=pub)
    with pytest.raises(AuthError, match="not supported"):
        verify_auth(AuthMethod.DSS, OCTETS, b"x", public_key=pub)
    with pytest.raises(AuthError, match="local policy"):
        verify_auth(
            AuthMethod.PSK,
            OCTETS,
            b"x",
            prf=PRF,
            psk=b"k",
            allowed_methods=(AuthMethod.DIGITAL_SIGNATURE,),
        )
    with pytest.raises(AuthError, match="no secret"):
        verify_auth(AuthMethod.PSK, OCTETS, b"x", public_key=pub)  # peer chose PSK; we have no PSK
    with pytest.raises(AuthError, match="no public key"):
        verify_auth(AuthMethod.RSA_SIG, OCTETS, b"x", prf=PRF, psk=b"k")
    with pytest.raises(AuthError):
        compute_auth(AuthMethod.PSK, OCTETS, prf=PRF)
    with pytest.raises(AuthError):
        compute_auth(AuthMethod.DIGITAL_SIGNATURE, OCTETS, private_key=rsa_key)
    with pytest.raises(AuthError):
        compute_auth(AuthMethod.DSS, OCTETS, private_key=rsa_key)
    with pytest.raises(AuthError):
        compute_auth(AuthMethod.RSA_SIG, OCTETS)


# --- fuzzing: peer-controlled AUTH data never escapes as anything but False/AuthError ---


def _only_false_or_auth_error(fn: Callable[..., bool], *args: Any, **kwargs: Any) -> None:
    with contextlib.suppress(AuthError):
        assert fn(*args, **kwargs) is False


def _mutations() -> st.SearchStrategy[tuple[int, int]]:
    return st.tuples(st.integers(min_value=0, max_value=10_000), st.integers(1, 255))


@FUZZ
@given(data=st.binary(max_size=600))
def test_fuzz_verify_digital_random(
    data: bytes, rsa_key: RsaKey, ec_keys: EcKeys, ed_keys: EdKeys
) -> None:
    for key in (rsa_key, ec_keys[256], ed_keys[0], ed_keys[1]):
        _only_false_or_auth_error(verify_digital, key.public_key(), OCTETS, data, ALL_HASHES)


@FUZZ
@given(
    which=st.sampled_from(sorted(RFC_BLOBS, key=str)),
    sig=st.binary(max_size=300),
    muts=st.lists(_mutations(), max_size=3),
)
def test_fuzz_verify_digital_structured(
    which: tuple[SigKind, HashAlgorithm],
    sig: bytes,
    muts: list[tuple[int, int]],
    rsa_key: RsaKey,
    ec_keys: EcKeys,
    ed_keys: EdKeys,
) -> None:
    data = bytearray(SCHEMES[which].blob + sig)
    for pos, xor in muts:
        data[pos % len(data)] ^= xor
    for key in (rsa_key, ec_keys[384], ed_keys[0]):
        _only_false_or_auth_error(verify_digital, key.public_key(), OCTETS, bytes(data), ALL_HASHES)


@FUZZ
@given(muts=st.lists(_mutations(), min_size=1, max_size=3))
def test_fuzz_mutated_valid_signatures(
    muts: list[tuple[int, int]], rsa_key: RsaKey, ec_keys: EcKeys
) -> None:
    for key, h in ((rsa_key, H.SHA2_256), (ec_keys[256], H.SHA2_256)):
        good = sign_digital(key, OCTETS, h)
        data = bytearray(good)
        for pos, xor in muts:
            data[pos % len(data)] ^= xor
        if bytes(data) == good:  # the mutations cancelled out
            continue
        _only_false_or_auth_error(verify_digital, key.public_key(), OCTETS, bytes(data), ALL_HASHES)


@FUZZ
@given(method=st.integers(0, 20), data=st.binary(max_size=300))
def test_fuzz_verify_auth(method: int, data: bytes, rsa_key: RsaKey, ec_keys: EcKeys) -> None:
    for key in (rsa_key, ec_keys[256], ec_keys[521]):
        with pytest.raises(AuthError):
            verify_auth(
                method,
                OCTETS,
                data,
                prf=PRF,
                psk=b"k",
                sk_p=b"s",
                public_key=key.public_key(),
                allowed_hashes=ALL_HASHES,
            )


@given(st.binary(max_size=40))
def test_fuzz_ppk_identity(data: bytes) -> None:
    try:
        t, ppk_id = decode_ppk_identity(data)
    except AuthSyntaxError:
        return
    assert encode_ppk_identity(ppk_id, t) == data


def test_auth_module_reexports() -> None:
    assert auth.AuthError is auth_sig.AuthError


@FUZZ
@given(sig=st.binary(min_size=256, max_size=256))
def test_fuzz_rsa_sha1_full_length(sig: bytes, rsa_key: RsaKey) -> None:
    _only_false_or_auth_error(verify_rsa_sha1, rsa_key.public_key(), OCTETS, sig)


@FUZZ
@given(r=st.binary(min_size=66, max_size=66), s=st.binary(min_size=66, max_size=66))
def test_fuzz_ecdsa_raw_full_width(r: bytes, s: bytes, ec_keys: EcKeys) -> None:
    pub = ec_keys[521].public_key()
    _only_false_or_auth_error(verify_ecdsa_raw, pub, OCTETS, r + s, AuthMethod.ECDSA_SHA512_P521)
    pub = ec_keys[256].public_key()
    _only_false_or_auth_error(
        verify_ecdsa_raw, pub, OCTETS, r[:32] + s[:32], AuthMethod.ECDSA_SHA256_P256
    )


def test_compute_auth_takes_plain_ints() -> None:
    assert compute_auth(2, OCTETS, prf=PRF, psk=b"k") == psk_auth(PRF, b"k", OCTETS)
    with pytest.raises(AuthError):
        compute_auth(99, OCTETS, prf=PRF, psk=b"k")


def test_small_rsa_key_cannot_do_pss_sha512() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(AuthError):  # 1024-bit modulus has no room for a 64-byte salt + hash
        sign_digital(small, OCTETS, H.SHA2_512)
    assert verify_digital(small.public_key(), OCTETS, sign_digital(small, OCTETS, H.SHA2_256), SHA2)


def test_psk_with_aes_xcbc_prf() -> None:
    # RFC 7296 §2.15 with a fixed-key-size PRF: the PRF itself adapts the PSK length.
    xcbc = transforms.prf(PrfId.AES128_XCBC)
    data = psk_auth(xcbc, b"a much longer shared secret than sixteen octets", OCTETS)
    assert len(data) == 16
    assert verify_auth(
        AuthMethod.PSK,
        OCTETS,
        data,
        prf=xcbc,
        psk=b"a much longer shared secret than sixteen octets",
    )
