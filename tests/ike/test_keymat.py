"""Key derivation: RFC 7296 §2.14/§2.17/§2.18 structure and RFC 9370 §2.2.2."""

from __future__ import annotations

import os

import pytest

from cygnet.ike import keymat
from cygnet.ike.iana import EncrId, IntegId, KeId, PrfId
from cygnet.ike.transforms import encr, integ, ke, prf

NI, NR = os.urandom(32), os.urandom(32)
SPI_I, SPI_R = os.urandom(8), os.urandom(8)


@pytest.mark.parametrize(("pid", "eid", "bits", "iid"), [
    (PrfId.HMAC_SHA2_256, EncrId.AES_GCM_16, 256, None),
    (PrfId.HMAC_SHA2_512, EncrId.AES_CBC, 256, IntegId.HMAC_SHA2_512_256),
    (PrfId.HMAC_SHA1, EncrId.TRIPLE_DES, None, IntegId.HMAC_SHA1_96),
    (PrfId.AES128_XCBC, EncrId.AES_CBC, 128, IntegId.AES_XCBC_96),
    (PrfId.AES128_CMAC, EncrId.CHACHA20_POLY1305, None, None),
    (PrfId.HMAC_SHA2_384, EncrId.AES_CTR, 192, IntegId.HMAC_SHA2_384_192),
])
def test_ike_sa_keys_lengths_and_order(pid: PrfId, eid: EncrId, bits: int | None,
                                       iid: IntegId | None) -> None:
    p, e = prf(pid), encr(eid, bits)
    i = integ(iid) if iid is not None else None
    seed = keymat.skeyseed(p, NI, NR, os.urandom(32))
    assert len(seed) == p.out_bytes
    keys = keymat.ike_sa_keys(p, e, i, seed, NI, NR, SPI_I, SPI_R)
    la = i.key_bytes if i else 0
    # "The lengths of SK_d, SK_pi, and SK_pr MUST be the preferred key length of the PRF."
    assert [len(keys.sk_d), len(keys.sk_pi), len(keys.sk_pr)] == [p.key_bytes] * 3
    assert [len(keys.sk_ai), len(keys.sk_ar)] == [la, la]
    assert [len(keys.sk_ei), len(keys.sk_er)] == [e.key_bytes] * 2  # salt included
    # "taken in order from the generated bits of the prf+"
    total = keys.sk_d + keys.sk_ai + keys.sk_ar + keys.sk_ei + keys.sk_er + keys.sk_pi + keys.sk_pr
    assert total == p.prf_plus(seed, NI + NR + SPI_I + SPI_R, len(total))
    assert keys.sk_ei != keys.sk_er


def test_skeyseed_with_hmac_uses_whole_nonces() -> None:
    p = prf(PrfId.HMAC_SHA2_256)
    g = os.urandom(256)
    assert keymat.skeyseed(p, NI, NR, g) == p.prf(NI + NR, g)


@pytest.mark.parametrize("pid", [PrfId.AES128_XCBC, PrfId.AES128_CMAC])
def test_skeyseed_fixed_key_prfs_use_first_64_bits_of_each_nonce(pid: PrfId) -> None:
    # RFC 7296 §2.14: "only the first 64 bits of Ni and the first 64 bits of Nr are
    # used in calculating SKEYSEED, but all the bits are used for input to the prf+".
    p = prf(pid)
    g = os.urandom(32)
    seed = keymat.skeyseed(p, NI, NR, g)
    assert seed == p.prf(NI[:8] + NR[:8], g)
    ni2 = NI[:8] + os.urandom(24)
    assert keymat.skeyseed(p, ni2, NR, g) == seed
    e, i = encr(EncrId.AES_CBC, 128), integ(IntegId.AES_XCBC_96)
    k1 = keymat.ike_sa_keys(p, e, i, seed, NI, NR, SPI_I, SPI_R)
    k2 = keymat.ike_sa_keys(p, e, i, seed, ni2, NR, SPI_I, SPI_R)
    assert k1.sk_d != k2.sk_d


def test_rekey_skeyseed_uses_the_given_old_prf() -> None:
    # RFC 7296 §2.18: "it is the old IKE SA's PRF that is used to generate SKEYSEED".
    old, new = prf(PrfId.HMAC_SHA2_256), prf(PrfId.HMAC_SHA2_512)
    sk_d, g = os.urandom(32), os.urandom(64)
    seed = keymat.rekey_skeyseed(old, sk_d, g, NI, NR)
    assert seed == old.prf(sk_d, g + NI + NR)
    assert len(seed) == 32
    keys = keymat.ike_sa_keys(new, encr(EncrId.AES_GCM_16, 256), None, seed, NI, NR, SPI_I, SPI_R)
    assert len(keys.sk_d) == 64
    ss = [os.urandom(32), os.urandom(32)]
    assert keymat.rekey_skeyseed(old, sk_d, g, NI, NR, ss) == old.prf(
        sk_d, g + ss[0] + ss[1] + NI + NR)


