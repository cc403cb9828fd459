"""NIST CAVP/ACVP IKEv2 KDF sample (SP 800-135 §4.2), HMAC-SHA1, DKM 1056 bits.

The values are NIST's sample vector as carried in Libreswan's CAVP self-tests;
they exercise SKEYSEED, prf+ over several iterations, Child SA KEYMAT with and
without a fresh g^ir, and the IKE SA rekey SKEYSEED.
"""

from __future__ import annotations

from cygnet.ike import keymat
from cygnet.ike.iana import EncrId, IntegId, PrfId
from cygnet.ike.transforms import encr, integ, prf

h = bytes.fromhex

G_IR = h("4b2c1f971981a8ad8d0abeafabf38cf75fc8349c148142465ed9c8b516b8be52")
G_IR_NEW = h("863f3c9d06efd39d2b907b97f8699e5dd5251ef64a2a176f36ee40c87d4f9330")
NI = h("32b50d5f4a3763f3")
NR = h("9206a04b26564cb1")
SPI_I = h("34c9e7c188868785")
SPI_R = h("3ff77d760d2b2199")
SKEYSEED = h("a9a7b222b59f8f48645f28a1db5b5f5d7479cba7")
DKM = h(
    "a14293677cc80ff8f9cc0eee30d895da9d8f405666e30ef0dfcb63c634a46002"
    "a2a63080e514a062768b76606f9fa5e992204fc5a670bde3f10d6b027113936a"
    "5c55b648a194ae587b0088d52204b702c979fa280870d2ed41efa9c549fd1119"
    "8af1670b143d384bd275c5f594cf266b05ebadca855e4249520a441a81157435"
    "a7a56cc4"
)
DKM_CHILD = h(
    "8059e3ee8810e6c3a91bc8bcd2a7a41151b8d0e6ae239c7b38093ad85ef4c581"
    "1a8e7b5d1cdabd9560b2d5e092d1f24e2d4b85eccdf0ad0dc9abd94b51ee7181"
    "4ca6dbc8bb51b6309f5b9545c7eb35cf5580b1e521a8fe20754a2d883ba0c2cf"
    "285f524aea6545b33106bc03e614296d319d41d4b50b3f510b1c0a22f3e66499"
    "4d234cb4"
)
DKM_CHILD_DH = h(
    "bb43244c1860ad65ee1e211ffe8bb3661750c8f89cb9f547df7f4fa61d373016"
    "28190e38c66232eab4b3ab14c400a5197dd3730ed4820a8a10394d51e1c04000"
    "52f63ebd36b0e7ef53aaed31eba4a5080d7d4b5666023a8bbb5ffb7857240f9a"
    "05884d1b7d2f933708450b7b3288f1fc863ab49fa901227cffc06e27899c7054"
    "d56fd74c"
)
SKEYSEED_REKEY = h("63e81194946ebd05df7df5ebf5d8750056bf1f1d")

SHA1 = prf(PrfId.HMAC_SHA1)


def test_skeyseed() -> None:
    assert keymat.skeyseed(SHA1, NI, NR, G_IR) == SKEYSEED


def test_dkm_is_prf_plus() -> None:
    # {SK_d | SK_ai | ...} = prf+ (SKEYSEED, Ni | Nr | SPIi | SPIr); 132 octets = 7 iterations.
    assert SHA1.prf_plus(SKEYSEED, NI + NR + SPI_I + SPI_R, len(DKM)) == DKM


def test_ike_sa_keys_split_the_dkm() -> None:
    # AES-CBC-128 + HMAC-SHA1-96 + PRF-HMAC-SHA1 needs exactly 3*20 + 2*20 + 2*16 = 132 octets.
    keys = keymat.ike_sa_keys(SHA1, encr(EncrId.AES_CBC, 128), integ(IntegId.HMAC_SHA1_96),
                              SKEYSEED, NI, NR, SPI_I, SPI_R)
    assert (keys.sk_d + keys.sk_ai + keys.sk_ar + keys.sk_ei + keys.sk_er + keys.sk_pi
            + keys.sk_pr) == DKM
    assert [len(x) for x in (keys.sk_d, keys.sk_ai, keys.sk_ei, keys.sk_pi)] == [20, 20, 16, 20]


def test_child_keymat_without_pfs() -> None:
    sk_d = DKM[:20]
    assert SHA1.prf_plus(sk_d, NI + NR, len(DKM_CHILD)) == DKM_CHILD
    ck = keymat.child_sa_keys(SHA1, encr(EncrId.AES_CBC, 256), integ(IntegId.HMAC_SHA1_96),
                              sk_d, NI, NR)
    assert ck.encr_i + ck.integ_i + ck.encr_r + ck.integ_r == DKM_CHILD[:104]


def test_child_keymat_with_pfs() -> None:
    sk_d = DKM[:20]
    ck = keymat.child_sa_keys(SHA1, encr(EncrId.AES_CBC, 256), integ(IntegId.HMAC_SHA1_96),
                              sk_d, NI, NR, G_IR_NEW)
    assert ck.encr_i + ck.integ_i + ck.encr_r + ck.integ_r == DKM_CHILD_DH[:104]


def test_rekey_skeyseed() -> None:
    assert keymat.rekey_skeyseed(SHA1, DKM[:20], G_IR_NEW, NI, NR) == SKEYSEED_REKEY
