"""IKEv2 transforms: ENCR, PRF, INTEG and KE algorithms, by IANA id.

Every primitive comes from `cryptography` (OpenSSL inside). The only
constructions built here are the RFC 3566 XCBC-MAC mode on AES (a mode over
AES-CBC/ECB, as RFC 3566 specifies it) and the key-length rules of RFC 4434 /
RFC 4615 that turn XCBC and CMAC into variable-key PRFs.

Names are Libreswan's display names (`AES_GCM_16_256`, `HMAC_SHA2_256_128`,
`DH19`, ...) because they appear in user-visible status and log lines.

Wire conventions (RFC 7296 §3.3.5, RFC 4106/4309/5282/3686/7634): the key
material an ENCR transform takes from prf+ is the cipher key followed by the
salt/nonce (`key_bytes` counts both); the IV travels in the packet.
"""

from __future__ import annotations

import hmac as _hmac
import os
import warnings
from collections.abc import Callable
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import cmac as _cmac_mod
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as _chmac
from cryptography.hazmat.primitives.asymmetric import dh, ec, mlkem, x448, x25519
from cryptography.hazmat.primitives.ciphers import Cipher, CipherAlgorithm, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.utils import CryptographyDeprecationWarning

from cygnet.ike.errors import IntegrityError, InvalidKeError, UnsupportedTransform
from cygnet.ike.iana import EncrId, IntegId, KeId, PrfId

# MODP groups are still what Libreswan proposes first and what peers offer;
# cryptography's notice that finite-field DH is deprecated is not news to us.
warnings.filterwarnings(
    "ignore", message="Diffie-Hellman over finite fields", category=CryptographyDeprecationWarning
)

__all__ = [
    "CipherContext",
    "EncrAlg",
    "IntegAlg",
    "IntegContext",
    "KeAlg",
    "KeShare",
    "PrfAlg",
    "ENCR_ALGS",
    "INTEG_ALGS",
    "KE_ALGS",
    "PRF_ALGS",
    "encr",
    "integ",
    "ke",
    "prf",
    "xcbc_mac",
]

_AES_KEY_BITS = (128, 192, 256)


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


# ---------------------------------------------------------------------------
# ENCR
# ---------------------------------------------------------------------------


class CipherContext(Protocol):
    """A keyed cipher built once per SA (the ESP data plane's fast path)."""

    def encrypt(self, iv: bytes, plaintext: bytes, aad: bytes = b"") -> bytes: ...

    def decrypt(self, iv: bytes, ciphertext: bytes, aad: bytes = b"") -> bytes: ...