def test_additional_ke_skeyseed() -> None:
    # RFC 9370 §2.2.2: SKEYSEED(n) = prf(SK_d(n-1), SK(n) | Ni | Nr), then the usual prf+.
    p = prf(PrfId.HMAC_SHA2_384)
    sk_d, shared = os.urandom(48), os.urandom(32)
    seed = keymat.additional_ke_skeyseed(p, sk_d, shared, NI, NR)
    assert seed == p.prf(sk_d, shared + NI + NR)


@pytest.mark.parametrize(("eid", "bits", "iid"), [
    (EncrId.AES_GCM_16, 128, None),
    (EncrId.AES_CBC, 256, IntegId.HMAC_SHA2_256_128),
    (EncrId.NULL, None, IntegId.HMAC_SHA2_256_128),
    (EncrId.CHACHA20_POLY1305, None, None),
])
def test_child_sa_keys_order(eid: EncrId, bits: int | None, iid: IntegId | None) -> None:
    p, e = prf(PrfId.HMAC_SHA2_256), encr(eid, bits)
    i = integ(iid) if iid is not None else None
    sk_d = os.urandom(32)
    ck = keymat.child_sa_keys(p, e, i, sk_d, NI, NR)
    la = i.key_bytes if i else 0
    # "encryption key (if any) MUST be taken from the first bits and the integrity key
    # (if any) MUST be taken from the remaining bits"; initiator-to-responder first.
    assert [len(ck.encr_i), len(ck.integ_i), len(ck.encr_r), len(ck.integ_r)] == [
        e.key_bytes, la, e.key_bytes, la]
    km = p.prf_plus(sk_d, NI + NR, 2 * (e.key_bytes + la))
    assert ck.encr_i + ck.integ_i + ck.encr_r + ck.integ_r == km
    g = os.urandom(32)
    pfs = keymat.child_sa_keys(p, e, i, sk_d, NI, NR, g)
    assert pfs.encr_i + pfs.integ_i + pfs.encr_r + pfs.integ_r == p.prf_plus(
        sk_d, g + NI + NR, len(km))
    extra = keymat.child_sa_keys(p, e, i, sk_d, NI, NR, g, [b"A" * 32])
    assert extra.encr_i + extra.integ_i == p.prf_plus(
        sk_d, g + b"A" * 32 + NI + NR, e.key_bytes + la)


def test_keys_never_print_their_bytes() -> None:
    keys = keymat.IkeKeys(*(bytes([0xAB]) * 16 for _ in range(7)))
    ck = keymat.ChildKeys(*(bytes([0xAB]) * 16 for _ in range(4)))
    for text in (repr(keys), str(keys), repr(ck)):
        assert "abab" not in text and "\\xab" not in text
        assert "<16 bytes>" in text


def test_spi_length_checked() -> None:
    p = prf(PrfId.HMAC_SHA2_256)
    with pytest.raises(ValueError):
        keymat.ike_sa_keys(p, encr(EncrId.AES_GCM_16, 128), None, b"s" * 32, NI, NR, b"x", SPI_R)


@pytest.mark.parametrize("kid", [KeId.ECP_256, KeId.CURVE25519, KeId.MODP2048])
def test_two_peers_agree_end_to_end(kid: KeId) -> None:
    """Initiator and responder derive identical keys and can read each other's SK payloads."""
    p, e, i = prf(PrfId.HMAC_SHA2_256), encr(EncrId.AES_CBC, 256), integ(IntegId.HMAC_SHA2_256_128)
    alg = ke(kid)
    share = alg.initiate()
    ker, g_r = alg.respond(share.public)
    g_i = share.complete(ker)
    k_i = keymat.ike_sa_keys(p, e, i, keymat.skeyseed(p, NI, NR, g_i), NI, NR, SPI_I, SPI_R)
    k_r = keymat.ike_sa_keys(p, e, i, keymat.skeyseed(p, NI, NR, g_r), NI, NR, SPI_I, SPI_R)
    assert k_i == k_r
    iv = e.random_iv()
    msg = b"IDi AUTH SA TSi TSr" + bytes(13)
    ct = e.encrypt(k_i.sk_ei, iv, msg)
    icv = i.mac(k_i.sk_ai, iv + ct)
    assert i.verify(k_r.sk_ai, iv + ct, icv)
    assert e.decrypt(k_r.sk_ei, iv, ct) == msg
