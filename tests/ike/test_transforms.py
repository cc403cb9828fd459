"""Transforms: registry lookups, round trips for every algorithm, and the
RFC 6989 / RFC 8031 / FIPS 203 rejections of bad peer key exchange data."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cygnet.ike import transforms as tr
from cygnet.ike.errors import IkeError, IntegrityError, InvalidKeError, UnsupportedTransform
from cygnet.ike.iana import EncrId, IntegId, KeId, NotifyType, PrfId

UNIQUE_ENCR = sorted({id(a): a for a in tr.ENCR_ALGS.values()}.values(), key=lambda a: a.name)


def _pad(alg: tr.EncrAlg, data: bytes) -> bytes:
    n = -len(data) % alg.block_bytes
    return data + bytes(n)


# --------------------------------------------------------------------------- registry


@pytest.mark.parametrize(
    ("eid", "bits", "name", "key_bytes", "iv", "icv"),
    [
        (EncrId.AES_CBC, 128, "AES_CBC_128", 16, 16, 0),
        (EncrId.AES_CBC, 256, "AES_CBC_256", 32, 16, 0),
        (EncrId.AES_CTR, 256, "AES_CTR_256", 36, 8, 0),
        (EncrId.AES_GCM_16, 256, "AES_GCM_16_256", 36, 8, 16),
        (EncrId.AES_GCM_8, 128, "AES_GCM_8_128", 20, 8, 8),
        (EncrId.AES_GCM_12, 192, "AES_GCM_12_192", 28, 8, 12),
        (EncrId.AES_CCM_16, 128, "AES_CCM_16_128", 19, 8, 16),
        (EncrId.CHACHA20_POLY1305, None, "CHACHA20_POLY1305", 36, 8, 16),
        (EncrId.TRIPLE_DES, None, "3DES_CBC", 24, 8, 0),
        (EncrId.NULL, None, "NULL", 0, 0, 0),
    ],
)
def test_encr_registry(eid: EncrId, bits: int | None, name: str, key_bytes: int, iv: int,
                       icv: int) -> None:
    alg = tr.encr(eid, bits)
    assert (alg.name, alg.key_bytes, alg.iv_bytes, alg.icv_bytes) == (name, key_bytes, iv, icv)
    assert alg.aead == (icv > 0)
    assert alg.id == eid


@pytest.mark.parametrize(("eid", "bits"), [
    (EncrId.AES_CBC, None),  # RFC 7296 §3.3.5: AES needs the Key Length attribute
    (EncrId.AES_CBC, 100),
    (EncrId.AES_GCM_16, 512),
    (EncrId.CHACHA20_POLY1305, 128),
    (EncrId.DES, None),
    (EncrId.CAMELLIA_CBC, 128),
    (999, 128),
])
def test_encr_unsupported(eid: int, bits: int | None) -> None:
    with pytest.raises(UnsupportedTransform):
        tr.encr(eid, bits)


def test_lookup_errors_are_typed_and_carry_a_notify() -> None:
    for call in (lambda: tr.prf(PrfId.HMAC_TIGER), lambda: tr.integ(IntegId.NONE),
                 lambda: tr.integ(IntegId.DES_MAC), lambda: tr.ke(KeId.MODP768),
                 lambda: tr.ke(KeId.BRAINPOOL_P256R1), lambda: tr.ke(12345)):
        with pytest.raises(UnsupportedTransform) as ei:
            call()
        assert isinstance(ei.value, IkeError)
        assert ei.value.notify == NotifyType.NO_PROPOSAL_CHOSEN
    assert InvalidKeError.notify == NotifyType.INVALID_SYNTAX
    assert IntegrityError.notify is None


@pytest.mark.parametrize(("pid", "name", "key_bytes", "out_bytes"), [
    (PrfId.HMAC_SHA1, "HMAC_SHA1", 20, 20),
    (PrfId.HMAC_SHA2_256, "HMAC_SHA2_256", 32, 32),
    (PrfId.HMAC_SHA2_384, "HMAC_SHA2_384", 48, 48),
    (PrfId.HMAC_SHA2_512, "HMAC_SHA2_512", 64, 64),
    (PrfId.AES128_XCBC, "AES_XCBC", 16, 16),
    (PrfId.AES128_CMAC, "AES_CMAC", 16, 16),
])
def test_prf_registry(pid: PrfId, name: str, key_bytes: int, out_bytes: int) -> None:
    alg = tr.prf(pid)
    assert (alg.name, alg.key_bytes, alg.out_bytes) == (name, key_bytes, out_bytes)


@pytest.mark.parametrize(("iid", "name", "key_bytes", "icv"), [
    (IntegId.HMAC_SHA1_96, "HMAC_SHA1_96", 20, 12),
    (IntegId.HMAC_SHA2_256_128, "HMAC_SHA2_256_128", 32, 16),
    (IntegId.HMAC_SHA2_384_192, "HMAC_SHA2_384_192", 48, 24),
    (IntegId.HMAC_SHA2_512_256, "HMAC_SHA2_512_256", 64, 32),
    (IntegId.AES_XCBC_96, "AES_XCBC_96", 16, 12),
    (IntegId.AES_CMAC_96, "AES_CMAC_96", 16, 12),
    (IntegId.HMAC_MD5_96, "HMAC_MD5_96", 16, 12),
])
def test_integ_registry(iid: IntegId, name: str, key_bytes: int, icv: int) -> None:
    alg = tr.integ(iid)
    assert (alg.name, alg.key_bytes, alg.icv_bytes) == (name, key_bytes, icv)


@pytest.mark.parametrize(("kid", "name", "pub", "resp", "kem"), [
    (KeId.MODP1536, "MODP1536", 192, 192, False),
    (KeId.MODP2048, "MODP2048", 256, 256, False),
    (KeId.MODP3072, "MODP3072", 384, 384, False),
    (KeId.MODP4096, "MODP4096", 512, 512, False),
    (KeId.MODP6144, "MODP6144", 768, 768, False),
    (KeId.MODP8192, "MODP8192", 1024, 1024, False),
    (KeId.ECP_256, "DH19", 64, 64, False),
    (KeId.ECP_384, "DH20", 96, 96, False),
    (KeId.ECP_521, "DH21", 132, 132, False),
    (KeId.CURVE25519, "DH31", 32, 32, False),
    (KeId.CURVE448, "DH32", 56, 56, False),
    (KeId.ML_KEM_768, "ML_KEM_768", 1184, 1088, True),
    (KeId.ML_KEM_1024, "ML_KEM_1024", 1568, 1568, True),
])
def test_ke_registry_and_round_trip(kid: KeId, name: str, pub: int, resp: int, kem: bool) -> None:
    alg = tr.ke(kid)
    assert (alg.name, alg.public_bytes_len, alg.response_bytes_len, alg.kem) == (
        name, pub, resp, kem)
    share = alg.initiate()
    assert len(share.public) == pub
    reply, secret_r = alg.respond(share.public)
    assert len(reply) == resp
    assert share.complete(reply) == secret_r
    # Fresh private values every time.
    assert alg.initiate().public != share.public


# --------------------------------------------------------------------------- ENCR


@pytest.mark.parametrize("alg", UNIQUE_ENCR, ids=lambda a: a.name)
def test_encr_round_trip(alg: tr.EncrAlg) -> None:
    key = os.urandom(alg.key_bytes)
    aad = b"IKE header | SK header" if alg.aead else b""
    ctx = alg.cipher_context(key)
    for size in (0, 1, 15, 16, 17, 100, 1400):
        pt = _pad(alg, os.urandom(size))
        iv = alg.random_iv()
        ct = alg.encrypt(key, iv, pt, aad)
        assert len(ct) == len(pt) + alg.icv_bytes
        assert alg.decrypt(key, iv, ct, aad) == pt
        assert ctx.decrypt(iv, ctx.encrypt(iv, pt, aad), aad) == pt
        assert ctx.encrypt(iv, pt, aad) == ct
        if alg.id != EncrId.NULL and pt:
            assert ct[: len(pt)] != pt


@pytest.mark.parametrize("alg", [a for a in UNIQUE_ENCR if a.aead], ids=lambda a: a.name)
def test_aead_rejects_tampering(alg: tr.EncrAlg) -> None:
    key = os.urandom(alg.key_bytes)
    iv = alg.random_iv()
    ct = alg.encrypt(key, iv, b"payload", b"aad")
    for bad_ct, bad_aad, bad_iv in (
        (ct[:-1] + bytes([ct[-1] ^ 1]), b"aad", iv),   # tag
        (bytes([ct[0] ^ 1]) + ct[1:], b"aad", iv),     # ciphertext
        (ct, b"aaX", iv),                              # AAD (the IKE/ESP header)
        (ct, b"aad", bytes(alg.iv_bytes)),             # IV
        (ct[: alg.icv_bytes - 1], b"aad", iv),         # shorter than the ICV
        (ct, b"aad", iv[:-1]),                         # truncated IV
    ):
        with pytest.raises(IntegrityError):
            alg.decrypt(key, bad_iv, bad_ct, bad_aad)
    wrong_key = bytes(b ^ 1 for b in key)
    with pytest.raises(IntegrityError):
        alg.decrypt(wrong_key, iv, ct, b"aad")


@pytest.mark.parametrize("alg", [a for a in UNIQUE_ENCR if a.block_bytes > 1 and not a.aead],
                         ids=lambda a: a.name)
def test_cbc_malformed_input(alg: tr.EncrAlg) -> None:
    key = os.urandom(alg.key_bytes)
    with pytest.raises(ValueError):  # sender bug: must pad first (RFC 7296 §3.14)
        alg.encrypt(key, alg.random_iv(), b"x" * (alg.block_bytes + 1))
    with pytest.raises(IntegrityError):  # peer input: never a bare ValueError
        alg.decrypt(key, alg.random_iv(), b"x" * (alg.block_bytes + 1))
    with pytest.raises(IntegrityError):
        alg.decrypt(key, b"short", b"x" * alg.block_bytes)


def test_ctr_is_a_stream_cipher() -> None:
    alg = tr.encr(EncrId.AES_CTR, 128)
    key, iv = os.urandom(20), os.urandom(8)
    ct = alg.encrypt(key, iv, b"abc")
    assert len(ct) == 3
    assert alg.decrypt(key, iv, ct) == b"abc"


def test_key_material_length_is_checked() -> None:
    alg = tr.encr(EncrId.AES_GCM_16, 256)
    with pytest.raises(ValueError):
        alg.cipher_context(os.urandom(32))  # the 4-octet salt is missing


@settings(max_examples=50, deadline=None)
@given(pt=st.binary(max_size=300), aad=st.binary(max_size=64),
       which=st.sampled_from([a for a in UNIQUE_ENCR if a.aead]))
def test_aead_round_trip_property(pt: bytes, aad: bytes, which: tr.EncrAlg) -> None:
    key = os.urandom(which.key_bytes)
    iv = which.random_iv()
    assert which.decrypt(key, iv, which.encrypt(key, iv, pt, aad), aad) == pt


# --------------------------------------------------------------------------- INTEG / PRF


@pytest.mark.parametrize("alg", list(tr.INTEG_ALGS.values()), ids=lambda a: a.name)
def test_integ_round_trip(alg: tr.IntegAlg) -> None:
    key = os.urandom(alg.key_bytes)
    data = os.urandom(200)
    icv = alg.mac(key, data)
    assert len(icv) == alg.icv_bytes
    assert alg.verify(key, data, icv)
    assert not alg.verify(key, data + b"x", icv)
    assert not alg.verify(key, data, icv[:-1])
    ctx = alg.context(key)
    assert ctx.mac(data) == icv
    assert ctx.mac(data) == icv  # reusable
    assert ctx.verify(data, icv)
    with pytest.raises(ValueError):
        alg.context(key + b"x")


@pytest.mark.parametrize("alg", list(tr.PRF_ALGS.values()), ids=lambda a: a.name)
def test_prf_plus_structure(alg: tr.PrfAlg) -> None:
    # RFC 7296 §2.13: T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n).
    key, seed = os.urandom(alg.key_bytes), os.urandom(40)
    t1 = alg.prf(key, seed + b"\x01")
    t2 = alg.prf(key, t1 + seed + b"\x02")
    t3 = alg.prf(key, t2 + seed + b"\x03")
    out = alg.prf_plus(key, seed, 3 * alg.out_bytes)
    assert out == t1 + t2 + t3
    assert alg.prf_plus(key, seed, 5) == t1[:5]
    assert alg.prf_plus(key, seed, 0) == b""


@pytest.mark.parametrize("alg", list(tr.PRF_ALGS.values()), ids=lambda a: a.name)
def test_prf_plus_limit_is_255_iterations(alg: tr.PrfAlg) -> None:
    key = os.urandom(alg.key_bytes)
    out = alg.prf_plus(key, b"seed", 255 * alg.out_bytes)
    assert len(out) == 255 * alg.out_bytes
    # The last block used counter 0xff.
    t254 = out[253 * alg.out_bytes: 254 * alg.out_bytes]
    assert out[-alg.out_bytes:] == alg.prf(key, t254 + b"seed" + b"\xff")
    with pytest.raises(ValueError):
        alg.prf_plus(key, b"seed", 255 * alg.out_bytes + 1)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(0, 600), m=st.integers(0, 600), seed=st.binary(max_size=80))
def test_prf_plus_prefix_property(n: int, m: int, seed: bytes) -> None:
    alg = tr.prf(PrfId.HMAC_SHA2_256)
    long = alg.prf_plus(b"k" * 32, seed, max(n, m))
    assert alg.prf_plus(b"k" * 32, seed, min(n, m)) == long[: min(n, m)]


def test_xcbc_prf_accepts_any_key_length_but_integ_does_not() -> None:
    # RFC 4434 makes the PRF variable-key; RFC 3566 integrity keys are exactly 128 bits.
    p = tr.prf(PrfId.AES128_XCBC)
    assert len(p.prf(b"", b"data")) == 16
    assert p.prf(b"\x01" * 3, b"data") == p.prf(b"\x01" * 3 + bytes(13), b"data")
    with pytest.raises(ValueError):
        tr.integ(IntegId.AES_XCBC_96).mac(b"\x01" * 17, b"data")


def test_cmac_prf_short_key_is_reduced_not_padded() -> None:
    # RFC 4615 §3 differs from RFC 4434: a short key goes through AES-CMAC(0^128, key).
    p = tr.prf(PrfId.AES128_CMAC)
    assert p.prf(b"\x01" * 3, b"data") != p.prf(b"\x01" * 3 + bytes(13), b"data")
    reduced = p.prf(bytes(16), b"\x01" * 3)
    assert p.prf(b"\x01" * 3, b"data") == p.prf(reduced, b"data")


# --------------------------------------------------------------------------- KE rejections


MODP = [KeId.MODP1536, KeId.MODP2048, KeId.MODP3072]


@pytest.mark.parametrize("kid", MODP, ids=lambda k: k.name)
def test_modp_rejects_rfc6989_values(kid: KeId) -> None:
    alg = tr.ke(kid)
    n, p = alg.public_bytes_len, alg.p  # type: ignore[attr-defined]
    share = alg.initiate()
    bad = [
        bytes(n),                               # 0
        (1).to_bytes(n, "big"),                 # 1
        (p - 1).to_bytes(n, "big"),             # p-1: order-2 element
        p.to_bytes(n, "big"),                   # p
        (p + 5).to_bytes(n, "big"),             # > p
        b"\xff" * n,                            # > p
        share.public[:-1],                      # short
        b"\x00" + share.public,                 # long, even if numerically fine
        b"",
    ]
    for value in bad:
        with pytest.raises(InvalidKeError):
            alg.respond(value)
        with pytest.raises(InvalidKeError):
            share.complete(value)
    # 2 and p-2 are legitimate group elements.
    assert len(share.complete((2).to_bytes(n, "big"))) == n
    assert len(alg.respond((p - 2).to_bytes(n, "big"))[1]) == n


ECP = [KeId.ECP_256, KeId.ECP_384, KeId.ECP_521]


@pytest.mark.parametrize("kid", ECP, ids=lambda k: k.name)
def test_ecp_rejects_points_off_the_curve(kid: KeId) -> None:
    alg = tr.ke(kid)
    n = alg.public_bytes_len
    share = alg.initiate()
    good = alg.initiate().public
    off_curve = good[:-1] + bytes([good[-1] ^ 1])
    bad = [
        off_curve,
        bytes(n),                   # (0, 0): not on the curve; "infinity" has no x|y form
        b"\xff" * n,                # coordinates >= p
        b"\x04" + good,             # SEC 1 uncompressed form is not the RFC 5903 encoding
        good[: n // 2],             # x only (compressed-style)
        good[:-1],
        b"",
    ]
    for value in bad:
        with pytest.raises(InvalidKeError):
            alg.respond(value)
        with pytest.raises(InvalidKeError):
            share.complete(value)


@pytest.mark.parametrize("kid", [KeId.CURVE25519, KeId.CURVE448], ids=lambda k: k.name)
def test_montgomery_rejects_all_zero_secret(kid: KeId) -> None:
    # RFC 8031 §2.3: the all-zero value MUST be rejected; low-order points produce it.
    alg = tr.ke(kid)
    n = alg.public_bytes_len
    share = alg.initiate()
    low_order = [bytes(n), (1).to_bytes(n, "little")]
    if kid == KeId.CURVE25519:  # RFC 7748 / libsodium's order-8 point
        low_order.append(bytes.fromhex(
            "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"))
    for value in [*low_order, b"\x09" * (n - 1), b"\x09" * (n + 1), b""]:
        with pytest.raises(InvalidKeError):
            alg.respond(value)
        with pytest.raises(InvalidKeError):
            share.complete(value)


@pytest.mark.parametrize("kid", [KeId.ML_KEM_768, KeId.ML_KEM_1024], ids=lambda k: k.name)
def test_mlkem_rejects_malformed_values(kid: KeId) -> None:
    alg = tr.ke(kid)
    share = alg.initiate()
    ek = share.public
    # Encapsulation key: wrong length, or coefficients >= q (FIPS 203 §7.2 modulus check).
    for value in (ek[:-1], ek + b"\x00", b"", b"\xff" * len(ek)):
        with pytest.raises(InvalidKeError):
            alg.respond(value)
    ct, secret = alg.respond(ek)
    for value in (ct[:-1], ct + b"\x00", b"", ct[: len(ct) // 2]):
        with pytest.raises(InvalidKeError):
            share.complete(value)
    assert share.complete(ct) == secret
    assert len(secret) == 32
    # A tampered ciphertext of the right length decapsulates to a different
    # (implicit-rejection) secret: the exchange fails later, at AUTH.
    tampered = bytes([ct[0] ^ 1]) + ct[1:]
    assert share.complete(tampered) != secret


def test_mlkem_share_from_seed_is_deterministic() -> None:
    alg = tr.ke(KeId.ML_KEM_768)
    seed = bytes(range(64))
    a, b = alg.share_from_private(seed), alg.share_from_private(seed)
    assert a.public == b.public
    ct, secret = alg.respond(a.public)
    assert b.complete(ct) == secret


def test_ml_kem_512_availability_matches_cryptography() -> None:
    from cryptography.hazmat.primitives.asymmetric import mlkem

    if hasattr(mlkem, "MLKEM512PrivateKey"):
        assert tr.ke(KeId.ML_KEM_512).public_bytes_len == 800
    else:
        with pytest.raises(UnsupportedTransform):
            tr.ke(KeId.ML_KEM_512)
