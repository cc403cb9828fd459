"""Known answers for the key exchange methods.

RFC 5903 §8 (ECP groups 19/20/21: private values, the KE payloads' x | y data
and the shared secret x coordinate), RFC 7748 §6 (X25519/X448 as groups 31/32,
RFC 8031), and RFC 3526 (the MODP primes re-derived from their stated formula).
"""

from __future__ import annotations

import pytest

from cygnet.ike.iana import KeId
from cygnet.ike.transforms import ke


def h(s: str) -> bytes:
    return bytes.fromhex("".join(s.split()))


# RFC 5903 §8: (group, i, gix|giy, r, grx|gry, girx); the KE payloads are the
# RFC's "KEi"/"KEr" with their 8-octet headers removed.
RFC5903 = [
    (
        KeId.ECP_256,
        "C88F01F5 10D9AC3F 70A292DA A2316DE5 44E9AAB8 AFE84049 C62A9C57 862D1433",
        "DAD0B653 94221CF9 B051E1FE CA5787D0 98DFE637 FC90B9EF 945D0C37 72581180"
        "5271A046 1CDB8252 D61F1C45 6FA3E59A B1F45B33 ACCF5F58 389E0577 B8990BB3",
        "C6EF9C5D 78AE012A 011164AC B397CE20 88685D8F 06BF9BE0 B283AB46 476BEE53",
        "D12DFB52 89C8D4F8 1208B702 70398C34 2296970A 0BCCB74C 736FC755 4494BF63"
        "56FBF3CA 366CC23E 8157854C 13C58D6A AC23F046 ADA30F83 53E74F33 039872AB",
        "D6840F6B 42F6EDAF D13116E0 E1256520 2FEF8E9E CE7DCE03 812464D0 4B9442DE",
    ),
    (
        KeId.ECP_384,
        "099F3C70 34D4A2C6 99884D73 A375A67F 7624EF7C 6B3C0F16 0647B674 14DCE655"
        "E35B5380 41E649EE 3FAEF896 783AB194",
        "667842D7 D180AC2C DE6F74F3 7551F557 55C7645C 20EF73E3 1634FE72 B4C55EE6"
        "DE3AC808 ACB4BDB4 C88732AE E95F41AA 9482ED1F C0EEB9CA FC498462 5CCFC23F"
        "65032149 E0E144AD A0241815 35A0F38E EB9FCFF3 C2C947DA E69B4C63 4573A81C",
        "41CB0779 B4BDB85D 47846725 FBEC3C94 30FAB46C C8DC5060 855CC9BD A0AA2942"
        "E0308312 916B8ED2 960E4BD5 5A7448FC",
        "E558DBEF 53EECDE3 D3FCCFC1 AEA08A89 A987475D 12FD950D 83CFA417 32BC509D"
        "0D1AC43A 0336DEF9 6FDA41D0 774A3571 DCFBEC7A ACF31964 72169E83 8430367F"
        "66EEBE3C 6E70C416 DD5F0C68 759DD1FF F83FA401 42209DFF 5EAAD96D B9E6386C",
        "11187331 C279962D 93D60424 3FD592CB 9D0A926F 422E4718 7521287E 7156C5C4"
        "D6031355 69B9E9D0 9CF5D4A2 70F59746",
    ),
    (
        KeId.ECP_521,
        "0037ADE9 319A89F4 DABDB3EF 411AACCC A5123C61 ACAB57B5 393DCE47 608172A0"
        "95AA85A3 0FE1C295 2C6771D9 37BA9777 F5957B26 39BAB072 462F68C2 7A57382D 4A52",
        "0015417E 84DBF28C 0AD3C278 713349DC 7DF153C8 97A1891B D98BAB43 57C9ECBE"
        "E1E3BF42 E00B8E38 0AEAE57C 2D107564 94188594 2AF5A7F4 601723C4 195D176C"
        "ED3E017C AE20B664 1D2EEB69 5786D8C9 46146239 D099E18E 1D5A514C 739D7CB4"
        "A10AD8A7 88015AC4 05D7799D C75E7B7D 5B6CF226 1A6A7F15 07438BF0 1BEB6CA3 926F9582",
        "0145BA99 A847AF43 793FDD0E 872E7CDF A16BE30F DC780F97 BCCC3F07 8380201E"
        "9C677D60 0B343757 A3BDBF2A 3163E4C2 F869CCA7 458AA4A4 EFFC311F 5CB15168 5EB9",
        "00D0B397 5AC4B799 F5BEA16D 5E13E9AF 971D5E9B 984C9F39 728B5E57 39735A21"
        "9B97C356 436ADC6E 95BB0352 F6BE64A6 C2912D4E F2D0433C ED2B6171 640012D9"
        "460F015C 68226383 956E3BD0 66E797B6 23C27CE0 EAC2F551 A10C2C72 4D985207"
        "7B87220B 6536C5C4 08A1D2AE BB8E86D6 78AE49CB 57091F47 32296579 AB44FCD1 7F0FC56A",
        "01144C7D 79AE6956 BC8EDB8E 7C787C45 21CB086F A64407F9 7894E5E6 B2D79B04"
        "D1427E73 CA4BAA24 0A347868 59810C06 B3C715A3 A8CC3151 F2BEE417 996D19F3 DDEA",
    ),
]


