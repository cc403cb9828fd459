"""Known answers for the PRF and INTEG transforms.

RFC 4868 §2.7 (HMAC-SHA-256/384/512 as PRF and as truncated integrity),
RFC 2202/2404 (HMAC-SHA1-96), RFC 2104 (HMAC-MD5), RFC 3566 §4.6
(AES-XCBC-MAC-96), RFC 4434 §2.1 (AES-XCBC-PRF-128 key-length cases),
RFC 4493 §4 / RFC 4494 §4 (AES-CMAC, AES-CMAC-96) and RFC 4615 §4
(AES-CMAC-PRF-128 key-length cases).
"""

from __future__ import annotations

import pytest

from cygnet.ike.iana import IntegId, PrfId
from cygnet.ike.transforms import integ, prf, xcbc_mac

h = bytes.fromhex

HI_THERE = b"Hi There"
JEFE = b"what do ya want for nothing?"

# RFC 4868 §2.7.1: PRF-HMAC-SHA-* test cases PRF-1 and PRF-2 (full output).
PRF_CASES = [
    (PrfId.HMAC_SHA2_256, b"\x0b" * 20, HI_THERE,
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (PrfId.HMAC_SHA2_384, b"\x0b" * 20, HI_THERE,
     "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59c"
     "faea9ea9076ede7f4af152e8b2fa9cb6"),
    (PrfId.HMAC_SHA2_512, b"\x0b" * 20, HI_THERE,
     "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
     "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"),
    (PrfId.HMAC_SHA2_256, b"Jefe", JEFE,
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    (PrfId.HMAC_SHA2_384, b"Jefe", JEFE,
     "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e"
     "8e2240ca5e69e2c78b3239ecfab21649"),
    (PrfId.HMAC_SHA2_512, b"Jefe", JEFE,
     "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
     "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"),
    # RFC 2202 §3 test case 1 / RFC 2104 Appendix test 1.
    (PrfId.HMAC_SHA1, b"\x0b" * 20, HI_THERE, "b617318655057264e28bc0b6fb378c8ef146be00"),
    (PrfId.HMAC_MD5, b"\x0b" * 16, HI_THERE, "9294727a3638bb1c13f48ef8158bfc9d"),
    # RFC 4434 §2.1: the three key lengths (16, 10 -> zero-padded, 18 -> XCBC-reduced).
    (PrfId.AES128_XCBC, h("000102030405060708090a0b0c0d0e0f"),
     h("000102030405060708090a0b0c0d0e0f10111213"), "47f51b4564966215b8985c63055ed308"),
    (PrfId.AES128_XCBC, h("00010203040506070809"),
     h("000102030405060708090a0b0c0d0e0f10111213"), "0fa087af7d866e7653434e602fdde835"),
    (PrfId.AES128_XCBC, h("000102030405060708090a0b0c0d0e0fedcb"),
     h("000102030405060708090a0b0c0d0e0f10111213"), "8cd3c93ae598a9803006ffb67c40e9e4"),
    # RFC 4615 §4: key lengths 18 and 10 are CMAC-reduced, 16 used as is.
    (PrfId.AES128_CMAC, h("000102030405060708090a0b0c0d0e0fedcb"),
     h("000102030405060708090a0b0c0d0e0f10111213"), "84a348a4a45d235babfffc0d2b4da09a"),
    (PrfId.AES128_CMAC, h("000102030405060708090a0b0c0d0e0f"),
     h("000102030405060708090a0b0c0d0e0f10111213"), "980ae87b5f4c9c5214f5b6a8455e4c2d"),
    (PrfId.AES128_CMAC, h("00010203040506070809"),
     h("000102030405060708090a0b0c0d0e0f10111213"), "290d9e112edb09ee141fcf64c0b72f3d"),
]


@pytest.mark.parametrize(("pid", "key", "data", "out"), PRF_CASES)
def test_prf_known_answers(pid: PrfId, key: bytes, data: bytes, out: str) -> None:
    alg = prf(pid)
    assert alg.prf(key, data) == h(out)
    assert len(h(out)) == alg.out_bytes


# RFC 4868 §2.7.2: AUTH256/384/512 cases use keys of the full hash length and
# the truncated output; RFC 2404 §4 truncates HMAC-SHA1 to 96 bits.
_CD50 = b"\xcd" * 50
INTEG_CASES = [
    (IntegId.HMAC_SHA2_256_128, b"\x0b" * 32, HI_THERE, "198a607eb44bfbc69903a0f1cf2bbdc5"),
    (IntegId.HMAC_SHA2_256_128, b"Jefe" * 8, JEFE, "167f928588c5cc2eef8e3093caa0e87c"),
    (IntegId.HMAC_SHA2_256_128, b"\xaa" * 32, b"\xdd" * 50, "cdcb1220d1ecccea91e53aba3092f962"),
    (IntegId.HMAC_SHA2_256_128, bytes(range(1, 33)), _CD50, "372efcf9b40b35c2115b1346903d2ef4"),
    (IntegId.HMAC_SHA2_384_192, b"\x0b" * 48, HI_THERE,
     "b6a8d5636f5c6a7224f9977dcf7ee6c7fb6d0c48cbdee973"),
    (IntegId.HMAC_SHA2_512_256, b"\x0b" * 64, HI_THERE,
     "637edc6e01dce7e6742a99451aae82df23da3e92439e590e43e761b33e910fb8"),
    (IntegId.HMAC_SHA1_96, b"\x0b" * 20, HI_THERE, "b617318655057264e28bc0b6"),
    (IntegId.HMAC_MD5_96, b"\x0b" * 16, HI_THERE, "9294727a3638bb1c13f48ef8"),
]

# RFC 3566 §4.6: AES-XCBC-MAC-96 test cases 1-7 (key 000102..0f), full MAC shown.
XCBC_KEY = h("000102030405060708090a0b0c0d0e0f")
XCBC_CASES = [
    (b"", "75f0251d528ac01c4573dfd584d79f29"),
    (h("000102"), "5b376580ae2f19afe7219ceef172756f"),
    (bytes(range(16)), "d2a246fa349b68a79998a4394ff7a263"),
    (bytes(range(20)), "47f51b4564966215b8985c63055ed308"),
    (bytes(range(32)), "f54f0ec8d2b9f3d36807734bd5283fd4"),
    (bytes(range(34)), "becbb3bccdb518a30677d5481fb6b4d8"),
    (bytes(1000), "f0dafee895db30253761103b5d84528f"),
]

# RFC 4493 §4 examples 1-4 (key 2b7e1516..); RFC 4494 §4 truncates to 96 bits.
CMAC_KEY = h("2b7e151628aed2a6abf7158809cf4f3c")
_M = h(
    "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
    "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710"
)
CMAC_CASES = [
    (_M[:0], "bb1d6929e95937287fa37d129b756746"),
    (_M[:16], "070a16b46b4d4144f79bdd9dd04a287c"),
    (_M[:40], "dfa66747de9ae63030ca32611497c827"),
    (_M[:64], "51f0bebf7e3b9d92fc49741779363cfe"),
]

INTEG_CASES += [(IntegId.AES_XCBC_96, XCBC_KEY, m, out[:24]) for m, out in XCBC_CASES]
INTEG_CASES += [(IntegId.AES_CMAC_96, CMAC_KEY, m, out[:24]) for m, out in CMAC_CASES]


@pytest.mark.parametrize(("iid", "key", "data", "icv"), INTEG_CASES)
def test_integ_known_answers(iid: IntegId, key: bytes, data: bytes, icv: str) -> None:
    alg = integ(iid)
    assert alg.mac(key, data) == h(icv)
    assert alg.icv_bytes == len(h(icv))
    assert alg.verify(key, data, h(icv))
    bad = bytearray(h(icv))
    bad[-1] ^= 1
    assert not alg.verify(key, data, bytes(bad))


@pytest.mark.parametrize(("data", "mac"), XCBC_CASES)
def test_rfc3566_full_xcbc_mac(data: bytes, mac: str) -> None:
    assert xcbc_mac(XCBC_KEY, data) == h(mac)


@pytest.mark.parametrize(("data", "mac"), CMAC_CASES)
def test_rfc4493_full_cmac_as_prf_with_16_byte_key(data: bytes, mac: str) -> None:
    # RFC 4615 §3: a 128-bit key is used as is, so the PRF is plain AES-CMAC.
    assert prf(PrfId.AES128_CMAC).prf(CMAC_KEY, data) == h(mac)
