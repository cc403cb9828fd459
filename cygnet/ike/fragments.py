"""IKEv2 message fragmentation (RFC 7383).

A message that would not fit the path is sent as several messages, each
carrying an Encrypted Fragment payload (SKF) with its own IV and ICV, all
with the Message ID of the original. Fragmentation happens *before*
encryption: the inner payload octets are cut into chunks and each chunk is
sealed separately (`SkCrypto.seal_fragment`), so every fragment is
authenticated on its own and a forged one is dropped before it is stored
(RFC 7383 §2.6).

`fragment()` is the sender's side; `Reassembler` the receiver's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cygnet.ike.iana import PayloadType
from cygnet.ike.message import (
    GENERIC_HEADER_LEN,
    HEADER_LEN,
    Message,
    MessageError,
    decode_chain,
    encode_chain,
)
from cygnet.ike.payloads import EncryptedFragmentPayload, EncryptedPayload
from cygnet.ike.sk import OpenedFragment, SkCrypto

__all__ = [
    "FragmentError",
    "Reassembler",
    "fragment",
    "max_ike_size",
    "DEFAULT_IPV4_LIMIT",
    "DEFAULT_IPV6_LIMIT",
]

#: RFC 7383 §2.5.1: without PMTU discovery, IP datagrams of fragments should
#: not exceed 576 octets (IPv4) and 1280 octets (IPv6).
DEFAULT_IPV4_LIMIT = 576
DEFAULT_IPV6_LIMIT = 1280

_SKF_FIELDS = 4  # Fragment Number, Total Fragments


class FragmentError(MessageError):
    """A fragment that cannot belong to a consistent message; RFC 7383 says to drop it."""

    notify = None


def max_ike_size(ip_limit: int, *, ipv6: bool, non_esp_marker: bool = False) -> int:
    """Largest IKE message in an IP datagram of `ip_limit` octets.

    Subtracts the IP header (20 or 40), UDP (8) and, on port 4500, the 4-octet
    non-ESP marker (RFC 3948 §2.2).
    """
    return ip_limit - (40 if ipv6 else 20) - 8 - (4 if non_esp_marker else 0)


def _chunk_size(crypto: SkCrypto, max_size: int) -> int:
    """Largest inner chunk whose sealed fragment stays within `max_size` octets."""
    block = max(crypto.encr.block_bytes, 1)
    room = max_size - HEADER_LEN - GENERIC_HEADER_LEN - _SKF_FIELDS - crypto.encr.iv_bytes - crypto.icv_bytes
    # chunk + Padding + Pad Length must be whole blocks and fit in `room`.
    return (room // block) * block - 1


def fragment(crypto: SkCrypto, msg: Message, max_size: int) -> list[bytes]:
    """Seal `msg.inner` as SKF fragments of at most `max_size` octets each.

    RFC 7383 §2.5: every fragment has the header of the original message
    (same Message ID) and carries a contiguous piece of the inner payload
    octets; fragment 1's Next Payload is the first inner payload's type.
    Clear payloads besides SK cannot be fragmented (RFC 7383 §2.5.3).
    """
    if any(not isinstance(p, EncryptedPayload) for p in msg.payloads):
        raise ValueError("only the Encrypted payload's content can be fragmented")
    first_inner, plain = encode_chain(msg.inner or ())
    size = _chunk_size(crypto, max_size)
    if size < 1:
        raise ValueError(f"{max_size} octets leave no room for fragment data")
    chunks = [plain[i : i + size] for i in range(0, len(plain), size)] or [b""]
    total = len(chunks)
    if total > 0xFFFF:
        raise ValueError("message needs more than 65535 fragments")
    return [crypto.seal_fragment(msg, n, total, first_inner, c) for n, c in enumerate(chunks, 1)]


@dataclass(slots=True)
class _Pending:
    total: int
    first_inner: int = 0
    template: Message | None = None
    chunks: dict[int, bytes] = field(default_factory=dict)
    size: int = 0


class Reassembler:
    """Collect the SKF fragments of messages received on one IKE SA direction.

    `receive(datagram)` authenticates and decrypts the fragment (raising
    IntegrityError / MessageError like `SkCrypto.open`) and returns the whole
    message, inner payloads decoded, once every fragment is in; otherwise None.
    Pending messages are keyed by (Message ID, R flag).

    Consistency rules (RFC 7383 §2.6): a duplicate fragment is ignored; a
    fragment whose Total Fragments is larger than before restarts the
    reassembly (the sender re-fragmented for a smaller PMTU); one whose total
    is smaller is dropped. `max_fragments` and `max_octets` bound the memory a
    peer can make us hold.
    """

    def __init__(self, crypto: SkCrypto, *, max_fragments: int = 64, max_octets: int = 64 * 1024) -> None:
        self.crypto = crypto
        self.max_fragments = max_fragments
        self.max_octets = max_octets
        self._pending: dict[tuple[int, bool], _Pending] = {}

    def forget(self, message_id: int, is_response: bool) -> None:
        """Drop a partial message (e.g. when its exchange is abandoned)."""
        self._pending.pop((message_id, is_response), None)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def receive(self, datagram: bytes) -> Message | None:
        frag = self.crypto.open_fragment(datagram)
        return self.add(frag)

    def add(self, frag: OpenedFragment) -> Message | None:
        """Store one authenticated fragment; the reassembled message when complete."""
        m = frag.message
        if frag.total > self.max_fragments:
            raise FragmentError(f"{frag.total} fragments is more than the {self.max_fragments} we accept")
        key = (m.message_id, m.is_response)
        pend = self._pending.get(key)
        if pend is None or frag.total > pend.total:
            pend = self._pending[key] = _Pending(frag.total)
        elif frag.total < pend.total:
            return None  # stale fragmentation of a retransmission
        if frag.number in pend.chunks:
            return None  # duplicate (retransmission)
        if pend.size + len(frag.plaintext) > self.max_octets:
            del self._pending[key]
            raise FragmentError(f"reassembled message would exceed {self.max_octets} octets")
        pend.chunks[frag.number] = frag.plaintext
        pend.size += len(frag.plaintext)
        if frag.number == 1:
            pend.first_inner = frag.first_inner
            pend.template = m
        if len(pend.chunks) < pend.total:
            return None
        del self._pending[key]
        plain = b"".join(pend.chunks[n] for n in range(1, pend.total + 1))
        tmpl = pend.template or m
        header = tmpl.header(HEADER_LEN + len(plain))
        inner = decode_chain(pend.first_inner, plain, 0, header, inner=True)
        clear = tuple(p for p in tmpl.payloads if not isinstance(p, EncryptedFragmentPayload))
        # The result looks like the unfragmented message: one SK (its sealed
        # octets no longer exist) followed by the decrypted payloads.
        return Message(
            tmpl.spi_i, tmpl.spi_r, tmpl.exchange, tmpl.message_id,
            (*clear, EncryptedPayload(pend.first_inner, b"")), tmpl.flags, inner,
        )


def is_fragment(msg: Message) -> bool:
    """Whether a decoded message is an SKF fragment."""
    return bool(msg.payloads) and msg.payloads[-1].type == PayloadType.SKF