class EncrAlg:
    """One ENCR transform at one key length.

    `key_bytes` is what to take from prf+ (RFC 7296 §2.14, §2.17), including
    the salt of AEAD and CTR modes; `iv_bytes` is the explicit IV in each
    packet; `block_bytes` is the padding unit of the SK payload / ESP
    trailer (ESP still aligns to 4 octets, RFC 4303 §2.4); `icv_bytes` is
    the AEAD tag length, 0 when a separate INTEG transform is needed.
    """

    __slots__ = ("id", "key_bits", "name", "aead", "key_bytes", "salt_bytes",
                 "iv_bytes", "block_bytes", "icv_bytes", "_make")

    def __init__(self, id: EncrId, key_bits: int, name: str, *, aead: bool, key_bytes: int,
                 salt_bytes: int, iv_bytes: int, block_bytes: int, icv_bytes: int,
                 make: Callable[[bytes], CipherContext]) -> None:
        self.id = id
        self.key_bits = key_bits
        self.name = name
        self.aead = aead
        self.key_bytes = key_bytes
        self.salt_bytes = salt_bytes
        self.iv_bytes = iv_bytes
        self.block_bytes = block_bytes
        self.icv_bytes = icv_bytes
        self._make = make

    def __repr__(self) -> str:
        return f"<EncrAlg {self.name}>"

    def cipher_context(self, key: bytes) -> CipherContext:
        """Key the cipher once (key includes the salt); reuse it for every packet of the SA."""
        if len(key) != self.key_bytes:
            raise ValueError(f"{self.name}: key material must be {self.key_bytes} bytes")
        return self._make(key)

    def random_iv(self) -> bytes:
        """A fresh IV. RFC 4106 §3.1 / RFC 7634 §2 need uniqueness only, random is fine at 64 bits
        for IKE; the ESP data plane should use a counter instead."""
        return os.urandom(self.iv_bytes)

    def encrypt(self, key: bytes, iv: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
        """AEAD: ciphertext||ICV. CBC: plaintext must already be padded. CTR: any length."""
        return self.cipher_context(key).encrypt(iv, plaintext, aad)

    def decrypt(self, key: bytes, iv: bytes, ciphertext: bytes, aad: bytes = b"") -> bytes:
        """Inverse of `encrypt`; a bad tag or malformed ciphertext raises IntegrityError."""
        return self.cipher_context(key).decrypt(iv, ciphertext, aad)


class _NullCtx:
    """ENCR_NULL (RFC 2410): ESP with integrity only."""

    __slots__ = ()

    def encrypt(self, iv: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
        return bytes(plaintext)

    def decrypt(self, iv: bytes, ciphertext: bytes, aad: bytes = b"") -> bytes:
        return bytes(ciphertext)


class _CbcCtx:
    """CBC with an explicit per-packet IV (RFC 3602 for AES, RFC 2451 for 3DES)."""

    __slots__ = ("_alg", "_block")

    def __init__(self, alg: CipherAlgorithm, block: int) -> None:
        self._alg = alg
        self._block = block

    def encrypt(self, iv: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
        if len(plaintext) % self._block:
            raise ValueError("CBC plaintext must be padded to the block size")
        enc = Cipher(self._alg, modes.CBC(iv)).encryptor()
        return enc.update(plaintext) + enc.finalize()

    def decrypt(self, iv: bytes, ciphertext: bytes, aad: bytes = b"") -> bytes:
        if len(ciphertext) % self._block or len(iv) != self._block:
            raise IntegrityError("CBC ciphertext or IV is not a whole number of blocks")
        dec = Cipher(self._alg, modes.CBC(iv)).decryptor()
        return dec.update(ciphertext) + dec.finalize()


class _CtrCtx:
    """AES-CTR as RFC 3686 §4: counter block = nonce(4) | IV(8) | counter(4) from 1."""

    __slots__ = ("_alg", "_nonce")

    def __init__(self, key: bytes) -> None:
        self._alg = algorithms.AES(key[:-4])
        self._nonce = key[-4:]

    def _crypt(self, iv: bytes, data: bytes) -> bytes:
        if len(iv) != 8:
            raise IntegrityError("AES-CTR IV must be 8 bytes")
        c = Cipher(self._alg, modes.CTR(self._nonce + iv + b"\x00\x00\x00\x01")).encryptor()
        return c.update(data) + c.finalize()

    def encrypt(self, iv: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
        return self._crypt(iv, plaintext)

    def decrypt(self, iv: bytes, ciphertext: bytes, aad: bytes = b"") -> bytes:
        return self._crypt(iv, ciphertext)


class _AeadCtx:
    """An AEAD whose nonce is salt | IV: GCM (RFC 4106 §4), CCM (RFC 4309 §4),
    ChaCha20-Poly1305 (RFC 7634 §2). The salt is the tail of the key material."""

    __slots__ = ("_aead", "_salt", "_iv_len", "_icv")

    def __init__(self, aead: AESGCM | AESCCM | ChaCha20Poly1305, salt: bytes, icv: int) -> None:
        self._aead = aead
        self._salt = salt
        self._iv_len = 8
        self._icv = icv

    def encrypt(self, iv: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
        return self._aead.encrypt(self._salt + iv, plaintext, aad)

    def decrypt(self, iv: bytes, ciphertext: bytes, aad: bytes = b"") -> bytes:
        if len(iv) != self._iv_len or len(ciphertext) < self._icv:
            raise IntegrityError("AEAD IV or ciphertext too short")
        try:
            return self._aead.decrypt(self._salt + iv, ciphertext, aad)
        except (InvalidTag, ValueError) as e:
            raise IntegrityError("AEAD tag did not verify") from e


class _GcmShortCtx:
    """AES-GCM with an 8- or 12-octet ICV (RFC 4106 §6): the full tag truncated."""

    __slots__ = ("_alg", "_salt", "_icv")

    def __init__(self, key: bytes, icv: int) -> None:
        self._alg = algorithms.AES(key[:-4])
        self._salt = key[-4:]
        self._icv = icv

    def encrypt(self, iv: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
        enc = Cipher(self._alg, modes.GCM(self._salt + iv)).encryptor()
        if aad:
            enc.authenticate_additional_data(aad)
        ct = enc.update(plaintext) + enc.finalize()
        return ct + enc.tag[: self._icv]

    def decrypt(self, iv: bytes, ciphertext: bytes, aad: bytes = b"") -> bytes:
        if len(iv) != 8 or len(ciphertext) < self._icv:
            raise IntegrityError("AEAD IV or ciphertext too short")
        ct, tag = ciphertext[: -self._icv], ciphertext[-self._icv:]
        dec = Cipher(
            self._alg, modes.GCM(self._salt + iv, tag, min_tag_length=self._icv)
        ).decryptor()
        if aad:
            dec.authenticate_additional_data(aad)
        pt = dec.update(ct)
        try:
            return pt + dec.finalize()
        except InvalidTag as e:
            raise IntegrityError("AEAD tag did not verify") from e


def _aes_cbc(bits: int) -> EncrAlg:
    return EncrAlg(EncrId.AES_CBC, bits, f"AES_CBC_{bits}", aead=False, key_bytes=bits // 8,
                   salt_bytes=0, iv_bytes=16, block_bytes=16, icv_bytes=0,
                   make=lambda k: _CbcCtx(algorithms.AES(k), 16))


def _aes_ctr(bits: int) -> EncrAlg:
    # RFC 5930 §2 / RFC 3686: KEYMAT is key | 4-octet nonce; no padding needed (block 1).
    return EncrAlg(EncrId.AES_CTR, bits, f"AES_CTR_{bits}", aead=False,
                   key_bytes=bits // 8 + 4, salt_bytes=4, iv_bytes=8, block_bytes=1,
                   icv_bytes=0, make=_CtrCtx)


def _aes_gcm(eid: EncrId, icv: int, bits: int) -> EncrAlg:
    def make(k: bytes) -> CipherContext:
        if icv == 16:
            return _AeadCtx(AESGCM(k[:-4]), k[-4:], 16)
        return _GcmShortCtx(k, icv)

    # RFC 5282 §7.1 / RFC 4106 §8.1: key | 4-octet salt; block size 4 for padding purposes.
    return EncrAlg(eid, bits, f"AES_GCM_{icv}_{bits}", aead=True, key_bytes=bits // 8 + 4,
                   salt_bytes=4, iv_bytes=8, block_bytes=4, icv_bytes=icv, make=make)


def _aes_ccm(eid: EncrId, icv: int, bits: int) -> EncrAlg:
    # RFC 4309 §7.1 / RFC 5282 §7.1: key | 3-octet salt, 11-octet nonce.
    return EncrAlg(eid, bits, f"AES_CCM_{icv}_{bits}", aead=True, key_bytes=bits // 8 + 3,
                   salt_bytes=3, iv_bytes=8, block_bytes=4, icv_bytes=icv,
                   make=lambda k: _AeadCtx(AESCCM(k[:-3], tag_length=icv), k[-3:], icv))


_CHACHA = EncrAlg(
    EncrId.CHACHA20_POLY1305, 256, "CHACHA20_POLY1305", aead=True, key_bytes=36, salt_bytes=4,
    iv_bytes=8, block_bytes=4, icv_bytes=16,
    make=lambda k: _AeadCtx(ChaCha20Poly1305(k[:32]), k[32:], 16),
)
_3DES = EncrAlg(
    EncrId.TRIPLE_DES, 192, "3DES_CBC", aead=False, key_bytes=24, salt_bytes=0, iv_bytes=8,
    block_bytes=8, icv_bytes=0, make=lambda k: _CbcCtx(TripleDES(k), 8),
)
_NULL = EncrAlg(
    EncrId.NULL, 0, "NULL", aead=False, key_bytes=0, salt_bytes=0, iv_bytes=0, block_bytes=1,
    icv_bytes=0, make=lambda k: _NullCtx(),
)

#: Every ENCR transform, keyed by (id, key bits); fixed-length ciphers also under (id, None).
ENCR_ALGS: dict[tuple[int, int | None], EncrAlg] = {}
for _bits in _AES_KEY_BITS:
    for _alg in (
        _aes_cbc(_bits),
        _aes_ctr(_bits),
        _aes_gcm(EncrId.AES_GCM_8, 8, _bits),
        _aes_gcm(EncrId.AES_GCM_12, 12, _bits),
        _aes_gcm(EncrId.AES_GCM_16, 16, _bits),
        _aes_ccm(EncrId.AES_CCM_8, 8, _bits),
        _aes_ccm(EncrId.AES_CCM_12, 12, _bits),
        _aes_ccm(EncrId.AES_CCM_16, 16, _bits),
    ):
        ENCR_ALGS[(_alg.id, _bits)] = _alg
# Fixed-key ciphers: RFC 7634 §3 and RFC 7296 §3.3.5 say no Key Length attribute;
# tolerate one that states the only valid length.
ENCR_ALGS[(EncrId.CHACHA20_POLY1305, None)] = _CHACHA
ENCR_ALGS[(EncrId.CHACHA20_POLY1305, 256)] = _CHACHA
ENCR_ALGS[(EncrId.TRIPLE_DES, None)] = _3DES
ENCR_ALGS[(EncrId.TRIPLE_DES, 192)] = _3DES
ENCR_ALGS[(EncrId.NULL, None)] = _NULL
ENCR_ALGS[(EncrId.NULL, 0)] = _NULL


def encr(id: int, key_bits: int | None) -> EncrAlg:
    """The ENCR transform `id` at `key_bits` (the KEY_LENGTH attribute, None if absent).

    RFC 7296 §3.3.5: AES needs the attribute; a missing or odd length is not a
    transform we can select, so it raises UnsupportedTransform.
    """
    try:
        return ENCR_ALGS[(id, key_bits)]
    except KeyError:
        raise UnsupportedTransform(f"ENCR {id} key length {key_bits}") from None


# ---------------------------------------------------------------------------
# XCBC (RFC 3566) and CMAC helpers
# ---------------------------------------------------------------------------

_ZERO16 = bytes(16)


class _Xcbc:
    """AES-XCBC-MAC (RFC 3566 §4) keyed once: K1, K2, K3 derived with AES-ECB."""

    __slots__ = ("_k1", "_k2", "_k3")

    def __init__(self, key: bytes) -> None:
        if len(key) != 16:
            raise ValueError("AES-XCBC-MAC key must be 128 bits (RFC 3566 §4)")
        enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
        ks = enc.update(b"\x01" * 16 + b"\x02" * 16 + b"\x03" * 16)
        self._k1 = algorithms.AES(ks[:16])
        self._k2 = ks[16:32]
        self._k3 = ks[32:]

    def mac(self, data: bytes) -> bytes:
        n = len(data)
        rem = n % 16
        if n and not rem:
            # RFC 3566 §4 (a): last block complete: XOR with K2.
            body, last = data[:-16], _xor(data[-16:], self._k2)
        else:
            # (b): pad with 0x80 0x00.. and XOR with K3 (also for the empty message).
            body = data[: n - rem]
            last = _xor(data[n - rem:] + b"\x80" + bytes(15 - rem), self._k3)
        # CBC-MAC with K1 over the blocks; the XOR into the last plaintext block
        # equals XORing into the CBC input E[n-1] ^ M[n] of RFC 3566 step (3).
        enc = Cipher(self._k1, modes.CBC(_ZERO16)).encryptor()
        out = enc.update(body + last)
        return out[-16:]


def xcbc_mac(key: bytes, data: bytes) -> bytes:
    """Full 128-bit AES-XCBC-MAC of RFC 3566 (no truncation)."""
    return _Xcbc(key).mac(data)


def _cmac(key: bytes, data: bytes) -> bytes:
    c = _cmac_mod.CMAC(algorithms.AES(key))
    c.update(data)
    return c.finalize()


# ---------------------------------------------------------------------------
# PRF
# ---------------------------------------------------------------------------


class PrfAlg:
    """A PRF transform (RFC 7296 §2.13). `key_bytes` is its preferred key
    length (the size of SK_d, SK_pi, SK_pr); `out_bytes` its output size."""

    __slots__ = ("id", "name", "key_bytes", "out_bytes")

    def __init__(self, id: PrfId, name: str, key_bytes: int, out_bytes: int) -> None:
        self.id = id
        self.name = name
        self.key_bytes = key_bytes
        self.out_bytes = out_bytes

    def __repr__(self) -> str:
        return f"<PrfAlg {self.name}>"

    def keyed(self, key: bytes) -> Callable[[bytes], bytes]:
        """prf(key, ·) with the key schedule done once (HMAC pads, XCBC subkeys)."""
        raise NotImplementedError

    def prf(self, key: bytes, data: bytes) -> bytes:
        return self.keyed(key)(data)

    def prf_plus(self, key: bytes, seed: bytes, length: int) -> bytes:
        """prf+ of RFC 7296 §2.13: T1 | T2 | ..., Tn = prf(K, Tn-1 | S | n), n in 1..255."""
        out_len = self.out_bytes
        n = -(-length // out_len)
        if n > 255:
            raise ValueError("prf+ is limited to 255 iterations (RFC 7296 §2.13)")
        f = self.keyed(key)
        t = b""
        parts = []
        for i in range(1, n + 1):
            t = f(t + seed + bytes((i,)))
            parts.append(t)
        return b"".join(parts)[:length]


class _HmacPrf(PrfAlg):
    """PRF_HMAC_* (RFC 2104, RFC 4868 §2.1): any key length, output = digest size."""

    __slots__ = ("_hash",)

    def __init__(self, id: PrfId, name: str, hash_cls: type[hashes.HashAlgorithm]) -> None:
        h = hash_cls()
        super().__init__(id, name, h.digest_size, h.digest_size)
        self._hash = h

    def keyed(self, key: bytes) -> Callable[[bytes], bytes]:
        base = _chmac.HMAC(key, self._hash)

        def f(data: bytes) -> bytes:
            h = base.copy()
            h.update(data)
            return h.finalize()

        return f


class _XcbcPrf(PrfAlg):
    """PRF_AES128_XCBC (RFC 4434 §2): key shorter than 128 bits is zero-padded,
    longer is first reduced to AES-XCBC-MAC(0^128, key)."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(PrfId.AES128_XCBC, "AES_XCBC", 16, 16)

    @staticmethod
    def normalize_key(key: bytes) -> bytes:
        if len(key) == 16:
            return key
        if len(key) < 16:
            return key + bytes(16 - len(key))
        return _Xcbc(_ZERO16).mac(key)

    def keyed(self, key: bytes) -> Callable[[bytes], bytes]:
        return _Xcbc(self.normalize_key(key)).mac


class _CmacPrf(PrfAlg):
    """PRF_AES128_CMAC (RFC 4615 §3): any key not 128 bits long is first
    reduced to AES-CMAC(0^128, key), including shorter ones."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(PrfId.AES128_CMAC, "AES_CMAC", 16, 16)

    @staticmethod
    def normalize_key(key: bytes) -> bytes:
        return key if len(key) == 16 else _cmac(_ZERO16, key)

    def keyed(self, key: bytes) -> Callable[[bytes], bytes]:
        base = _cmac_mod.CMAC(algorithms.AES(self.normalize_key(key)))

        def f(data: bytes) -> bytes:
            c = base.copy()
            c.update(data)
            return c.finalize()

        return f


PRF_ALGS: dict[int, PrfAlg] = {
    a.id: a
    for a in (
        _HmacPrf(PrfId.HMAC_MD5, "HMAC_MD5", hashes.MD5),
        _HmacPrf(PrfId.HMAC_SHA1, "HMAC_SHA1", hashes.SHA1),
        _HmacPrf(PrfId.HMAC_SHA2_256, "HMAC_SHA2_256", hashes.SHA256),
        _HmacPrf(PrfId.HMAC_SHA2_384, "HMAC_SHA2_384", hashes.SHA384),
        _HmacPrf(PrfId.HMAC_SHA2_512, "HMAC_SHA2_512", hashes.SHA512),
        _XcbcPrf(),
        _CmacPrf(),
    )
}


def prf(id: int) -> PrfAlg:
    """The PRF transform `id`; raises UnsupportedTransform."""
    try:
        return PRF_ALGS[id]
    except KeyError:
        raise UnsupportedTransform(f"PRF {id}") from None


# ---------------------------------------------------------------------------
# INTEG
# ---------------------------------------------------------------------------


class IntegContext(Protocol):
    """An integrity transform keyed once per SA."""

    def mac(self, data: bytes) -> bytes: ...

    def verify(self, data: bytes, icv: bytes) -> bool: ...


class _KeyedInteg:
    __slots__ = ("_f", "_icv")

    def __init__(self, f: Callable[[bytes], bytes], icv: int) -> None:
        self._f = f
        self._icv = icv

    def mac(self, data: bytes) -> bytes:
        return self._f(data)[: self._icv]

    def verify(self, data: bytes, icv: bytes) -> bool:
        return _hmac.compare_digest(self._f(data)[: self._icv], icv)


class IntegAlg:
    """An INTEG transform: a MAC truncated to `icv_bytes` (RFC 2404, RFC 3566,
    RFC 4494, RFC 4868). `key_bytes` is fixed (RFC 7296 §3.3.5)."""

    __slots__ = ("id", "name", "key_bytes", "icv_bytes", "_keyed")

    def __init__(self, id: IntegId, name: str, key_bytes: int, icv_bytes: int,
                 keyed: Callable[[bytes], Callable[[bytes], bytes]]) -> None:
        self.id = id
        self.name = name
        self.key_bytes = key_bytes
        self.icv_bytes = icv_bytes
        self._keyed = keyed

    def __repr__(self) -> str:
        return f"<IntegAlg {self.name}>"

    def context(self, key: bytes) -> IntegContext:
        """Key once per SA; `mac`/`verify` then reuse the key schedule."""
        if len(key) != self.key_bytes:
            raise ValueError(f"{self.name}: key must be {self.key_bytes} bytes")
        return _KeyedInteg(self._keyed(key), self.icv_bytes)

    def mac(self, key: bytes, data: bytes) -> bytes:
        """The truncated ICV."""
        return self.context(key).mac(data)

    def verify(self, key: bytes, data: bytes, icv: bytes) -> bool:
        """Constant-time comparison of the truncated ICV."""
        return self.context(key).verify(data, icv)


def _hmac_keyed(hash_cls: type[hashes.HashAlgorithm]) -> Callable[[bytes], Callable[[bytes], bytes]]:
    h = hash_cls()

    def keyed(key: bytes) -> Callable[[bytes], bytes]:
        base = _chmac.HMAC(key, h)

        def f(data: bytes) -> bytes:
            x = base.copy()
            x.update(data)
            return x.finalize()

        return f

    return keyed


def _cmac_keyed(key: bytes) -> Callable[[bytes], bytes]:
    base = _cmac_mod.CMAC(algorithms.AES(key))

    def f(data: bytes) -> bytes:
        c = base.copy()
        c.update(data)
        return c.finalize()

    return f


INTEG_ALGS: dict[int, IntegAlg] = {
    a.id: a
    for a in (
        IntegAlg(IntegId.HMAC_MD5_96, "HMAC_MD5_96", 16, 12, _hmac_keyed(hashes.MD5)),
        IntegAlg(IntegId.HMAC_SHA1_96, "HMAC_SHA1_96", 20, 12, _hmac_keyed(hashes.SHA1)),
        IntegAlg(IntegId.HMAC_SHA2_256_128, "HMAC_SHA2_256_128", 32, 16,
                 _hmac_keyed(hashes.SHA256)),
        IntegAlg(IntegId.HMAC_SHA2_384_192, "HMAC_SHA2_384_192", 48, 24,
                 _hmac_keyed(hashes.SHA384)),
        IntegAlg(IntegId.HMAC_SHA2_512_256, "HMAC_SHA2_512_256", 64, 32,
                 _hmac_keyed(hashes.SHA512)),
        IntegAlg(IntegId.AES_XCBC_96, "AES_XCBC_96", 16, 12, lambda k: _Xcbc(k).mac),
        IntegAlg(IntegId.AES_CMAC_96, "AES_CMAC_96", 16, 12, _cmac_keyed),
    )
}


def integ(id: int) -> IntegAlg:
    """The INTEG transform `id`; raises UnsupportedTransform.

    INTEG NONE (0, used with AEAD ciphers) is not an algorithm: callers
    represent it as `None`, and asking for it here raises too.
    """
    try:
        return INTEG_ALGS[id]
    except KeyError:
        raise UnsupportedTransform(f"INTEG {id}") from None


# ---------------------------------------------------------------------------
# KE (transform type 4) and RFC 9370 additional key exchanges
# ---------------------------------------------------------------------------


class KeShare:
    """The initiator's half of a key exchange: `public` goes in its KE payload."""

    __slots__ = ("alg", "public")

    def __init__(self, alg: KeAlg, public: bytes) -> None:
        self.alg = alg
        self.public = public

    def complete(self, peer_value: bytes) -> bytes:
        """The shared secret from the responder's KE data; validates it (RFC 6989)."""
        raise NotImplementedError


class KeAlg:
    """A key exchange method. `public_bytes_len` is the initiator's KE data
    length, `response_bytes_len` the responder's (they differ for ML-KEM:
    encapsulation key vs ciphertext); `kem` marks RFC 9370-style KEMs."""

    __slots__ = ("id", "name", "public_bytes_len", "response_bytes_len", "kem")

    def __init__(self, id: KeId, name: str, public_bytes_len: int,
                 response_bytes_len: int | None = None, kem: bool = False) -> None:
        self.id = id
        self.name = name
        self.public_bytes_len = public_bytes_len
        self.response_bytes_len = public_bytes_len if response_bytes_len is None else response_bytes_len
        self.kem = kem

    def __repr__(self) -> str:
        return f"<KeAlg {self.name}>"

    def initiate(self) -> KeShare:
        """Initiator: a fresh private value and its public KE data."""
        raise NotImplementedError

    def respond(self, peer_value: bytes) -> tuple[bytes, bytes]:
        """Responder: (our KE data, shared secret); validates `peer_value` first."""
        raise NotImplementedError

    def share_from_private(self, private: bytes) -> KeShare:
        """A share from a fixed private value, for known-answer tests only (RFC 5903 §8,
        RFC 7748 §6): a big-endian exponent/scalar, an X25519/X448 private key, or an
        ML-KEM 64-byte seed (d | z)."""
        raise NotImplementedError


# --- MODP (RFC 3526 / RFC 2409 primes, generator 2) -----------------------

_MODP_1536 = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05"
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB"
    "9ED529077096966D670C354E4ABC9804F1746C08CA237327FFFFFFFFFFFFFFFF",
    16,
)
_MODP_2048 = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05"
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB"
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718"
    "3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF",
    16,
)
_MODP_3072 = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05"
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB"
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718"
    "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33"
    "A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7"
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864"
    "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2"
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF",
    16,
)
_MODP_4096 = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05"
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB"
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718"
    "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33"
    "A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7"
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864"
    "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2"
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D7"
    "88719A10BDBA5B2699C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8"
    "DBBBC2DB04DE8EF92E8EFC141FBECAA6287C59474E6BC05D99B2964FA090C3A2"
    "233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA9"
    "93B4EA988D8FDDC186FFB7DC90A6C08F4DF435C934063199FFFFFFFFFFFFFFFF",
    16,
)
_MODP_6144 = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05"
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB"
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718"
    "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33"
    "A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7"
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864"
    "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2"
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D7"
    "88719A10BDBA5B2699C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8"
    "DBBBC2DB04DE8EF92E8EFC141FBECAA6287C59474E6BC05D99B2964FA090C3A2"
    "233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA9"
    "93B4EA988D8FDDC186FFB7DC90A6C08F4DF435C93402849236C3FAB4D27C7026"
    "C1D4DCB2602646DEC9751E763DBA37BDF8FF9406AD9E530EE5DB382F413001AE"
    "B06A53ED9027D831179727B0865A8918DA3EDBEBCF9B14ED44CE6CBACED4BB1B"
    "DB7F1447E6CC254B332051512BD7AF426FB8F401378CD2BF5983CA01C64B92EC"
    "F032EA15D1721D03F482D7CE6E74FEF6D55E702F46980C82B5A84031900B1C9E"
    "59E7C97FBEC7E8F323A97A7E36CC88BE0F1D45B7FF585AC54BD407B22B4154AA"
    "CC8F6D7EBF48E1D814CC5ED20F8037E0A79715EEF29BE32806A1D58BB7C5DA76"
    "F550AA3D8A1FBFF0EB19CCB1A313D55CDA56C9EC2EF29632387FE8D76E3C0468"
    "043E8F663F4860EE12BF2D5B0B7474D6E694F91E6DCC4024FFFFFFFFFFFFFFFF",
    16,
)
_MODP_8192 = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05"
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB"
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718"
    "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33"
    "A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7"
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864"
    "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2"
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D7"
    "88719A10BDBA5B2699C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8"
    "DBBBC2DB04DE8EF92E8EFC141FBECAA6287C59474E6BC05D99B2964FA090C3A2"
    "233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA9"
    "93B4EA988D8FDDC186FFB7DC90A6C08F4DF435C93402849236C3FAB4D27C7026"
    "C1D4DCB2602646DEC9751E763DBA37BDF8FF9406AD9E530EE5DB382F413001AE"
    "B06A53ED9027D831179727B0865A8918DA3EDBEBCF9B14ED44CE6CBACED4BB1B"
    "DB7F1447E6CC254B332051512BD7AF426FB8F401378CD2BF5983CA01C64B92EC"
    "F032EA15D1721D03F482D7CE6E74FEF6D55E702F46980C82B5A84031900B1C9E"
    "59E7C97FBEC7E8F323A97A7E36CC88BE0F1D45B7FF585AC54BD407B22B4154AA"
    "CC8F6D7EBF48E1D814CC5ED20F8037E0A79715EEF29BE32806A1D58BB7C5DA76"
    "F550AA3D8A1FBFF0EB19CCB1A313D55CDA56C9EC2EF29632387FE8D76E3C0468"
    "043E8F663F4860EE12BF2D5B0B7474D6E694F91E6DBE115974A3926F12FEE5E4"
    "38777CB6A932DF8CD8BEC4D073B931BA3BC832B68D9DD300741FA7BF8AFC47ED"
    "2576F6936BA424663AAB639C5AE4F5683423B4742BF1C978238F16CBE39D652D"
    "E3FDB8BEFC848AD922222E04A4037C0713EB57A81A23F0C73473FC646CEA306B"
    "4BCBC8862F8385DDFA9D4B7FA2C087E879683303ED5BDD3A062B3CF5B3A278A6"
    "6D2A13F83F44F82DDF310EE074AB6A364597E899A0255DC164F31CC50846851D"
    "F9AB48195DED7EA1B1D510BD7EE74D73FAF36BC31ECFA268359046F4EB879F92"
    "4009438B481C6CD7889A002ED5EE382BC9190DA6FC026E479558E4475677E9AA"
    "9E3050E2765694DFC81F56E880B96E7160C980DD98EDD3DFFFFFFFFFFFFFFFFF",
    16,
)


def _pad(secret: bytes, n: int) -> bytes:
    # RFC 7296 §2.14: g^ir is big-endian, zero-padded to the length of the modulus.
    return secret if len(secret) == n else secret.rjust(n, b"\x00")


class _ModpShare(KeShare):
    __slots__ = ("_priv",)

    def __init__(self, alg: _ModpKe, public: bytes, priv: dh.DHPrivateKey) -> None:
        super().__init__(alg, public)
        self._priv = priv

    def complete(self, peer_value: bytes) -> bytes:
        alg: _ModpKe = self.alg  # type: ignore[assignment]
        return alg._exchange(self._priv, alg._peer_key(peer_value))


class _ModpKe(KeAlg):
    """Finite-field DH over an RFC 3526 safe prime with generator 2.

    OpenSSL recognises these named groups and draws a short exponent
    (2x the group's security strength), which keeps keygen cheap.
    """

    __slots__ = ("p", "_pn", "_params")

    def __init__(self, id: KeId, p: int) -> None:
        super().__init__(id, f"MODP{p.bit_length()}", (p.bit_length() + 7) // 8)
        self.p = p
        self._pn = dh.DHParameterNumbers(p, 2, (p - 1) // 2)
        self._params: dh.DHParameters | None = None

    def _parameters(self) -> dh.DHParameters:
        if self._params is None:
            self._params = self._pn.parameters()
        return self._params

    def _peer_key(self, peer_value: bytes) -> dh.DHPublicKey:
        # RFC 6989 §2.1: for these safe-prime groups checking 1 < y < p-1 suffices
        # (the only small subgroup is {1, p-1}); the length must be the modulus length
        # (RFC 7296 §3.4).
        if len(peer_value) != self.public_bytes_len:
            raise InvalidKeError(f"{self.name}: KE data is {len(peer_value)} bytes, "
                                 f"expected {self.public_bytes_len}")
        y = int.from_bytes(peer_value, "big")
        if not 1 < y < self.p - 1:
            raise InvalidKeError(f"{self.name}: public value out of range (RFC 6989)")
        try:
            return dh.DHPublicNumbers(y, self._pn).public_key()
        except ValueError as e:
            raise InvalidKeError(f"{self.name}: public value rejected") from e

    def _exchange(self, priv: dh.DHPrivateKey, peer: dh.DHPublicKey) -> bytes:
        try:
            return _pad(priv.exchange(peer), self.public_bytes_len)
        except ValueError as e:
            raise InvalidKeError(f"{self.name}: key agreement failed") from e

    def _new(self) -> tuple[dh.DHPrivateKey, bytes]:
        priv = self._parameters().generate_private_key()
        y = priv.public_key().public_numbers().y
        return priv, y.to_bytes(self.public_bytes_len, "big")

    def initiate(self) -> KeShare:
        priv, pub = self._new()
        return _ModpShare(self, pub, priv)

    def share_from_private(self, private: bytes) -> KeShare:
        x = int.from_bytes(private, "big")
        y = pow(2, x, self.p)
        priv = dh.DHPrivateNumbers(x, dh.DHPublicNumbers(y, self._pn)).private_key()
        return _ModpShare(self, y.to_bytes(self.public_bytes_len, "big"), priv)

    def respond(self, peer_value: bytes) -> tuple[bytes, bytes]:
        peer = self._peer_key(peer_value)
        priv, pub = self._new()
        return pub, self._exchange(priv, peer)


# --- ECP (RFC 5903) -----------------------------------------------------------


class _EcpShare(KeShare):
    __slots__ = ("_priv",)

    def __init__(self, alg: _EcpKe, public: bytes, priv: ec.EllipticCurvePrivateKey) -> None:
        super().__init__(alg, public)
        self._priv = priv

    def complete(self, peer_value: bytes) -> bytes:
        alg: _EcpKe = self.alg  # type: ignore[assignment]
        return alg._exchange(self._priv, alg._peer_key(peer_value))


class _EcpKe(KeAlg):
    """ECDH over a NIST prime curve. RFC 5903 §7: KE data is x | y, each the
    field size, no point-format octet; the shared secret is x of the product."""

    __slots__ = ("_curve", "_coord")

    def __init__(self, id: KeId, curve: ec.EllipticCurve, coord: int) -> None:
        super().__init__(id, f"DH{int(id)}", 2 * coord)
        self._curve = curve
        self._coord = coord

    def _peer_key(self, peer_value: bytes) -> ec.EllipticCurvePublicKey:
        # RFC 6989 §2.3: the point must be on the curve (and not infinity, which
        # x|y cannot encode); these curves have cofactor 1, so on-curve suffices.
        # `cryptography` checks the curve equation when it loads the point.
        if len(peer_value) != self.public_bytes_len:
            raise InvalidKeError(f"{self.name}: KE data is {len(peer_value)} bytes, "
                                 f"expected {self.public_bytes_len}")
        try:
            return ec.EllipticCurvePublicKey.from_encoded_point(self._curve, b"\x04" + peer_value)
        except ValueError as e:
            raise InvalidKeError(f"{self.name}: point is not on the curve (RFC 6989)") from e

    def _exchange(self, priv: ec.EllipticCurvePrivateKey, peer: ec.EllipticCurvePublicKey) -> bytes:
        try:
            return _pad(priv.exchange(ec.ECDH(), peer), self._coord)
        except ValueError as e:
            raise InvalidKeError(f"{self.name}: key agreement failed") from e

    def _new(self) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
        priv = ec.generate_private_key(self._curve)
        pt = priv.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        return priv, pt[1:]

    def initiate(self) -> KeShare:
        priv, pub = self._new()
        return _EcpShare(self, pub, priv)

    def share_from_private(self, private: bytes) -> KeShare:
        priv = ec.derive_private_key(int.from_bytes(private, "big"), self._curve)
        pt = priv.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        return _EcpShare(self, pt[1:], priv)

    def respond(self, peer_value: bytes) -> tuple[bytes, bytes]:
        peer = self._peer_key(peer_value)
        priv, pub = self._new()
        return pub, self._exchange(priv, peer)


# --- Curve25519 / Curve448 (RFC 8031) ----------------------------------------


class _XShare(KeShare):
    __slots__ = ("_priv",)

    def __init__(self, alg: _XKe, public: bytes,
                 priv: x25519.X25519PrivateKey | x448.X448PrivateKey) -> None:
        super().__init__(alg, public)
        self._priv = priv

    def complete(self, peer_value: bytes) -> bytes:
        alg: _XKe = self.alg  # type: ignore[assignment]
        return alg._exchange(self._priv, peer_value)


class _XKe(KeAlg):
    """X25519/X448 (RFC 7748) as IKEv2 groups 31/32: KE data is the raw
    u-coordinate; RFC 8031 §2: an all-zero shared secret MUST be rejected."""

    __slots__ = ("_priv_cls", "_pub_cls")

    def __init__(self, id: KeId, size: int, priv_cls: type, pub_cls: type) -> None:
        super().__init__(id, f"DH{int(id)}", size)
        self._priv_cls = priv_cls
        self._pub_cls = pub_cls

    def _exchange(self, priv: x25519.X25519PrivateKey | x448.X448PrivateKey,
                  peer_value: bytes) -> bytes:
        if len(peer_value) != self.public_bytes_len:
            raise InvalidKeError(f"{self.name}: KE data is {len(peer_value)} bytes, "
                                 f"expected {self.public_bytes_len}")
        try:
            shared = priv.exchange(self._pub_cls.from_public_bytes(peer_value))
        except ValueError as e:  # OpenSSL refuses the all-zero result itself
            raise InvalidKeError(f"{self.name}: all-zero shared secret (RFC 8031)") from e
        if not any(shared):
            raise InvalidKeError(f"{self.name}: all-zero shared secret (RFC 8031)")
        return shared

    def _new(self) -> tuple[x25519.X25519PrivateKey | x448.X448PrivateKey, bytes]:
        priv = self._priv_cls.generate()
        return priv, priv.public_key().public_bytes_raw()

    def initiate(self) -> KeShare:
        priv, pub = self._new()
        return _XShare(self, pub, priv)

    def share_from_private(self, private: bytes) -> KeShare:
        priv = self._priv_cls.from_private_bytes(private)
        return _XShare(self, priv.public_key().public_bytes_raw(), priv)

    def respond(self, peer_value: bytes) -> tuple[bytes, bytes]:
        priv, pub = self._new()
        return pub, self._exchange(priv, peer_value)


# --- ML-KEM (FIPS 203) as RFC 9370 additional key exchange ---------------------


class _KemShare(KeShare):
    __slots__ = ("_priv",)

    def __init__(self, alg: _MlKemKe, public: bytes, priv: object) -> None:
        super().__init__(alg, public)
        self._priv = priv

    def complete(self, peer_value: bytes) -> bytes:
        alg: _MlKemKe = self.alg  # type: ignore[assignment]
        if len(peer_value) != alg.response_bytes_len:
            raise InvalidKeError(f"{alg.name}: ciphertext is {len(peer_value)} bytes, "
                                 f"expected {alg.response_bytes_len}")
        try:
            return self._priv.decapsulate(peer_value)  # type: ignore[attr-defined]
        except ValueError as e:
            raise InvalidKeError(f"{alg.name}: bad ciphertext") from e


class _MlKemKe(KeAlg):
    """ML-KEM: the initiator sends its encapsulation key, the responder the
    ciphertext; the 32-byte shared secret is used like g^ir."""

    __slots__ = ("_priv_cls", "_pub_cls")

    def __init__(self, id: KeId, ek_len: int, ct_len: int, priv_cls: type, pub_cls: type) -> None:
        super().__init__(id, id.name, ek_len, ct_len, kem=True)
        self._priv_cls = priv_cls
        self._pub_cls = pub_cls

    def initiate(self) -> KeShare:
        priv = self._priv_cls.generate()
        return _KemShare(self, priv.public_key().public_bytes_raw(), priv)

    def share_from_private(self, private: bytes) -> KeShare:
        priv = self._priv_cls.from_seed_bytes(private)
        return _KemShare(self, priv.public_key().public_bytes_raw(), priv)

    def respond(self, peer_value: bytes) -> tuple[bytes, bytes]:
        # FIPS 203 §7.2 input checks (length, coefficients < q) happen on load.
        if len(peer_value) != self.public_bytes_len:
            raise InvalidKeError(f"{self.name}: encapsulation key is {len(peer_value)} bytes, "
                                 f"expected {self.public_bytes_len}")
        try:
            ek = self._pub_cls.from_public_bytes(peer_value)
        except ValueError as e:
            raise InvalidKeError(f"{self.name}: bad encapsulation key") from e
        shared, ct = ek.encapsulate()
        return ct, shared


_KE_LIST: list[KeAlg] = [
    _ModpKe(KeId.MODP1536, _MODP_1536),
    _ModpKe(KeId.MODP2048, _MODP_2048),
    _ModpKe(KeId.MODP3072, _MODP_3072),
    _ModpKe(KeId.MODP4096, _MODP_4096),
    _ModpKe(KeId.MODP6144, _MODP_6144),
    _ModpKe(KeId.MODP8192, _MODP_8192),
    _EcpKe(KeId.ECP_256, ec.SECP256R1(), 32),
    _EcpKe(KeId.ECP_384, ec.SECP384R1(), 48),
    _EcpKe(KeId.ECP_521, ec.SECP521R1(), 66),
    _XKe(KeId.CURVE25519, 32, x25519.X25519PrivateKey, x25519.X25519PublicKey),
    _XKe(KeId.CURVE448, 56, x448.X448PrivateKey, x448.X448PublicKey),
    _MlKemKe(KeId.ML_KEM_768, 1184, 1088, mlkem.MLKEM768PrivateKey, mlkem.MLKEM768PublicKey),
    _MlKemKe(KeId.ML_KEM_1024, 1568, 1568, mlkem.MLKEM1024PrivateKey, mlkem.MLKEM1024PublicKey),
]
if hasattr(mlkem, "MLKEM512PrivateKey"):  # not in cryptography 48
    _KE_LIST.append(_MlKemKe(KeId.ML_KEM_512, 800, 768, mlkem.MLKEM512PrivateKey,
                             mlkem.MLKEM512PublicKey))

#: Every key exchange method we implement, by IANA id.
KE_ALGS: dict[int, KeAlg] = {a.id: a for a in _KE_LIST}


def ke(id: int) -> KeAlg:
    """The key exchange method `id`; raises UnsupportedTransform."""
    try:
        return KE_ALGS[id]
    except KeyError:
        raise UnsupportedTransform(f"KE {id}") from None