@pytest.mark.parametrize(("group", "i", "gi", "r", "gr", "girx"), RFC5903,
                         ids=lambda v: getattr(v, "name", ""))
def test_rfc5903_ecp(group: KeId, i: str, gi: str, r: str, gr: str, girx: str) -> None:
    alg = ke(group)
    init = alg.share_from_private(h(i))
    resp = alg.share_from_private(h(r))
    # RFC 5903 §7: the KE data is x | y, no point-format octet.
    assert init.public == h(gi)
    assert resp.public == h(gr)
    assert len(init.public) == alg.public_bytes_len
    # The shared secret is the x coordinate only, at the field size.
    assert init.complete(h(gr)) == h(girx)
    assert resp.complete(h(gi)) == h(girx)


# RFC 7748 §6.1 (Curve25519) and §6.2 (Curve448): Alice's and Bob's keys and K.
RFC7748 = [
    (
        KeId.CURVE25519,
        "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
        "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
        "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
        "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
        "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742",
    ),
    (
        KeId.CURVE448,
        "9a8f4925d1519f5775cf46b04b5800d4ee9ee8bae8bc5565d498c28dd9c9baf5"
        "74a9419744897391006382a6f127ab1d9ac2d8c0a598726b",
        "9b08f7cc31b7e3e67d22d5aea121074a273bd2b83de09c63faa73d2c22c5d9bb"
        "c836647241d953d40c5b12da88120d53177f80e532c41fa0",
        "1c306a7ac2a0e2e0990b294470cba339e6453772b075811d8fad0d1d6927c120"
        "bb5ee8972b0d3e21374c9c921b09d1b0366f10b65173992d",
        "3eb7a829b0cd20f5bcfc0b599b6feccf6da4627107bdb0d4f345b43027d8b972"
        "fc3e34fb4232a13ca706dcb57aec3dae07bdc1c67bf33609",
        "07fff4181ac6cc95ec1c16a94a0f74d12da232ce40a77552281d282bb60c0b56"
        "fd2464c335543936521c24403085d59a449a5037514a879d",
    ),
]


@pytest.mark.parametrize(("group", "a", "a_pub", "b", "b_pub", "k"), RFC7748,
                         ids=lambda v: getattr(v, "name", ""))
def test_rfc7748_x25519_x448(group: KeId, a: str, a_pub: str, b: str, b_pub: str,
                             k: str) -> None:
    alg = ke(group)
    alice = alg.share_from_private(h(a))
    bob = alg.share_from_private(h(b))
    # RFC 8031 §3: the KE data is the raw public key (u-coordinate, little-endian).
    assert alice.public == h(a_pub)
    assert bob.public == h(b_pub)
    assert alice.complete(bob.public) == h(k)
    assert bob.complete(alice.public) == h(k)


def _pi_bits(prec: int) -> int:
    """floor(pi * 2^prec) by Machin's formula, to re-derive the RFC 3526 primes."""
    one = 1 << (prec + 16)

    def arctan_inv(x: int) -> int:
        total = term = one // x
        n, sign, x2 = 1, -1, x * x
        while term:
            term //= x2
            n += 2
            total += sign * (term // n)
            sign = -sign
        return total

    return (4 * (4 * arctan_inv(5) - arctan_inv(239))) >> 16


# RFC 3526 (and RFC 2409 §6.2 for group 5): p = 2^N - 2^(N-64) - 1 + 2^64 * ([2^(N-130) pi] + k).
RFC3526 = [
    (KeId.MODP1536, 1536, 741804),
    (KeId.MODP2048, 2048, 124476),
    (KeId.MODP3072, 3072, 1690314),
    (KeId.MODP4096, 4096, 240904),
    (KeId.MODP6144, 6144, 929484),
    (KeId.MODP8192, 8192, 4743158),
]


@pytest.mark.parametrize(("group", "bits", "offset"), RFC3526, ids=lambda v: str(v))
def test_rfc3526_primes(group: KeId, bits: int, offset: int) -> None:
    pi = _pi_bits(8300)
    p = 2**bits - 2 ** (bits - 64) - 1 + 2**64 * ((pi >> (8300 - (bits - 130))) + offset)
    alg = ke(group)
    assert alg.p == p  # type: ignore[attr-defined]
    assert alg.name == f"MODP{bits}"
    assert alg.public_bytes_len == bits // 8


def test_modp_public_value_is_g_to_the_x_padded() -> None:
    # RFC 7296 §3.4: KE data for MODP is g^x as a big-endian integer, zero-padded
    # to the modulus length; x = 1 gives 2, which must be padded to 256 octets.
    alg = ke(KeId.MODP2048)
    share = alg.share_from_private(b"\x01")
    assert share.public == (2).to_bytes(256, "big")
    x = int.from_bytes(bytes(range(1, 33)), "big")
    share = alg.share_from_private(bytes(range(1, 33)))
    assert share.public == pow(2, x, alg.p).to_bytes(256, "big")  # type: ignore[attr-defined]
    # (g^y)^x with y = 3: the secret is g^(3x) mod p, zero-padded.
    gy = pow(2, 3, alg.p).to_bytes(256, "big")  # type: ignore[attr-defined]
    assert share.complete(gy) == pow(2, 3 * x, alg.p).to_bytes(256, "big")  # type: ignore[attr-defined]
