"""Known-answer checks run by `ipsec pluto --selftest`, as pluto runs its own.

A handful of published vectors through the same code paths the daemon uses
(`transforms`, `keymat`), so a broken `cryptography` build or a wrong
construction is caught before any peer is. Each check returns a label for
the report and raises AssertionError on a mismatch.
"""

from __future__ import annotations

from collections.abc import Callable

from cygnet.ike import keymat, transforms
from cygnet.ike.iana import EncrId, IntegId, PrfId

_h = bytes.fromhex


def _aes_gcm() -> list[str]:
    # NIST GCM spec test case 2 (all-zero key, IV and block), as ESP/IKE lay it out:
    # key || 4-octet salt, 8-octet IV.
    alg = transforms.encr(EncrId.AES_GCM_16, 128)
    out = alg.encrypt(bytes(16) + bytes(4), bytes(8), bytes(16))
    assert out == _h("0388dace60b6a392f328c2b971b2fe78ab6e47d42cec13bdf53a67b21257bddf")
    return ["one block (NIST GCM test case 2)"]


def _aes_ctr() -> list[str]:
    # RFC 3686 test vector #1: key, nonce 00000030, IV 0, "Single block msg".
    alg = transforms.encr(EncrId.AES_CTR, 128)
    key = _h("ae6852f8121067cc4bf7a5765577f39e") + _h("00000030")
    out = alg.encrypt(key, bytes(8), b"Single block msg")
    assert out == _h("e4095d4fb7a7b3792d6175a3261311b8")
    return ["Encrypting 16 octets using AES-CTR with 128-bit key"]


def _aes_cbc() -> list[str]:
    # RFC 3602 case 1.
    alg = transforms.encr(EncrId.AES_CBC, 128)
    out = alg.encrypt(
        _h("06a9214036b8a15b512e03d534120006"), _h("3dafba429d9eb430b422da802c9fac41"),
        b"Single block msg",
    )
    assert out == _h("e353779c1079aeb82708942dbe77181a")
    return ["Encrypting 16 bytes (1 block) using AES-CBC with 128-bit key"]


def _aes_xcbc() -> list[str]:
    # RFC 3566 test case 1: AES-XCBC-MAC-96 of the empty string.
    mac = transforms.integ(IntegId.AES_XCBC_96).mac(_h("000102030405060708090a0b0c0d0e0f"), b"")
    assert mac == _h("75f0251d528ac01c4573dfd5")
    return ["RFC 3566 Test Case 1: AES-XCBC-MAC-96 with 0-byte input"]


def _ikev2_kdf() -> list[str]:
    # NIST CAVP IKEv2 KDF sample (SHA-1): SKEYSEED from g^ir and the nonces.
    seed = keymat.skeyseed(
        transforms.prf(PrfId.HMAC_SHA1), _h("32b50d5f4a3763f3"), _h("9206a04b26564cb1"),
        _h("4b2c1f971981a8ad8d0abeafabf38cf75fc8349c148142465ed9c8b516b8be52"),
    )
    assert seed == _h("a9a7b222b59f8f48645f28a1db5b5f5d7479cba7")
    return ["CAVP: IKEv2 key derivation with HMAC-SHA1"]


CHECKS: tuple[tuple[str, Callable[[], list[str]]], ...] = (
    ("AES_GCM_16", _aes_gcm),
    ("AES_CTR", _aes_ctr),
    ("AES_CBC", _aes_cbc),
    ("AES_XCBC", _aes_xcbc),
    ("HMAC_SHA1", _ikev2_kdf),
)


def run() -> tuple[list[str], bool]:
    """Run every check; returns pluto-style report lines and whether all passed."""
    lines: list[str] = []
    ok = True
    for name, check in CHECKS:
        lines.append(f"testing {name}:")
        try:
            lines += [f"  {label}" for label in check()]
        except AssertionError:
            lines.append(f"  {name} self-test FAILED")
            ok = False
    return lines, ok
