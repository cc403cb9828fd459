"""The Encrypted and Authenticated payload, SK (RFC 7296 §3.14; AEAD: RFC 5282).

One `SkCrypto` per direction of an IKE SA: the initiator seals with
(SK_ei, SK_ai) and opens with (SK_er, SK_ar), the responder the other way
round. Layout of the SK body:

* non-AEAD: IV || E(inner payloads || Padding || Pad Length) || ICV, the ICV
  computed over the whole message from the IKE header to the end of the
  ciphertext (RFC 7296 §3.14: "the checksum MUST be computed over the
  encrypted message"). On receipt the ICV is checked before decrypting.
* AEAD: IV (8 octets) || ciphertext || tag, the Associated Data being the
  message from the first octet of the IKE header to the last octet of the SK
  generic payload header (RFC 5282 §5.1); the salt is the tail of SK_e and
  the nonce salt || IV (handled by `transforms`).

IVs: random for CBC (RFC 7296 §3.14: "MUST be unpredictable"); a per-object
64-bit counter, starting at a random value, for counter-based modes (GCM,
CCM, CTR, ChaCha20), which only need uniqueness under a key (RFC 5282 §3) -
each direction has its own key, and 2^64 messages never happen on one SA.

RFC 7383 fragments (SKF) are sealed and opened here too, one fragment of
the inner payload octets at a time; reassembly lives in `fragments`.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from cygnet.ike.errors import IntegrityError
from cygnet.ike.iana import HeaderFlag, PayloadType
from cygnet.ike.message import (
    GENERIC_HEADER_LEN,
    HEADER_LEN,
    Header,
    InvalidSyntax,
    Message,
    decode_chain,
    encode_chain,
    encode_header,
)
from cygnet.ike.payloads import EncryptedFragmentPayload, EncryptedPayload, Payload
from cygnet.ike.transforms import EncrAlg, IntegAlg

__all__ = ["SkCrypto", "OpenedFragment", "sk_overhead"]

_SKF_FIELDS = 4  # Fragment Number + Total Fragments (RFC 7383 §2.5)


@dataclass(frozen=True, slots=True)
class OpenedFragment:
    """One authenticated and decrypted SKF fragment (RFC 7383 §2.5)."""

    message: Message  # header fields and the clear payloads before SKF
    number: int
    total: int
    first_inner: int  # only meaningful in fragment 1
    plaintext: bytes  # this fragment's share of the inner payload octets


class SkCrypto:
    """Seal or open SK/SKF payloads for one direction of an IKE SA.

    `integ` is None for AEAD ciphers (INTEG NONE). `iv_source`, for tests,
    replaces IV generation with a function of the message counter.
    """

    def __init__(
        self,
        encr: EncrAlg,
        integ: IntegAlg | None,
        sk_e: bytes,
        sk_a: bytes = b"",
        *,
        iv_source: Callable[[int], bytes] | None = None,
    ) -> None:
        if encr.aead != (integ is None):
            raise ValueError("AEAD ciphers take no INTEG transform; others need one")
        self.encr = encr
        self.integ = integ
        self._cipher = encr.cipher_context(sk_e)
        self._mac = integ.context(sk_a) if integ is not None else None
        self._icv = encr.icv_bytes if encr.aead else integ.icv_bytes  # type: ignore[union-attr]
        self._block = max(encr.block_bytes, 1)
        # Counter IVs start at a random point: should the engine ever build two
        # SkCrypto objects for the same key, their IVs still will not meet.
        self._counter = int.from_bytes(os.urandom(8), "big") if iv_source is None else 0
        self._iv_source = iv_source
        # CBC needs unpredictable IVs; counter modes need unique ones.
        self._random_iv = encr.block_bytes > 1 and not encr.aead and encr.iv_bytes == encr.block_bytes

    # ------------------------------------------------------------------ helpers

    @property
    def icv_bytes(self) -> int:
        """ICV / AEAD tag length at the end of every SK payload."""
        return self._icv

    @property
    def overhead(self) -> int:
        """Octets SK adds around the inner payloads, not counting padding."""
        return self.encr.iv_bytes + 1 + self._icv

    def _next_iv(self) -> bytes:
        n = self._counter
        self._counter += 1
        if self._iv_source is not None:
            return self._iv_source(n)
        if self.encr.iv_bytes == 0:
            return b""
        if self._random_iv:
            return os.urandom(self.encr.iv_bytes)
        return (n % (1 << (8 * self.encr.iv_bytes))).to_bytes(self.encr.iv_bytes, "big")

    def _pad(self, plain: bytes) -> bytes:
        # RFC 7296 §3.14: Padding makes payloads || Padding || Pad Length a
        # multiple of the block size; the sender SHOULD use the minimum.
        pad = (-(len(plain) + 1)) % self._block
        return plain + bytes(pad) + bytes([pad])

    def _seal_body(self, prefix: bytearray, plain: bytes) -> bytes:
        """Append IV || ciphertext || ICV to `prefix` (the header .. SK header, lengths final)."""
        iv = self._next_iv()
        padded = self._pad(plain)
        if self.encr.aead:
            ct = self._cipher.encrypt(iv, padded, bytes(prefix))
            return bytes(prefix) + iv + ct
        ct = self._cipher.encrypt(iv, padded)
        signed = bytes(prefix) + iv + ct
        return signed + self._mac.mac(signed)  # type: ignore[union-attr]

    def _sealed_len(self, plain_len: int) -> int:
        pad = (-(plain_len + 1)) % self._block
        return self.encr.iv_bytes + plain_len + pad + 1 + self._icv

    # ------------------------------------------------------------------ seal

    def seal(self, msg: Message) -> bytes:
        """Encrypt `msg.inner` into an SK payload placed after `msg.payloads`.

        Any EncryptedPayload already in `msg.payloads` (e.g. from `open`) is
        dropped first. Returns the whole datagram.
        """
        outer = [p for p in msg.payloads if not isinstance(p, EncryptedPayload | EncryptedFragmentPayload)]
        first_inner, plain = encode_chain(msg.inner or ())
        sk_len = GENERIC_HEADER_LEN + self._sealed_len(len(plain))
        first_outer, clear = encode_chain(outer)
        first = first_outer if outer else PayloadType.SK
        if outer:
            # The last clear payload's Next Payload must point at SK.
            clear = _repoint_last(outer, PayloadType.SK)
        total = HEADER_LEN + len(clear) + sk_len
        prefix = bytearray(
            encode_header(msg.spi_i, msg.spi_r, first, msg.exchange, msg.flags, msg.message_id, total)
        )
        prefix += clear
        prefix += struct.pack("!BBH", first_inner, 0, sk_len)
        return self._seal_body(prefix, plain)

    def seal_payloads(
        self,
        spi_i: bytes,
        spi_r: bytes,
        exchange: int,
        message_id: int,
        inner: Sequence[Payload],
        *,
        flags: int = 0,
    ) -> bytes:
        """`seal` for a message whose only payload is SK."""
        return self.seal(Message(spi_i, spi_r, exchange, message_id, (), HeaderFlag(flags), tuple(inner)))

    def seal_fragment(
        self,
        msg: Message,
        number: int,
        total: int,
        first_inner: int,
        chunk: bytes,
    ) -> bytes:
        """One SKF datagram carrying `chunk` of the inner payload octets (RFC 7383 §2.5).

        The Associated Data / integrity cover the header, the SKF generic
        header and the Fragment Number / Total Fragments fields.
        """
        if not 1 <= number <= total <= 0xFFFF:
            raise ValueError(f"fragment {number} of {total}")
        skf_len = GENERIC_HEADER_LEN + _SKF_FIELDS + self._sealed_len(len(chunk))
        length = HEADER_LEN + skf_len
        prefix = bytearray(
            encode_header(msg.spi_i, msg.spi_r, PayloadType.SKF, msg.exchange, msg.flags,
                          msg.message_id, length)
        )
        # RFC 7383 §2.5: Next Payload is the first inner type in fragment 1, else 0.
        prefix += struct.pack("!BBHHH", first_inner if number == 1 else 0, 0, skf_len, number, total)
        return self._seal_body(prefix, chunk)

    # ------------------------------------------------------------------ open

    def _open_body(self, data: bytes, body_at: int, header: Header) -> bytes:
        """Check and decrypt data[body_at:] (IV || ct || ICV); return the unpadded plaintext."""
        iv_len, icv = self.encr.iv_bytes, self._icv
        body_len = len(data) - body_at
        ct_len = body_len - iv_len - icv
        if ct_len < 1:
            raise IntegrityError(f"SK payload of {body_len} octets is too short")
        iv = data[body_at : body_at + iv_len]
        ct_end = len(data) - icv
        if self.encr.aead:
            plain = self._cipher.decrypt(iv, data[body_at + iv_len :], data[:body_at])
        else:
            if ct_len % self._block:
                raise IntegrityError(f"SK ciphertext of {ct_len} octets is not whole blocks")
            # Integrity first: never decrypt unauthenticated CBC (padding oracles).
            if not self._mac.verify(data[:ct_end], data[ct_end:]):  # type: ignore[union-attr]
                raise IntegrityError("SK integrity check value did not verify")
            plain = self._cipher.decrypt(iv, data[body_at + iv_len : ct_end])
        if not plain:
            raise InvalidSyntax("SK plaintext is empty (no Pad Length)", header)
        pad = plain[-1]
        # RFC 7296 §3.14: the recipient MUST accept any Pad Length that results
        # in proper alignment; it cannot exceed what is there.
        if pad + 1 > len(plain):
            raise InvalidSyntax(f"SK Pad Length {pad} exceeds the {len(plain)}-octet plaintext", header)
        return plain[: len(plain) - pad - 1]

    def open(self, datagram: bytes) -> Message:
        """Decode, authenticate and decrypt; `inner` of the result holds the inner payloads.

        Raises MessageError (syntax, also of the inner payloads, including
        UnsupportedCriticalPayload) or IntegrityError (ICV/tag mismatch).
        """
        data = bytes(datagram)
        msg = Message.decode(data)
        if not msg.payloads or not isinstance(msg.payloads[-1], EncryptedPayload):
            raise InvalidSyntax("message has no SK payload", msg.header(len(data)))
        sk = msg.payloads[-1]
        header = msg.header(len(data))
        body_at = len(data) - len(sk.data)
        plain = self._open_body(data, body_at, header)
        inner = decode_chain(sk.first_inner, plain, 0, header, inner=True)
        return replace(msg, inner=inner)

    def open_fragment(self, datagram: bytes) -> OpenedFragment:
        """Decode, authenticate and decrypt one SKF datagram (RFC 7383 §2.6)."""
        data = bytes(datagram)
        msg = Message.decode(data)
        if not msg.payloads or not isinstance(msg.payloads[-1], EncryptedFragmentPayload):
            raise InvalidSyntax("message has no SKF payload", msg.header(len(data)))
        skf = msg.payloads[-1]
        body_at = len(data) - len(skf.data)
        plain = self._open_body(data, body_at, msg.header(len(data)))
        return OpenedFragment(msg, skf.number, skf.total, skf.first_inner, plain)


def _repoint_last(payloads: Sequence[Payload], nxt: int) -> bytes:
    """Encode a clear chain whose last Next Payload is `nxt` instead of 0."""
    _, body = encode_chain(payloads)
    # Walk to the last generic header to patch its Next Payload octet.
    pos, last = 0, 0
    while pos < len(body):
        last = pos
        pos += struct.unpack_from("!H", body, pos + 2)[0]
    return body[:last] + bytes([nxt]) + body[last + 1 :]


def sk_overhead(encr: EncrAlg, integ: IntegAlg | None) -> int:
    """Worst-case octets SK adds (generic header, IV, max padding, Pad Length, ICV)."""
    icv = encr.icv_bytes if encr.aead else (integ.icv_bytes if integ else 0)
    return GENERIC_HEADER_LEN + encr.iv_bytes + max(encr.block_bytes, 1) + icv
