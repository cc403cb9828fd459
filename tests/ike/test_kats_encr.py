"""Known answers for the ENCR transforms, through the wire conventions.

RFC 3602 §4 (AES-CBC), RFC 3686 §6 (AES-CTR: key | 4-octet nonce, 8-octet IV),
RFC 7634 Appendix A (ESP) and B (IKEv2) for ChaCha20-Poly1305 (32-octet key |
4-octet salt, 8-octet IV), RFC 7539 §2.8.2, and GCM test case 4 of McGrew &
Viega's GCM specification (the RFC 4106 reference) split as salt | IV.
"""

from __future__ import annotations

import pytest

from cygnet.ike.errors import IntegrityError
from cygnet.ike.iana import EncrId
from cygnet.ike.transforms import encr


def h(s: str) -> bytes:
    return bytes.fromhex("".join(s.split()))


# (id, key bits, key material, iv, plaintext, aad, ciphertext[||tag])
CASES = [
    # RFC 3602 §4 case #1 and #2.
    (EncrId.AES_CBC, 128, "06a9214036b8a15b512e03d534120006", "3dafba429d9eb430b422da802c9fac41",
     b"Single block msg".hex(), "", "e353779c1079aeb82708942dbe77181a"),
    (EncrId.AES_CBC, 128, "c286696d887c9aa0611bbb3e2025a45a", "562e17996d093d28ddb3ba695a2e6f58",
     bytes(range(32)).hex(), "",
     "d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1"),
    # RFC 3686 §6 test vectors #1, #2, #3 (AES-128) and #7 (AES-256).
    (EncrId.AES_CTR, 128, "AE6852F8121067CC4BF7A5765577F39E 00000030", "0000000000000000",
     b"Single block msg".hex(), "", "E4095D4FB7A7B3792D6175A3261311B8"),
    (EncrId.AES_CTR, 128, "7E24067817FAE0D743D6CE1F32539163 006CB6DB", "C0543B59DA48D90B",
     bytes(range(32)).hex(), "",
     "5104A106168A72D9790D41EE8EDAD388EB2E1EFC46DA57C8FCE630DF9141BE28"),
    (EncrId.AES_CTR, 128, "7691BE035E5020A8AC6E618529F9A0DC 00E0017B", "27777F3F4A1786F0",
     bytes(range(36)).hex(), "",
     "C1CF48A89F2FFDD9CF4652E9EFDB72D74540A42BDE6D7836D59A5CEAAEF3105325B2072F"),
    (EncrId.AES_CTR, 256,
     "776BEFF2851DB06F4C8A0542C8696F6C6A81AF1EEC96B4D37FC1D689E6C1C104 00000060",
     "DB5672C97AA8F0B2", b"Single block msg".hex(), "", "145AD01DBF824EC7560863DC71E3E0C0"),
    # RFC 7634 Appendix A: ESP, AAD = SPI | 32-bit sequence number.
    (EncrId.CHACHA20_POLY1305, None,
     "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f a0a1a2a3",
     "1011121314151617",
     "45000054a6f2000040 01e778c6336405c000020508005b7a3a080000553bec100007362708090a0b0c0d0e0f"
     "101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637 01020204",
     "0102030400000005",
     "24039428b97f417e3c13753a4f05087b67c352e6a7fab1b982d466ef407ae5c614ee8099d52844eb61aa95df"
     "ab4c02f72aa71e7c4c4f64c9befe2facc638e8f3cbec163fac469b502773f6fb94e664da9165b82829f641e0"
     "76aaa8266b7fb0f7b11b369907e1ad43"),
    # RFC 7634 Appendix B: IKEv2, AAD = IKE header | SK payload header.
    (EncrId.CHACHA20_POLY1305, None,
     "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f a0a1a2a3",
     "1011121314151617", "0000000c000040010000000a00",
     "c0c1c2c3c4c5c6c7d0d1d2d3d4d5d6d7 2e202500000000090000004529000029",
     "610394701f8d017f7c12924889 6b71bfe25236efd7cdc670669063 15b2"),
    # RFC 7539 §2.8.2: nonce 07000000 | 4041424344454647 maps to salt | IV.
    (EncrId.CHACHA20_POLY1305, None,
     "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f 07000000",
     "4041424344454647",
     b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for "
     b"the future, sunscreen would be it.".hex(),
     "50515253c0c1c2c3c4c5c6c7",
     "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69"
     "da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad67594"
     "5585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116 1ae10b594f09e26a7e902ecbd0600691"),
    # GCM spec test case 4 (AES-128, 96-bit IV cafebabefacedbaddecaf888): salt | IV.
    (EncrId.AES_GCM_16, 128, "feffe9928665731c6d6a8f9467308308 cafebabe", "facedbaddecaf888",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e24"
     "49a6b525b16aedf5aa0de657ba637b39",
     "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5a"
     "ac84aa051ba30b396a0aac973d58e091 5bc94fbc3221a5db94fae95ae7121a47"),
]


@pytest.mark.parametrize(("eid", "bits", "key", "iv", "pt", "aad", "ct"), CASES)
def test_encr_known_answers(eid: EncrId, bits: int | None, key: str, iv: str, pt: str, aad: str,
                            ct: str) -> None:
    alg = encr(eid, bits)
    assert alg.key_bytes == len(h(key))
    assert alg.iv_bytes == len(h(iv))
    assert alg.encrypt(h(key), h(iv), h(pt), h(aad)) == h(ct)
    assert alg.decrypt(h(key), h(iv), h(ct), h(aad)) == h(pt)
    if alg.aead:
        bad = bytearray(h(ct))
        bad[0] ^= 0x80
        with pytest.raises(IntegrityError):
            alg.decrypt(h(key), h(iv), bytes(bad), h(aad))


@pytest.mark.parametrize(("eid", "icv"), [(EncrId.AES_GCM_8, 8), (EncrId.AES_GCM_12, 12)])
def test_gcm_short_icv_is_truncated_tag(eid: EncrId, icv: int) -> None:
    # RFC 4106 §6: the 8- and 12-octet ICVs are the leading octets of the GCM tag.
    _, _, key, iv, pt, aad, ct = CASES[-1]
    full = h(ct)
    short = full[: len(full) - 16 + icv]
    alg = encr(eid, 128)
    assert alg.encrypt(h(key), h(iv), h(pt), h(aad)) == short
    assert alg.decrypt(h(key), h(iv), short, h(aad)) == h(pt)
    with pytest.raises(IntegrityError):
        alg.decrypt(h(key), h(iv), short[:-1] + bytes([short[-1] ^ 1]), h(aad))
