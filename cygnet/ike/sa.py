"""One IKE SA and its Child SAs, as a sans-IO state machine (RFC 7296).

An `IkeSa` takes datagrams, timer ticks and commands (`initiate`,
`create_child`, `rekey_child`, `rekey_ike`, `delete`, `liveness`) and returns
events (`cygnet.ike.events`): datagrams to send, Child SAs to install or
remove, log lines in Libreswan's wording. It owns the message-ID window
(size 1), retransmission (0.5 s doubling up to `retransmit-timeout`) and the
cached response that answers a retransmitted request.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from cygnet.ike import auth, fragments, keymat, natd, transforms
from cygnet.ike import proposals as props
from cygnet.ike import ts as tsmod
from cygnet.ike.errors import IkeError, IntegrityError
from cygnet.ike.events import (
    ChildSaFailed,
    ChildSaKeys,
    DeleteChildSa,
    Event,
    IkeSaDeleted,
    IkeSaEstablished,
    IkeSaFailed,
    IkeSaRekeyed,
    InitialContact,
    InstallChildSa,
    LeaseReceived,
    LogLine,
    SendDatagram,
)
from cygnet.ike.iana import (
    AuthMethod,
    CertEncoding,
    CfgAttr,
    CfgType,
    ExchangeType,
    HashAlgorithm,
    HeaderFlag,
    IntegId,
    KeId,
    NotifyType,
    PayloadType,
    ProtocolId,
    TransformType,
    name_of,
)
from cygnet.ike.message import (
    GENERIC_HEADER_LEN,
    HEADER_LEN,
    Message,
    MessageError,
    encode_chain,
    encode_header,
    payload_names,
    payload_summary,
)
from cygnet.ike.natd import Endpoint
from cygnet.ike.payloads import (
    AuthPayload,
    CertPayload,
    CfgAttribute,
    CpPayload,
    DeletePayload,
    Identity,
    IdiPayload,
    IdrPayload,
    KePayload,
    NoncePayload,
    NotifyPayload,
    Payload,
    SaPayload,
    TsiPayload,
    TsrPayload,
)
from cygnet.ike.policy import (
    AUTHBY_METHODS,
    SIGNATURE_HASHES,
    IkePolicy,
    LeaseReply,
    PolicyLookup,
)
from cygnet.ike.proposals import Proposal
from cygnet.ike.sk import SkCrypto

NAT_T_PORT = 4500

#: Libreswan's largest unfragmented IKE message (packet.h ISAKMP_V2_FRAG_MAXLEN_IPv4/6:
#: 576 - 20 - 24 and 1280 - 48 - 40 UDP payload octets); a bigger SK message is sent as
#: SKF fragments of at most this size once both ends announced RFC 7383 support.
FRAG_MAXLEN_IPV4 = 532
FRAG_MAXLEN_IPV6 = 1192
NON_ESP_MARKER_SIZE = 4

#: Error notifies that, in an IKE_AUTH or CREATE_CHILD_SA response, concern the Child SA.
CHILD_ERRORS = frozenset(
    {
        NotifyType.NO_PROPOSAL_CHOSEN,
        NotifyType.TS_UNACCEPTABLE,
        NotifyType.SINGLE_PAIR_REQUIRED,
        NotifyType.INTERNAL_ADDRESS_FAILURE,
        NotifyType.FAILED_CP_REQUIRED,
        NotifyType.INVALID_SELECTORS,
        NotifyType.NO_ADDITIONAL_SAS,
        NotifyType.INVALID_KE_PAYLOAD,
        NotifyType.TEMPORARY_FAILURE,
        NotifyType.CHILD_SA_NOT_FOUND,
    }
)


class State(Enum):
    """Libreswan's state names, as they appear in its log lines."""

    PARENT_I0 = "STATE_V2_PARENT_I0"
    PARENT_I1 = "STATE_V2_PARENT_I1"
    PARENT_I2 = "STATE_V2_PARENT_I2"
    PARENT_R0 = "STATE_V2_PARENT_R0"
    PARENT_R1 = "STATE_V2_PARENT_R1"
    ESTABLISHED = "STATE_V2_ESTABLISHED_IKE_SA"
    DELETING = "STATE_V2_IKE_SA_DELETE"
    DEAD = "STATE_DEAD"


def random_esp_spi() -> bytes:
    """A random inbound ESP SPI; 0-255 are reserved by IANA (RFC 4303 §2.1)."""
    while True:
        spi = os.urandom(4)
        if int.from_bytes(spi, "big") > 255:
            return spi


def _seconds(x: float) -> str:
    return f"{x:g}"


@dataclass
class ChildSa:
    """One negotiated Child SA (both directions), with the material the data plane needs."""

    serial: int
    spi_in: bytes
    spi_out: bytes
    proposal: Proposal
    local_ts: tsmod.Selectors
    remote_ts: tsmod.Selectors
    transport: bool
    keys: ChildSaKeys
    replaced_by: int | None = None  # serial of the Child SA that rekeyed this one


@dataclass
class _Outstanding:
    """Our request in flight (window size 1)."""

    message_id: int
    datagrams: list[bytes]
    on_response: Callable[[Message, bytes, float], None]
    first_sent: float
    next_at: float
    interval: float
    retransmits: int = 0
    timeout: float | None = None  # None: the policy's retransmit-timeout


@dataclass
class _PendingChild:
    """What we remember between sending a Child SA request and its response."""

    serial: int
    spi_in: bytes
    nonce: bytes = b""
    ke_share: Any = None
    rekey_of: int | None = None
    #: RFC 7296 §2.8.1: (Ni, Nr) of the peer's rekey of the same Child SA, answered while
    #: ours was in flight, and the serial of the Child SA that exchange created.
    collision: tuple[bytes, bytes, int] | None = None


@dataclass
class _Followup:
    """A CREATE_CHILD_SA we answered whose additional key exchanges are still to come."""

    todo: list[tuple[int, int]]  # (ADDKEn transform type, KE id)
    secrets: list[bytes]
    finish: Callable[[tuple[bytes, ...], float], None]
    link: bytes


class IkeSa:
    """An IKE SA from either end; see the module docstring."""

    def __init__(
        self,
        *,
        policy: IkePolicy,
        local: Endpoint,
        remote: Endpoint,
        initiator: bool,
        serial: int,
        next_serial: Callable[[], int],
        now: float,
        lookup: PolicyLookup | None = None,
        new_esp_spi: Callable[[], bytes] = random_esp_spi,
        random: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self.policy = policy
        self.local, self.remote = local, remote
        self.initiator = initiator  # the original initiator (I flag) of this IKE SA
        self.serial = serial
        self._next_serial = next_serial
        self._lookup = lookup
        self._new_esp_spi = new_esp_spi
        self._random = random
        self.created = now
        self.state = State.PARENT_I0 if initiator else State.PARENT_R0
        self.spi_i = random(8) if initiator else b""
        self.spi_r = bytes(8)
        self.ni = self.nr = b""
        self.peer_id: Identity | None = None
        self.children: dict[int, ChildSa] = {}
        self.nat: natd.NatResult | None = None
        self.peer_hashes: tuple[int, ...] = ()
        self.peer_fragmentation = False
        # negotiated IKE algorithms and keys
        self.chosen: Proposal | None = None
        self.prf: transforms.PrfAlg | None = None
        self.encr: transforms.EncrAlg | None = None
        self.integ: transforms.IntegAlg | None = None
        self.ke_id = KeId.NONE
        self.keys: keymat.IkeKeys | None = None
        self._sk_in: SkCrypto | None = None
        self._sk_out: SkCrypto | None = None
        self._ke_share: Any = None
        self._ke_override: int | None = None
        self._cookie = b""
        self._init_request = b""  # IKE_SA_INIT request as sent (signed octets)
        self._init_response = b""
        # message IDs (RFC 7296 §2.2)
        self._my_next_mid = 0
        self._peer_next_mid = 0
        self._outstanding: _Outstanding | None = None
        self._answered: _Outstanding | None = None  # the request whose response is being handled
        self._cached: tuple[int, list[bytes]] | None = None
        self._queue: deque[Callable[[float], None]] = deque()
        self._pending_child: _PendingChild | None = None
        self._events: list[Event] = []
        # RFC 7383 fragmentation
        self._reasm: fragments.Reassembler | None = None
        self._sk_in_prev: SkCrypto | None = None  # keys before an IKE_INTERMEDIATE update
        # RFC 9242 / RFC 9370: IKE_INTERMEDIATE and additional key exchanges
        self.peer_intermediate = False
        self._addke_todo: list[tuple[int, int]] = []  # (ADDKEn transform type, KE id) to run
        self._intermediates = 0  # IKE_INTERMEDIATE exchanges done
        self._int_auth_i = self._int_auth_r = b""
        self._ike_auth_mid = 1
        # CP (RFC 7296 §3.15) and certificates
        self.lease: LeaseReply | None = None
        self.peer_certs: tuple[bytes, ...] = ()
        # rekey bookkeeping (RFC 7296 §2.8.1, §2.25)
        self._deleting_children: set[int] = set()
        self._rekey_out: bytes | None = None  # our Ni while our IKE SA rekey is in flight
        self._rekey_in: IkeSa | None = None  # the IKE SA we created answering the peer's rekey
        self._rekey_in_announced = False
        self._rekeyed_to: IkeSa | None = None  # the surviving successor, once known
        self._spawned: list[IkeSa] = []  # new IKE SAs for the engine's tables
        self._last_child: ChildSa | None = None
        self._last_child_serial: int | None = None
        self._followup: _Followup | None = None  # responder side of IKE_FOLLOWUP_KE
        self._followup_link_pending = False
        #: when the last authenticated message from the peer arrived (liveness, RFC 7296 §2.4)
        self.last_received = now

    # ------------------------------------------------------------------ reporting

    @property
    def name(self) -> str:
        return self.policy.name

    def _log(self, rc: int, text: str, serial: int | None = None) -> None:
        s = self.serial if serial is None else serial
        self._events.append(LogLine(rc, f'"{self.name}" #{s}: {text}'))

    def _flush(self) -> list[Event]:
        out, self._events = self._events, []
        return out

    @property
    def established(self) -> bool:
        return self.state is State.ESTABLISHED

    @property
    def local_spi(self) -> bytes:
        return self.spi_i if self.initiator else self.spi_r

    def ike_description(self) -> str:
        """`cipher=AES_CBC_128 integ=HMAC_SHA2_256_128 prf=HMAC_SHA2_256 group=MODP2048`."""
        assert self.chosen is not None
        return props.describe(self.chosen, "ike")

    # ------------------------------------------------------------------ timers

    def get_timer(self) -> float | None:
        """When `handle_timer` next needs calling, or None."""
        return self._outstanding.next_at if self._outstanding else None

    def handle_timer(self, now: float) -> list[Event]:
        out = self._outstanding
        if out is None or now < out.next_at:
            return self._flush()
        limit = self.policy.retransmit_timeout if out.timeout is None else out.timeout
        if now - out.first_sent >= limit:
            self._timeout(out)
            return self._flush()
        out.retransmits += 1
        self._log(
            10,
            f"{self.state.value}: retransmission; will wait {_seconds(out.interval)} "
            "seconds for response",
        )
        for d in out.datagrams:
            self._send(d)
        # the last wait is cut short so that giving up happens at retransmit-timeout exactly
        out.next_at = min(now + out.interval, out.first_sent + limit)
        out.interval *= 2
        return self._flush()

    def _timeout(self, out: _Outstanding) -> None:
        self._outstanding = None
        timeout = _seconds(self.policy.retransmit_timeout if out.timeout is None else out.timeout)
        if self.state in (State.PARENT_I1, State.PARENT_I2):
            what = "first" if self.state is State.PARENT_I1 else "second"
            self._log(
                31,
                f"{self.state.value}: {timeout} second timeout exceeded after "
                f"{out.retransmits} retransmits.  No response (or no acceptable response) "
                f"to our {what} IKEv2 message",
            )
            self._die(IkeSaFailed(self.serial, "timeout"))
        else:
            self._log(31, f"liveness: peer has not responded in {timeout} seconds; deleting IKE SA")
            self._delete_all(notified=False, reason="liveness")

    # ------------------------------------------------------------------ sending

    def _send(self, data: bytes) -> None:
        self._events.append(SendDatagram(data, self.local, self.remote))

    def _flags(self, response: bool) -> HeaderFlag:
        f = HeaderFlag.INITIATOR if self.initiator else HeaderFlag(0)
        return f | HeaderFlag.RESPONSE if response else f

    def _encode(self, exchange: int, mid: int, payloads: list[Payload], response: bool) -> bytes:
        return self._encode_all(exchange, mid, payloads, response)[0]

    @property
    def fragmenting(self) -> bool:
        """Both ends announced IKEV2_FRAGMENTATION_SUPPORTED (RFC 7383 §2.3)."""
        return self.policy.fragmentation and self.peer_fragmentation

    def fragment_limit(self) -> int:
        """Largest IKE message (and fragment) we send unfragmented, as Libreswan computes it."""
        limit = FRAG_MAXLEN_IPV4 if self.remote.ip.version == 4 else FRAG_MAXLEN_IPV6
        return limit - (NON_ESP_MARKER_SIZE if self.local.port == NAT_T_PORT else 0)

    def _encode_all(self, exchange: int, mid: int, payloads: list[Payload],
                    response: bool) -> list[bytes]:
        """The datagrams of one message: SKF fragments when it is too big (RFC 7383 §2.5)."""
        msg = Message(self.spi_i, self.spi_r, exchange, mid, flags=self._flags(response))
        if exchange == ExchangeType.IKE_SA_INIT:
            return [replace(msg, payloads=tuple(payloads)).encode()]
        assert self._sk_out is not None
        msg = replace(msg, inner=tuple(payloads))
        data = self._sk_out.seal(msg)
        limit = self.fragment_limit()
        if self.fragmenting and len(data) > limit:
            return fragments.fragment(self._sk_out, msg, limit)
        return [data]

    def _request(
        self,
        exchange: int,
        payloads: list[Payload],
        on_response: Callable[[Message, bytes, float], None],
        now: float,
    ) -> bytes:
        mid = self._my_next_mid
        datagrams = self._encode_all(exchange, mid, payloads, response=False)
        self._outstanding = _Outstanding(
            mid, datagrams, on_response, now, now + self.policy.retransmit_interval,
            self.policy.retransmit_interval,
        )
        for d in datagrams:
            self._send(d)
        if len(datagrams) > 1:
            self._log(2, f"sending {len(datagrams)} fragments of {name_of(ExchangeType, exchange)} "
                         "request")
        return datagrams[0]

    def _respond(self, exchange: int, mid: int, payloads: list[Payload]) -> bytes:
        datagrams = self._encode_all(exchange, mid, payloads, response=True)
        self._cached = (mid, datagrams)
        for d in datagrams:
            self._send(d)
        return datagrams[0]

    def _enqueue(self, op: Callable[[float], None], now: float) -> None:
        """Run `op` now if the window is free, else after the outstanding exchange."""
        self._queue.append(op)
        self._pump(now)

    def _pump(self, now: float) -> None:
        while self._outstanding is None and self._queue and self.state is State.ESTABLISHED:
            self._queue.popleft()(now)

    # ------------------------------------------------------------------ receiving

    def receive(self, data: bytes, now: float, local: Endpoint | None = None,
                remote: Endpoint | None = None) -> list[Event]:
        """Process one datagram addressed to this IKE SA (non-ESP marker already removed).

        `local`/`remote` are the datagram's addresses: once a message has been
        authenticated, answers go back where it came from (RFC 7296 §2.23 - a
        NAT may have moved the peer, and NAT-T moves both ends to port 4500).
        """
        if self.state is State.DEAD:
            return self._flush()
        try:
            opened = self._open(data)
        except (MessageError, IkeError) as e:
            self._log(3, f"dropping message: {e}")
            return self._flush()
        if opened is None:
            return self._flush()
        if opened.exchange != ExchangeType.IKE_SA_INIT:
            self.last_received = now
            if local is not None and remote is not None:
                self.local, self.remote = local, remote
        try:
            if opened.is_response:
                self._on_response(opened, data, now)
            else:
                self._on_request(opened, data, now)
            self._pump(now)
        except (MessageError, IkeError, ValueError, KeyError, IndexError, TypeError,
                OverflowError, AssertionError) as e:
            # Authenticated but unprocessable content: never let it escape (DESIGN.md).
            self._log(3, f"dropping {opened.exchange_name} message: {type(e).__name__}: {e}")
        return self._flush()

    def _open(self, data: bytes) -> Message | None:
        """Decode (and decrypt, and reassemble) a datagram; None: nothing to process yet."""
        msg = Message.decode(data)
        if msg.exchange == ExchangeType.IKE_SA_INIT:
            return msg
        if self._sk_in is None:
            raise IntegrityError("no keys yet")
        if fragments.is_fragment(msg):
            return self._reassemble(data)
        try:
            return self._sk_in.open(data)
        except IntegrityError:
            # A retransmitted request protected with the keys before our last
            # IKE_INTERMEDIATE update: answer it from the cache (RFC 9370 §2.2.2).
            if self._sk_in_prev is not None and self._is_cached_request(msg):
                self._sk_in_prev.open(data)
                self._resend_cached()
                return None
            raise

    def _is_cached_request(self, msg: Message) -> bool:
        return (not msg.is_response and self._cached is not None
                and msg.message_id == self._cached[0] and msg.message_id < self._peer_next_mid)

    def _resend_cached(self) -> None:
        assert self._cached is not None
        for d in self._cached[1]:
            self._send(d)  # the peer lost our response: send it again

    def _reassemble(self, data: bytes) -> Message | None:
        """Collect SKF fragments (RFC 7383 §2.6); the whole message once all are in."""
        assert self._sk_in is not None
        try:
            frag = self._sk_in.open_fragment(data)
        except IntegrityError:
            if self._sk_in_prev is not None:
                frag = self._sk_in_prev.open_fragment(data)
                if self._is_cached_request(frag.message) and frag.number == 1:
                    self._resend_cached()
                return None
            raise
        m = frag.message
        if m.is_response:
            if self._outstanding is None or m.message_id != self._outstanding.message_id:
                return None  # fragments of a response nothing waits for
        elif m.message_id < self._peer_next_mid:
            if self._is_cached_request(m) and frag.number == 1:
                self._resend_cached()  # a retransmitted request: answer once per retransmission
            return None
        elif m.message_id != self._peer_next_mid:
            return None
        if self._reasm is None or self._reasm.crypto is not self._sk_in:
            self._reasm = fragments.Reassembler(self._sk_in)
        whole = self._reasm.add(frag)
        if whole is not None and frag.total > 1:
            self._log(1, f"reassembled {frag.total} fragments of {whole.exchange_name} "
                         f"{'response' if whole.is_response else 'request'}")
        return whole

    def _on_response(self, msg: Message, data: bytes, now: float) -> None:
        out = self._outstanding
        if out is None or msg.message_id != out.message_id:
            return  # a late or duplicated response: nothing is waiting for it
        self._outstanding = None
        self._answered = out
        self._my_next_mid += 1
        out.on_response(msg, data, now)

    def _on_request(self, msg: Message, data: bytes, now: float) -> None:
        if self._is_cached_request(msg):
            self._resend_cached()
            return
        if msg.message_id != self._peer_next_mid:
            return
        handler = {
            ExchangeType.IKE_INTERMEDIATE: self._r_intermediate,
            ExchangeType.IKE_AUTH: self._r_ike_auth,
            ExchangeType.CREATE_CHILD_SA: self._r_create_child,
            ExchangeType.INFORMATIONAL: self._r_informational,
            ExchangeType.IKE_FOLLOWUP_KE: self._r_followup,
        }.get(msg.exchange)
        if handler is None:
            return
        if msg.exchange in (ExchangeType.IKE_INTERMEDIATE, ExchangeType.IKE_AUTH):
            if self.state is not State.PARENT_R1 or self.initiator:
                return
        elif self.state is State.DELETING:
            # Our Delete is in flight: still answer the peer (RFC 7296 §2.25), but create nothing.
            if msg.exchange == ExchangeType.CREATE_CHILD_SA:
                self._peer_next_mid += 1
                self._log(2, "IKE SA is being deleted; answering CREATE_CHILD_SA request with "
                             "TEMPORARY_FAILURE")
                self._respond(ExchangeType.CREATE_CHILD_SA, msg.message_id,
                              [NotifyPayload(NotifyType.TEMPORARY_FAILURE)])
                return
        elif not self.established:
            return
        self._peer_next_mid += 1
        handler(msg, now)

    # ================================================================== IKE_SA_INIT

    def initiate(self, now: float) -> list[Event]:
        """Start IKE_SA_INIT (Libreswan `ipsec auto --up`)."""
        self._log(181, "initiating IKEv2 connection")
        self.ni = self._random(self.policy.nonce_bytes)
        self._send_init(now)
        return self._flush()

    def _init_payloads(self, ke_payload: KePayload, nonce: bytes, sa: SaPayload) -> list[Payload]:
        zero = bytes(8) if self.initiator else self.spi_r
        src, dst = (self.local, self.remote)
        src_hash = natd.natd_hash(self.spi_i, zero, src)
        if self.policy.encapsulation == "yes":
            # RFC 7296 §2.23: a host may fake its NAT_DETECTION_SOURCE_IP to force UDP
            # encapsulation (Libreswan encapsulation=yes).
            src_hash = natd.natd_hash(self.spi_i, zero, Endpoint(src.ip, 0))
        out: list[Payload] = [
            sa,
            ke_payload,
            NoncePayload(nonce),
            NotifyPayload(NotifyType.NAT_DETECTION_SOURCE_IP, src_hash),
            NotifyPayload(
                NotifyType.NAT_DETECTION_DESTINATION_IP, natd.natd_hash(self.spi_i, zero, dst)
            ),
        ]
        if self.policy.fragmentation:
            out.append(NotifyPayload(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED))
        out.append(NotifyPayload(
            NotifyType.SIGNATURE_HASH_ALGORITHMS, auth.encode_signature_hashes(SIGNATURE_HASHES)
        ))
        if self._offer_intermediate():
            out.append(NotifyPayload(NotifyType.INTERMEDIATE_EXCHANGE_SUPPORTED))
        return out

    def _offer_intermediate(self) -> bool:
        """Whether our IKE_SA_INIT carries INTERMEDIATE_EXCHANGE_SUPPORTED (RFC 9242 §3)."""
        wanted = self.policy.intermediate
        if self.initiator:
            if wanted is None:
                return any(props.addke_of(p) for p in self.policy.ike_proposals)
            return wanted
        return self.peer_intermediate and wanted is not False

    def _send_init(self, now: float) -> None:
        group = self._ke_override or props.first_ke(self.policy.ike_proposals)
        if group is None:
            raise IkeError("no key exchange method in our IKE proposals")
        self.ke_id = KeId(group)
        self._ke_share = transforms.ke(self.ke_id).initiate()
        payloads = self._init_payloads(
            KePayload(self.ke_id, self._ke_share.public), self.ni,
            SaPayload(tuple(props.for_wire(self.policy.ike_proposals))),
        )
        if self._cookie:
            payloads.insert(0, NotifyPayload(NotifyType.COOKIE, self._cookie))
        self.state = State.PARENT_I1
        self._init_request = self._request(ExchangeType.IKE_SA_INIT, payloads, self._i_init_response, now)
        self._log(181, f"sent IKE_SA_INIT request to {self.remote}")

    def _i_init_response(self, msg: Message, data: bytes, now: float) -> None:
        cookie = msg.notifies(NotifyType.COOKIE)
        if cookie and not msg.find(SaPayload):
            self._cookie = cookie[0].data
            self._my_next_mid = 0
            self._send_init(now)
            return
        invalid_ke = msg.notifies(NotifyType.INVALID_KE_PAYLOAD)
        if invalid_ke and not msg.find(SaPayload):
            group = int.from_bytes(invalid_ke[0].data[:2], "big") if len(invalid_ke[0].data) >= 2 else 0
            if props.includes_ke(self.policy.ike_proposals, group) and group != self.ke_id:
                self._log(3, f"received INVALID_KE_PAYLOAD response suggesting "
                             f"{transforms.ke(group).name}; resending IKE_SA_INIT request")
                self._ke_override = group
                self._my_next_mid = 0
                self._send_init(now)
                return
        sa, ke, nonce = msg.find(SaPayload), msg.find(KePayload), msg.find(NoncePayload)
        if not (sa and ke and nonce):
            self._unexpected_init(msg)
            return
        try:
            chosen = _accept_answer(self.policy.ike_proposals, sa)
            if props.ke_of(chosen) != self.ke_id or len(msg.spi_r) != 8 or msg.spi_r == bytes(8):
                raise IkeError("responder's KE or SPI does not match what we sent")
            addke = sorted(props.addke_of(chosen).items())
            if addke and not (msg.notifies(NotifyType.INTERMEDIATE_EXCHANGE_SUPPORTED)
                              and self._offer_intermediate()):
                raise IkeError("responder chose additional key exchanges without "
                               "IKE_INTERMEDIATE support")
            self.spi_r = msg.spi_r
            self.nr = nonce.data
            self._setup_ike_keys(chosen, self._ke_share.complete(ke.data))
        except IkeError as e:
            self._log(3, f"IKE_SA_INIT response rejected: {e}")
            self._die(IkeSaFailed(self.serial, str(e)))
            return
        self._init_response = data
        self._note_init_notifies(msg)
        self._addke_todo = [(int(t), g) for t, g in addke]
        if self._addke_todo:
            self._send_intermediate(now)
        else:
            self._send_ike_auth(now)

    def _unexpected_init(self, msg: Message) -> None:
        """Libreswan drops an IKE_SA_INIT answer without SA/KE/Nr and keeps retransmitting."""
        errors = [n for n in msg.notifies() if n.notify_type < 16384]
        present = {p.type for p in msg.content}
        missing = [t for t in (PayloadType.SA, PayloadType.KE, PayloadType.NONCE) if t not in present]
        what = f"containing {errors[0].name} notification; " if errors else ""
        self._log(
            3,
            f"dropping unexpected IKE_SA_INIT message {what}message payloads: "
            f"{payload_names(msg.types())}; missing payloads: {payload_names(missing)}",
        )
        # keep waiting: the retransmit timer decides when to give up
        self._outstanding = self._answered
        self._my_next_mid = 0

    def _note_init_notifies(self, msg: Message) -> None:
        zero = msg.spi_r if msg.is_response else bytes(8)
        src = [n.data for n in msg.notifies(NotifyType.NAT_DETECTION_SOURCE_IP)]
        dst = msg.notifies(NotifyType.NAT_DETECTION_DESTINATION_IP)
        if src or dst:
            self.nat = natd.detect(
                self.spi_i, zero, self.local, self.remote, src, dst[0].data if dst else None
            )
        if self.policy.encapsulation == "yes":
            # forced: ESP in UDP whatever the hashes say (our peer sees a faked NAT)
            self.nat = natd.NatResult(True, bool(self.nat and self.nat.remote_behind_nat))
            self._log(1, "encapsulation=yes: forcing NAT-T (UDP encapsulation)")
        elif self.policy.encapsulation == "no" and self.nat and self.nat.any:
            self._log(3, "NAT detected but encapsulation=no: not moving to port 4500")
            self.nat = natd.NatResult(False, False)
        sig = msg.notifies(NotifyType.SIGNATURE_HASH_ALGORITHMS)
        if sig:
            try:
                self.peer_hashes = tuple(auth.decode_signature_hashes(sig[0].data))
            except IkeError:
                self.peer_hashes = ()
        self.peer_fragmentation = bool(msg.notifies(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED))
        self.peer_intermediate = bool(msg.notifies(NotifyType.INTERMEDIATE_EXCHANGE_SUPPORTED))
        if self.nat and self.nat.any and self.initiator:
            # RFC 7296 §2.23: the initiator moves to port 4500 once a NAT is detected;
            # the responder follows the peer there (see `receive`).
            self.local = Endpoint(self.local.ip, NAT_T_PORT)
            self.remote = Endpoint(self.remote.ip, NAT_T_PORT)

    def _setup_ike_keys(self, chosen: Proposal, g_ir: bytes) -> None:
        self.chosen = chosen
        encr_t = chosen.of_type(TransformType.ENCR)[0]
        self.encr = transforms.encr(encr_t.id, encr_t.key_length)
        self.prf = transforms.prf(chosen.of_type(TransformType.PRF)[0].id)
        integ_t = chosen.of_type(TransformType.INTEG)
        self.integ = (
            transforms.integ(integ_t[0].id) if integ_t and integ_t[0].id != IntegId.NONE else None
        )
        seed = keymat.skeyseed(self.prf, self.ni, self.nr, g_ir)
        self._install_ike_keys(keymat.ike_sa_keys(
            self.prf, self.encr, self.integ, seed, self.ni, self.nr, self.spi_i, self.spi_r
        ))

    def _install_ike_keys(self, keys: keymat.IkeKeys) -> None:
        assert self.encr is not None
        self.keys = keys
        if self.initiator:
            out_e, out_a, in_e, in_a = keys.sk_ei, keys.sk_ai, keys.sk_er, keys.sk_ar
        else:
            out_e, out_a, in_e, in_a = keys.sk_er, keys.sk_ar, keys.sk_ei, keys.sk_ai
        self._sk_out = SkCrypto(self.encr, self.integ, out_e, out_a)
        self._sk_in = SkCrypto(self.encr, self.integ, in_e, in_a)

    # ================================================================== IKE_INTERMEDIATE

    def _int_auth_data(self, exchange: int, mid: int, response: bool, inner: tuple[Payload, ...],
                       from_initiator: bool) -> bytes:
        """IntAuth_[i|r]*A | IntAuth_[i|r]*P of one IKE_INTERMEDIATE message (RFC 9242 §3.3.2).

        A: the IKE header and the Encrypted payload's generic header with both lengths
        as if IV, Padding, Pad Length and ICV were absent; P: the inner payloads in clear.
        Independent of the cipher and of fragmentation.
        """
        first, plain = encode_chain(inner)
        flags = (HeaderFlag.INITIATOR if from_initiator else HeaderFlag(0)) | (
            HeaderFlag.RESPONSE if response else HeaderFlag(0))
        header = encode_header(self.spi_i, self.spi_r, PayloadType.SK, exchange, flags, mid,
                               HEADER_LEN + GENERIC_HEADER_LEN + len(plain))
        return header + struct.pack("!BBH", first, 0, GENERIC_HEADER_LEN + len(plain)) + plain

    def _chain_int_auth(self, request: bytes, response: bytes) -> None:
        """IntAuth_iN = prf(SK_pi, IntAuth_iN-1 | A | P), likewise for r, with the keys that
        protected the exchange (RFC 9242 §3.3.2)."""
        assert self.prf and self.keys
        self._int_auth_i = self.prf.prf(self.keys.sk_pi, self._int_auth_i + request)
        self._int_auth_r = self.prf.prf(self.keys.sk_pr, self._int_auth_r + response)
        self._intermediates += 1

    def _additional_ke_done(self, shared: bytes) -> None:
        """RFC 9370 §2.2.2: SKEYSEED(n) = prf(SK_d(n-1), SK(n) | Ni | Nr), new SK_* from
        prf+ with the same nonces and SPIs."""
        assert self.prf and self.keys and self.encr
        seed = keymat.additional_ke_skeyseed(self.prf, self.keys.sk_d, shared, self.ni, self.nr)
        self._sk_in_prev = self._sk_in
        self._install_ike_keys(keymat.ike_sa_keys(self.prf, self.encr, self.integ, seed,
                                                  self.ni, self.nr, self.spi_i, self.spi_r))

    def _send_intermediate(self, now: float) -> None:
        ttype, group = self._addke_todo[0]
        alg = transforms.ke(group)
        share = alg.initiate()
        payloads: list[Payload] = [KePayload(group, share.public)]
        mid = self._my_next_mid
        request = self._int_auth_data(ExchangeType.IKE_INTERMEDIATE, mid, False, tuple(payloads),
                                      True)

        def on_response(msg: Message, data: bytes, t: float) -> None:
            ke = msg.find(KePayload)
            errors = [n for n in msg.notifies() if n.notify_type < 16384]
            try:
                if errors:
                    raise IkeError(f"IKE_INTERMEDIATE response contained the error notification "
                                   f"{errors[0].name}")
                if ke is None or ke.group != group:
                    raise IkeError(f"IKE_INTERMEDIATE response lacks the {alg.name} KE payload")
                shared = share.complete(ke.data)
            except IkeError as e:
                self._log(3, str(e))
                self._die(IkeSaFailed(self.serial, str(e)))
                return
            assert msg.inner is not None
            self._chain_int_auth(request, self._int_auth_data(
                ExchangeType.IKE_INTERMEDIATE, msg.message_id, True, msg.inner, False))
            self._additional_ke_done(shared)
            self._addke_todo.pop(0)
            self._log(1, f"processed IKE_INTERMEDIATE response; additional key exchange "
                         f"{name_of(TransformType, ttype)}={alg.name} complete")
            if self._addke_todo:
                self._send_intermediate(t)
            else:
                self._send_ike_auth(t)

        self._request(ExchangeType.IKE_INTERMEDIATE, payloads, on_response, now)
        self._log(181, f"sent IKE_INTERMEDIATE request to {self.remote} "
                       f"({name_of(TransformType, ttype)}={alg.name})")

    def _r_intermediate(self, msg: Message, now: float) -> None:
        ke = msg.find(KePayload)
        assert msg.inner is not None
        answer: list[Payload] = []
        shared = None
        if ke is not None or self._addke_todo:
            ttype, group = self._addke_todo[0] if self._addke_todo else (0, 0)
            try:
                if not self._addke_todo or ke is None or ke.group != group:
                    raise IkeError("IKE_INTERMEDIATE request does not carry the negotiated "
                                   "additional key exchange")
                public, shared = transforms.ke(group).respond(ke.data)
            except IkeError as e:
                self._log(3, f"{e}; responding with INVALID_SYNTAX")
                self._respond(ExchangeType.IKE_INTERMEDIATE, msg.message_id,
                              [NotifyPayload(NotifyType.INVALID_SYNTAX)])
                self._die(IkeSaFailed(self.serial, str(e), NotifyType.INVALID_SYNTAX))
                return
            answer.append(KePayload(group, public))
        request = self._int_auth_data(ExchangeType.IKE_INTERMEDIATE, msg.message_id, False,
                                      msg.inner, True)
        response = self._int_auth_data(ExchangeType.IKE_INTERMEDIATE, msg.message_id, True,
                                       tuple(answer), False)
        self._chain_int_auth(request, response)
        self._respond(ExchangeType.IKE_INTERMEDIATE, msg.message_id, answer)
        if shared is not None:
            ttype, group = self._addke_todo.pop(0)
            self._additional_ke_done(shared)  # after the answer: it goes out under the old keys
            self._log(1, f"sent IKE_INTERMEDIATE response; additional key exchange "
                         f"{name_of(TransformType, ttype)}={transforms.ke(group).name} complete")

    def _int_auth(self, ike_auth_mid: int) -> bytes:
        """RFC 9242 §3.3.2 IntAuth for the AUTH payloads, empty without IKE_INTERMEDIATE."""
        if not self._intermediates:
            return b""
        return auth.int_auth_octets(self._int_auth_i, self._int_auth_r, ike_auth_mid)

    # ---------------------------------------------------------------- responder

    def respond_init(self, msg: Message, data: bytes, now: float) -> list[Event]:
        """Answer an IKE_SA_INIT request (the engine has already checked cookies)."""
        self.spi_i = msg.spi_i
        self._peer_next_mid = 1
        sa, ke, nonce = msg.find(SaPayload), msg.find(KePayload), msg.find(NoncePayload)
        if not (sa and ke and nonce):
            self._init_error(msg, NotifyType.INVALID_SYNTAX, b"")
            return self._flush()
        chosen_log: list[str] = []
        self.peer_intermediate = bool(msg.notifies(NotifyType.INTERMEDIATE_EXCHANGE_SUPPORTED))
        local = (self.policy.ike_proposals if self._offer_intermediate()
                 else _without_addke(self.policy.ike_proposals, keep_required=False))
        try:
            if not local:
                raise props.NoProposalChosen(
                    "no local proposal is usable without IKE_INTERMEDIATE (peer did not "
                    "send INTERMEDIATE_EXCHANGE_SUPPORTED)")
            chosen = props.select_proposal(local, sa.proposals, spi_size=0, log=chosen_log)
        except props.NoProposalChosen as e:
            self._events.append(LogLine(3, f'"{self.name}" #{self.serial}: {e}'))
            self._init_error(msg, e.notify, b"")
            return self._flush()
        self._addke_todo = [(int(t), g) for t, g in sorted(props.addke_of(chosen).items())]
        group = props.ke_of(chosen) or KeId.NONE
        if ke.group != group:
            self._events.append(LogLine(3, f'"{self.name}" #{self.serial}: responding to '
                                           f"IKE_SA_INIT with INVALID_KE_PAYLOAD suggesting "
                                           f"{transforms.ke(group).name}"))
            self._init_error(msg, NotifyType.INVALID_KE_PAYLOAD, group.to_bytes(2, "big"))
            return self._flush()
        try:
            public, g_ir = transforms.ke(group).respond(ke.data)
        except IkeError as e:
            self._log(3, f"peer's KE payload is invalid: {e}")
            self._init_error(msg, NotifyType.INVALID_SYNTAX, b"")
            return self._flush()
        self.ke_id = KeId(group)
        self.spi_r = self._random(8)
        self.ni, self.nr = nonce.data, self._random(self.policy.nonce_bytes)
        self._init_request = data
        for line in chosen_log:
            self._log(1, line)
        self._note_init_notifies(msg)
        self._setup_ike_keys(chosen, g_ir)
        answer = SaPayload((replace(chosen, spi=b""),))
        self._init_response = self._respond(
            ExchangeType.IKE_SA_INIT, 0, self._init_payloads(KePayload(group, public), self.nr, answer)
        )
        self.state = State.PARENT_R1
        self._log(1, f"sent IKE_SA_INIT reply {{{self.ike_description()}}}")
        return self._flush()

    def _init_error(self, msg: Message, notify: NotifyType, data: bytes) -> None:
        """A stateless IKE_SA_INIT error answer (SPIr stays zero, RFC 7296 §2.6)."""
        reply = Message(
            msg.spi_i, bytes(8), ExchangeType.IKE_SA_INIT, 0,
            (NotifyPayload(notify, data),), HeaderFlag.RESPONSE,
        )
        self._send(reply.encode())
        self._events.append(LogLine(3, f'"{self.name}" #{self.serial}: responding to IKE_SA_INIT '
                                       f"message (ID 0) from {self.remote} with unencrypted "
                                       f"notification {notify.name}"))
        self.state = State.DEAD
        self._events.append(IkeSaFailed(self.serial, notify.name, notify))

    # ================================================================== IKE_AUTH

    def _auth_method(self) -> tuple[AuthMethod, Any]:
        """Our AUTH method and signature scheme (for digital signatures) for the peer we face."""
        a = self.policy.local_auth
        if a.authby == "secret":
            return AuthMethod.PSK, None
        if a.authby == "null":
            return AuthMethod.NULL, None
        key = a.private_key
        if key is None:
            raise IkeError(f"authby={a.authby} needs a private key")
        common = [h for h in reversed(SIGNATURE_HASHES) if h in self.peer_hashes]
        if common and a.authby != "rsa-sha1":
            return AuthMethod.DIGITAL_SIGNATURE, common[0]
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return {
                256: AuthMethod.ECDSA_SHA256_P256,
                384: AuthMethod.ECDSA_SHA384_P384,
                521: AuthMethod.ECDSA_SHA512_P521,
            }[key.curve.key_size], None
        if a.authby in ("rsasig", "rsa-sha1"):
            return AuthMethod.RSA_SIG, None
        raise IkeError("peer does not support RFC 7427 signatures and authby forbids RSA-SHA1")

    def _our_auth(self, id_payload: IdiPayload | IdrPayload) -> AuthPayload:
        assert self.keys and self.prf
        method, scheme = self._auth_method()
        int_auth = self._int_auth(self._ike_auth_mid)
        if self.initiator:
            octets = auth.signed_octets(
                self._init_request, self.nr, self.prf, self.keys.sk_pi, id_payload.encode(),
                int_auth,
            )
            sk_p = self.keys.sk_pi
        else:
            octets = auth.signed_octets(
                self._init_response, self.ni, self.prf, self.keys.sk_pr, id_payload.encode(),
                int_auth,
            )
            sk_p = self.keys.sk_pr
        data = auth.compute_auth(
            method, octets, prf=self.prf, psk=self.policy.local_auth.psk, sk_p=sk_p,
            private_key=self.policy.local_auth.private_key, scheme=scheme,
        )
        return AuthPayload(method, data)

    def _verify_peer(self, policy: IkePolicy, id_payload: IdiPayload | IdrPayload,
                     auth_payload: AuthPayload) -> auth.AuthResult:
        assert self.keys and self.prf
        if self.initiator:
            signed, nonce, sk_p = self._init_response, self.ni, self.keys.sk_pr
        else:
            signed, nonce, sk_p = self._init_request, self.nr, self.keys.sk_pi
        octets = auth.signed_octets(signed, nonce, self.prf, sk_p, id_payload.encode(),
                                    self._int_auth(self._ike_auth_mid))
        r = policy.remote_auth
        return auth.verify_auth(
            auth_payload.method, octets, auth_payload.data, prf=self.prf, psk=r.psk, sk_p=sk_p,
            public_key=r.public_key, allowed_hashes=SIGNATURE_HASHES,
            allowed_methods=AUTHBY_METHODS[r.authby],
        )

    def _authenticated_phrase(self, result: auth.AuthResult, peer: Identity) -> str:
        if result.method in (AuthMethod.PSK, AuthMethod.NULL):
            authby = "secret" if result.method is AuthMethod.PSK else "null"
            return f"authenticated peer using authby={authby} and {peer.describe()}"
        return f"authenticated peer '{result.description}' signature using preloaded certificate '{peer}'"

    def _child_request_payloads(self, spi_in: bytes, ke_payload: KePayload | None = None,
                                nonce: bytes = b"", rekey_spi: bytes | None = None) -> list[Payload]:
        p = self.policy
        esp = props.for_wire(self._child_proposals(pfs=ke_payload is not None))
        out: list[Payload] = []
        if rekey_spi is not None:
            out.append(NotifyPayload(NotifyType.REKEY_SA, protocol=ProtocolId.ESP, spi=rekey_spi))
        if p.transport:
            out.append(NotifyPayload(NotifyType.USE_TRANSPORT_MODE))
        out.append(SaPayload(tuple(replace(x, spi=spi_in) for x in esp)))
        if nonce:
            out.append(NoncePayload(nonce))
        if ke_payload is not None:
            out.append(ke_payload)
        out += [TsiPayload(self._local_ts()), TsrPayload(p.remote_ts)]
        return out

    def _send_ike_auth(self, now: float) -> None:
        p = self.policy
        idi = IdiPayload(p.local_id)
        self._ike_auth_mid = self._my_next_mid
        try:
            auth_payload = self._our_auth(idi)
        except IkeError as e:
            self._log(3, f"cannot authenticate: {e}")
            self._die(IkeSaFailed(self.serial, str(e)))
            return
        payloads: list[Payload] = [idi]
        payloads += [CertPayload(CertEncoding.X509_SIGNATURE, c) for c in p.local_certs]
        if p.send_initial_contact:
            payloads.append(NotifyPayload(NotifyType.INITIAL_CONTACT))
        if p.remote_id is not None:
            payloads.append(IdrPayload(p.remote_id))
        payloads.append(auth_payload)
        if p.modecfg_client:
            payloads.append(_cp_request(p))
        child = _PendingChild(self._next_serial(), self._new_esp_spi())
        self._pending_child = child
        payloads += self._child_request_payloads(child.spi_in)
        self.state = State.PARENT_I2
        self._request(ExchangeType.IKE_AUTH, payloads, self._i_auth_response, now)
        self._log(182, f"sent IKE_AUTH request {{{self.ike_description()}}}")

    def _i_auth_response(self, msg: Message, data: bytes, now: float) -> None:
        idr, auth_payload = msg.find(IdrPayload), msg.find(AuthPayload)
        if auth_payload is None or idr is None:
            errors = [n for n in msg.notifies() if n.notify_type < 16384]
            name = errors[0].name if errors else "no AUTH payload"
            self._log(3, f"IKE SA authentication request rejected by peer: {name}")
            self._die(IkeSaFailed(self.serial, name, errors[0].notify_type if errors else None))
            return
        p = self.policy
        if p.remote_id is not None and idr.identity != p.remote_id:
            self._log(3, f"we require IKEv2 peer to have ID '{p.remote_id}', but peer declares "
                         f"'{idr.identity}'")
            self._auth_failed_informational(now)
            return
        try:
            result = self._verify_peer(p, idr, auth_payload)
        except IkeError as e:
            self._log(3, f"authentication of peer failed: {e}")
            self._auth_failed_informational(now)
            return
        self.peer_id = idr.identity
        self.peer_certs = tuple(c.data for c in msg.find_all(CertPayload))
        self.state = State.ESTABLISHED
        self._log(3, "initiator established IKE SA; " + self._authenticated_phrase(result, idr.identity))
        self._events.append(IkeSaEstablished(self.serial, str(idr.identity), result.description))
        pending, self._pending_child = self._pending_child, None
        if p.modecfg_client:
            self._i_cp_reply(msg)
        if pending is not None:
            self._i_child_answer(msg, pending, "IKE_AUTH", g_ir=None, nonces=(self.ni, self.nr))

    def _i_cp_reply(self, msg: Message) -> None:
        """Record the lease of a CP(CFG_REPLY) (RFC 7296 §3.15.4), in pluto's words."""
        cp = next((c for c in msg.find_all(CpPayload) if c.cfg_type == CfgType.CFG_REPLY), None)
        if cp is None:
            return
        addresses: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
        dns: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
        domains: list[str] = []
        for a in cp.attributes:
            shown: object
            if a.type == CfgAttr.INTERNAL_IP4_ADDRESS and len(a.value) == 4:
                shown = ipaddress.IPv4Address(a.value)
                addresses.append(shown)
            elif a.type == CfgAttr.INTERNAL_IP6_ADDRESS and len(a.value) == 17:
                shown = ipaddress.IPv6Address(a.value[:16])
                addresses.append(shown)
            elif a.type == CfgAttr.INTERNAL_IP4_DNS and len(a.value) == 4:
                shown = ipaddress.IPv4Address(a.value)
                dns.append(shown)
            elif a.type == CfgAttr.INTERNAL_IP6_DNS and len(a.value) == 16:
                shown = ipaddress.IPv6Address(a.value)
                dns.append(shown)
            elif a.type == CfgAttr.INTERNAL_DNS_DOMAIN and a.value:
                shown = a.value.decode("ascii", "replace")
                domains.append(shown)
            else:
                continue
            self._log(2, f"received {name_of(CfgAttr, a.type)} {shown}")
        if any(a.is_unspecified for a in addresses):
            self._log(3, f"ERROR INTERNAL_IP4_ADDRESS {addresses[0]} is invalid")
            return
        if addresses:
            self.lease = LeaseReply(tuple(addresses), tuple(dns), tuple(domains))
            self._events.append(LeaseReceived(self.serial, tuple(str(a) for a in addresses),
                                              tuple(str(d) for d in dns), tuple(domains)))

    def _local_ts(self) -> tsmod.Selectors:
        """Our TSi: the leased address once we have one (modecfg client), else the policy's."""
        if self.lease is not None and self.policy.modecfg_client:
            return tuple(tsmod.host(a) for a in self.lease.addresses)
        return self.policy.local_ts

    def _auth_failed_informational(self, now: float) -> None:
        """RFC 7296 §2.21.2: tell the responder we could not authenticate it, then give up."""
        self.state = State.DELETING
        self._request(ExchangeType.INFORMATIONAL,
                      [NotifyPayload(NotifyType.AUTHENTICATION_FAILED)], lambda *_: None, now)
        self._outstanding = None
        self._die(IkeSaFailed(self.serial, "AUTHENTICATION_FAILED", NotifyType.AUTHENTICATION_FAILED))

    def _r_ike_auth(self, msg: Message, now: float) -> None:
        if self.state is not State.PARENT_R1:
            return
        self._log(1, f"processing decrypted IKE_AUTH request: {payload_summary(msg)}")
        idi, auth_payload = msg.find(IdiPayload), msg.find(AuthPayload)
        if idi is None or auth_payload is None:
            self._auth_reject(msg, NotifyType.INVALID_SYNTAX, "IKE_AUTH request lacks IDi or AUTH")
            return
        idr_wanted = msg.find(IdrPayload)
        policy: IkePolicy | None = self.policy
        if self._lookup is not None:
            policy = self._lookup.for_ike_auth(
                self.policy, self.local, self.remote, idi.identity,
                idr_wanted.identity if idr_wanted else None,
            )
        elif self.policy.remote_id is not None and idi.identity != self.policy.remote_id:
            policy = None
        if policy is None:
            self._auth_reject(msg, NotifyType.AUTHENTICATION_FAILED,
                              f"no connection matches peer {idi.identity.describe()}")
            return
        self.policy = policy
        self._ike_auth_mid = msg.message_id
        try:
            result = self._verify_peer(policy, idi, auth_payload)
        except IkeError as e:
            self._auth_reject(msg, NotifyType.AUTHENTICATION_FAILED,
                              f"authentication of {idi.identity.describe()} failed: {e}")
            return
        self.peer_id = idi.identity
        idr = IdrPayload(policy.local_id)
        try:
            our_auth = self._our_auth(idr)
        except IkeError as e:
            self._auth_reject(msg, NotifyType.AUTHENTICATION_FAILED, f"cannot authenticate: {e}")
            return
        self.state = State.ESTABLISHED
        self.peer_certs = tuple(c.data for c in msg.find_all(CertPayload))
        self._log(3, "responder established IKE SA; " + self._authenticated_phrase(result, idi.identity))
        self._events.append(IkeSaEstablished(self.serial, str(idi.identity), result.description))
        if msg.notifies(NotifyType.INITIAL_CONTACT):
            self._events.append(InitialContact(str(idi.identity), self.serial))
        answer: list[Payload] = [idr]
        answer += [CertPayload(CertEncoding.X509_SIGNATURE, c) for c in policy.local_certs]
        answer.append(our_auth)
        cp_error = None
        if policy.lease is not None:
            cp_error = self._r_cp_request(msg, policy, answer)
        if msg.find(SaPayload) is not None:
            if cp_error is not None:
                answer.append(NotifyPayload(cp_error))
            else:
                answer += self._r_child(msg, "IKE_AUTH", nonces=(self.ni, self.nr), ke=None)
        self._respond(ExchangeType.IKE_AUTH, msg.message_id, answer)

    def _r_cp_request(self, msg: Message, policy: IkePolicy, answer: list[Payload]) -> NotifyType | None:
        """Lease an address for CP(CFG_REQUEST) (RFC 7296 §3.15); the error notify for the
        Child SA when the peer sent no request or the pool is empty."""
        assert policy.lease is not None and self.peer_id is not None
        cp = next((c for c in msg.find_all(CpPayload) if c.cfg_type == CfgType.CFG_REQUEST), None)
        if cp is None:
            self._log(3, "peer did not send a CP(CFG_REQUEST) but the connection has an address "
                         "pool; responding with FAILED_CP_REQUIRED")
            return NotifyType.FAILED_CP_REQUIRED
        lease = policy.lease(self.peer_id)
        if lease is None or not lease.addresses:
            self._log(3, "no address available in the address pool; responding with "
                         "INTERNAL_ADDRESS_FAILURE")
            return NotifyType.INTERNAL_ADDRESS_FAILURE
        self.lease = lease
        asked = {a.type for a in cp.attributes}
        attrs: list[CfgAttribute] = []
        for a in lease.addresses:
            if a.version == 4:
                attrs.append(CfgAttribute(CfgAttr.INTERNAL_IP4_ADDRESS, a.packed))
            else:
                attrs.append(CfgAttribute(CfgAttr.INTERNAL_IP6_ADDRESS, a.packed + bytes([128])))
        for d in lease.dns:
            want = CfgAttr.INTERNAL_IP4_DNS if d.version == 4 else CfgAttr.INTERNAL_IP6_DNS
            if want in asked or not asked:
                attrs.append(CfgAttribute(want, d.packed))
        attrs += [CfgAttribute(CfgAttr.INTERNAL_DNS_DOMAIN, x.encode("ascii", "replace"))
                  for x in lease.domains]
        answer.append(CpPayload(CfgType.CFG_REPLY, tuple(attrs)))
        self._log(2, "leased " + ", ".join(str(a) for a in lease.addresses) + " to "
                  + self.peer_id.describe())
        return None

    def _auth_reject(self, msg: Message, notify: NotifyType, why: str) -> None:
        self._log(3, why)
        self._respond(ExchangeType.IKE_AUTH, msg.message_id, [NotifyPayload(notify)])
        self._die(IkeSaFailed(self.serial, notify.name, notify))

    # ================================================================== Child SAs

    def _r_child(self, msg: Message, exchange: str, nonces: tuple[bytes, bytes],
                 ke: tuple[bytes, bytes] | None, rekey_of: ChildSa | None = None) -> list[Payload]:
        """Responder side of a Child SA negotiation; returns the payloads for the answer.

        `nonces` are (Ni, Nr) of the exchange; `ke` is (our public value, g^ir) with PFS.
        """
        serial = self._next_serial()
        sa, tsi, tsr = msg.find(SaPayload), msg.find(TsiPayload), msg.find(TsrPayload)
        if sa is None or tsi is None or tsr is None:
            self._log(3, f"{exchange} request lacks SA, TSi or TSr", serial)
            return [NotifyPayload(NotifyType.INVALID_SYNTAX)]
        p = self._policy_for_selectors(tsi, tsr) if rekey_of is None else self.policy
        if p is not self.policy and exchange == "IKE_AUTH":
            # Libreswan switches the IKE SA to the connection the Child SA fits.
            self._log(1, f'switched to connection "{p.name}" for the proposed traffic selectors')
            self.policy = p
        local = self._child_proposals(pfs=ke is not None, policy=p)
        chosen_log: list[str] = []
        try:
            chosen = props.select_proposal(local, sa.proposals, spi_size=4, log=chosen_log)
        except props.NoProposalChosen as e:
            self._log(3, f"{e}; responding with {e.notify.name}", serial)
            return [NotifyPayload(e.notify)]
        for line in chosen_log:
            self._log(1, line, serial)
        try:
            if self.lease is not None and p.lease is not None:
                # An address pool narrows TSi to the lease (as Libreswan does).
                offered = tsmod.usable(tsi.selectors)
                remote_ts = tuple(tsmod.host(a) for a in self.lease.addresses
                                  if any(tsmod.contains(t, tsmod.host(a)) for t in offered))
                if not remote_ts:
                    raise tsmod.TsUnacceptable("lease outside TSi")
            else:
                remote_ts = tsmod.responder_narrow(tsmod.usable(tsi.selectors), p.remote_ts,
                                                   p.narrowing)
            local_ts = tsmod.responder_narrow(tsmod.usable(tsr.selectors), p.local_ts, p.narrowing)
        except (tsmod.TsUnacceptable, ValueError):
            self._log(3, "traffic selectors do not match local policy; responding with "
                         "TS_UNACCEPTABLE", serial)
            return [NotifyPayload(NotifyType.TS_UNACCEPTABLE)]
        transport = p.transport and bool(msg.notifies(NotifyType.USE_TRANSPORT_MODE))
        spi_in = self._new_esp_spi()

        def complete(additional: tuple[bytes, ...], now: float) -> None:
            child = self._make_child(serial, spi_in, chosen, local_ts, remote_ts, transport,
                                     nonces, ke[1] if ke else None, we_initiated=False,
                                     additional=additional, conn=p.name)
            self._install_child(child, rekey_of, "responder")

        self._last_child_serial = serial
        addke = _addke_list(chosen)
        if addke and ke is not None:
            self._expect_followups(addke, complete)
        else:
            complete((), 0.0)
        out: list[Payload] = []
        if transport:
            out.append(NotifyPayload(NotifyType.USE_TRANSPORT_MODE))
        out.append(SaPayload((replace(chosen, spi=spi_in),)))
        return out + [TsiPayload(remote_ts), TsrPayload(local_ts)]

    def _child_failed(self, serial: int, reason: str, notify: NotifyType | None = None) -> None:
        self._events.append(ChildSaFailed(serial, self.serial, reason, notify))

    def _i_child_answer(self, msg: Message, pending: _PendingChild, exchange: str,
                        g_ir: bytes | None, nonces: tuple[bytes, bytes], now: float = 0.0) -> None:
        errors = [n for n in msg.notifies() if n.notify_type in CHILD_ERRORS]
        if errors:
            self._log(2 if exchange == "IKE_AUTH" else 3,
                      f"{exchange} response contained the error notification {errors[0].name}",
                      pending.serial)
            self._child_failed(pending.serial, errors[0].name, NotifyType(errors[0].notify_type))
            return
        sa, tsi, tsr = msg.find(SaPayload), msg.find(TsiPayload), msg.find(TsrPayload)
        if sa is None or tsi is None or tsr is None:
            return  # childless answer
        p = self.policy
        try:
            chosen = _accept_answer(self._child_proposals(pfs=g_ir is not None), sa)
            local_ts, remote_ts = tsmod.usable(tsi.selectors), tsmod.usable(tsr.selectors)
            if len(chosen.spi) != 4:
                raise IkeError("Child SA SPI is not 4 octets")
        except (IkeError, ValueError) as e:
            self._log(3, f"{exchange} response rejected: {e}", pending.serial)
            self._child_failed(pending.serial, str(e))
            return
        leased = self.lease is not None and p.modecfg_client and local_ts == self._local_ts()
        if not ((leased or tsmod.initiator_accepts(self._local_ts(), local_ts, p.narrowing))
                and tsmod.initiator_accepts(p.remote_ts, remote_ts, p.narrowing)):
            self._log(3, f"{exchange} response has unacceptable traffic selectors "
                         f"{tsmod.describe(local_ts, remote_ts)}", pending.serial)
            self._child_failed(pending.serial, "unacceptable traffic selectors")
            return
        transport = p.transport and bool(msg.notifies(NotifyType.USE_TRANSPORT_MODE))

        def complete(additional: tuple[bytes, ...], t: float) -> None:
            rekey_of = self.children.get(pending.rekey_of) if pending.rekey_of is not None else None
            child = self._make_child(pending.serial, pending.spi_in, chosen, local_ts, remote_ts,
                                     transport, nonces, g_ir, we_initiated=True,
                                     additional=additional)
            self._install_child(child, rekey_of, "initiator", pending, nonces)

        addke = _addke_list(chosen)
        if addke and g_ir is not None:
            self._send_followup(msg, addke, (), complete, now, pending.serial)
        else:
            complete((), now)

    def _make_child(self, serial: int, spi_in: bytes, chosen: Proposal, local_ts: tsmod.Selectors,
                    remote_ts: tsmod.Selectors, transport: bool, nonces: tuple[bytes, bytes],
                    g_ir: bytes | None, we_initiated: bool,
                    additional: tuple[bytes, ...] = (), conn: str = "") -> ChildSa:
        assert self.prf and self.keys
        e = chosen.of_type(TransformType.ENCR)[0]
        encr = transforms.encr(e.id, e.key_length)
        it = chosen.of_type(TransformType.INTEG)
        integ_id = it[0].id if it else IntegId.NONE
        integ = transforms.integ(integ_id) if integ_id != IntegId.NONE else None
        km = keymat.child_sa_keys(self.prf, encr, integ, self.keys.sk_d, nonces[0], nonces[1], g_ir,
                                  additional)
        # *_i keys protect traffic from the exchange's initiator to its responder.
        out_e, out_a, in_e, in_a = (
            (km.encr_i, km.integ_i, km.encr_r, km.integ_r) if we_initiated
            else (km.encr_r, km.integ_r, km.encr_i, km.integ_i)
        )
        esn = props.esn_of(chosen)
        keys = ChildSaKeys(
            serial=serial, protocol=ProtocolId.ESP, mode="transport" if transport else "tunnel",
            spi_in=spi_in, spi_out=chosen.spi, encr_id=e.id, encr_key_bits=encr.key_bits,
            integ_id=integ_id, esn=esn, key_in_encr=in_e, key_in_integ=in_a,
            key_out_encr=out_e, key_out_integ=out_a, ts_local=local_ts, ts_remote=remote_ts,
            udp_encap=bool(self.nat and self.nat.any), conn=conn or self.policy.name,
        )
        return ChildSa(serial, spi_in, chosen.spi, chosen, local_ts, remote_ts, transport, keys)

    def _install_child(self, child: ChildSa, rekey_of: ChildSa | None, role: str,
                       pending: _PendingChild | None = None,
                       nonces: tuple[bytes, bytes] = (b"", b"")) -> None:
        self.children[child.serial] = child
        self._last_child = child
        self._events.append(InstallChildSa(child.keys, rekey_of.serial if rekey_of else None,
                                           responder=role != "initiator"))
        encap = "ESPinUDP" if child.keys.udp_encap else "ESP"
        esn = "/ESN" if child.keys.esn else ""
        mode = "transport" if child.transport else "tunnel"
        self._log(
            4,
            f"{role} established Child SA using #{self.serial}; IPsec {mode} "
            f"{tsmod.describe(child.local_ts, child.remote_ts)} "
            f"{{{encap}{esn}=>0x{child.spi_out.hex()} <0x{child.spi_in.hex()} "
            f"{props.describe(child.proposal, 'esp')} DPD=passive}}",
            child.serial,
        )
        if rekey_of is None:
            return
        rekey_of.replaced_by = child.serial
        if role != "initiator":
            return
        if pending is not None and pending.collision is not None:
            # RFC 7296 §2.8.1: both ends rekeyed it. The SA made with the lowest of the four
            # nonces is redundant and closed by whoever created it; the node that initiated
            # the surviving one deletes the replaced SA.
            peer_ni, our_nr, peer_child = pending.collision
            if min(nonces) < min(peer_ni, our_nr):
                self._log(2, f"simultaneous rekey of Child SA #{rekey_of.serial}: deleting our "
                             f"redundant Child SA #{child.serial}, #{peer_child} survives",
                          child.serial)
                rekey_of.replaced_by = peer_child
                self._queue_delete_child(child)
                return
            self._log(2, f"simultaneous rekey of Child SA #{rekey_of.serial}: Child SA "
                         f"#{child.serial} survives, the peer deletes #{peer_child}", child.serial)
        # RFC 7296 §2.8: the rekey's initiator deletes the old Child SA once the new one is in.
        self._queue_delete_child(rekey_of)

    def _queue_delete_child(self, child: ChildSa) -> None:
        self._deleting_children.add(child.serial)
        self._queue.append(lambda now: self._send_delete_child(child, now))

    # ---------------------------------------------------------------- CREATE_CHILD_SA

    def create_child(self, now: float, rekey: int | None = None) -> list[Event]:
        """Negotiate a new Child SA, or rekey Child SA `rekey` (make-before-break)."""
        self._enqueue(lambda t: self._send_create_child(t, rekey), now)
        return self._flush()

    def rekey_child(self, serial: int, now: float) -> list[Event]:
        return self.create_child(now, rekey=serial)

    def _send_create_child(self, now: float, rekey: int | None) -> None:
        old = self.children.get(rekey) if rekey is not None else None
        if rekey is not None and (old is None or old.replaced_by is not None
                                  or old.serial in self._deleting_children):
            return  # gone, already rekeyed (perhaps by the peer), or being deleted
        if self._ike_rekey_busy():
            self._log(2, "not starting a CREATE_CHILD_SA exchange: the IKE SA is being rekeyed")
            return
        pending = _PendingChild(self._next_serial(), self._new_esp_spi(),
                                nonce=self._random(self.policy.nonce_bytes), rekey_of=rekey)
        ke_payload = None
        if self.policy.pfs_groups:
            group = self.policy.pfs_groups[0]
            pending.ke_share = transforms.ke(group).initiate()
            ke_payload = KePayload(group, pending.ke_share.public)
        self._pending_child = pending
        payloads = self._child_request_payloads(pending.spi_in, ke_payload, pending.nonce,
                                                old.spi_in if old else None)
        if old is None:
            self._log(2, f"initiating Child SA using IKE SA #{self.serial}", pending.serial)
        else:
            self._log(2, f"initiating rekey of Child SA #{old.serial} using IKE SA #{self.serial}",
                      pending.serial)
        self._request(ExchangeType.CREATE_CHILD_SA, payloads, self._i_create_child_response, now)
        what = "new IPsec SA" if old is None else f"rekey of #{old.serial}"
        self._log(189, f"sent CREATE_CHILD_SA request for {what}", pending.serial)

    def _i_create_child_response(self, msg: Message, data: bytes, now: float) -> None:
        pending, self._pending_child = self._pending_child, None
        if pending is None:
            return
        errors = [n for n in msg.notifies() if n.notify_type < 16384]
        if errors:
            self._log(3, f"CREATE_CHILD_SA failed with error notification {errors[0].name}",
                      pending.serial)
            self._log(200, "state transition 'initiate create Child SA (CREATE_CHILD_SA)' failed",
                      pending.serial)
            self._child_failed(pending.serial, errors[0].name, NotifyType(errors[0].notify_type))
            return
        nonce = msg.find(NoncePayload)
        if nonce is None:
            self._log(3, "CREATE_CHILD_SA response lacks Nr", pending.serial)
            self._child_failed(pending.serial, "no Nr")
            return
        g_ir = None
        if pending.ke_share is not None:
            ke = msg.find(KePayload)
            try:
                if ke is None or ke.group != self.policy.pfs_groups[0]:
                    raise IkeError("CREATE_CHILD_SA response lacks the KE we asked for")
                g_ir = pending.ke_share.complete(ke.data)
            except IkeError as e:
                self._log(3, f"CREATE_CHILD_SA response rejected: {e}", pending.serial)
                self._child_failed(pending.serial, str(e))
                return
        self._i_child_answer(msg, pending, "CREATE_CHILD_SA", g_ir, (pending.nonce, nonce.data), now)

    def _r_create_child(self, msg: Message, now: float) -> None:
        sa, nonce = msg.find(SaPayload), msg.find(NoncePayload)
        if sa is None or nonce is None:
            self._respond(ExchangeType.CREATE_CHILD_SA, msg.message_id,
                          [NotifyPayload(NotifyType.INVALID_SYNTAX)])
            return
        if sa.proposals and sa.proposals[0].protocol == ProtocolId.IKE:
            self._r_rekey_ike(msg, sa, nonce, now)
            return
        if self._ike_rekey_busy():
            # RFC 7296 §2.25: no new Child SAs on an IKE SA that is being rekeyed.
            self._respond(ExchangeType.CREATE_CHILD_SA, msg.message_id,
                          [NotifyPayload(NotifyType.TEMPORARY_FAILURE)])
            return
        rekey_of = None
        rekey = msg.notifies(NotifyType.REKEY_SA)
        if rekey:
            rekey_of = next((c for c in self.children.values() if c.spi_out == rekey[0].spi), None)
            if rekey_of is None:
                self._respond(ExchangeType.CREATE_CHILD_SA, msg.message_id,
                              [NotifyPayload(NotifyType.CHILD_SA_NOT_FOUND,
                                             protocol=ProtocolId.ESP, spi=rekey[0].spi)])
                return
            if rekey_of.serial in self._deleting_children:
                # RFC 7296 §2.25.1: we are deleting it (perhaps after our own rekey of it).
                self._log(2, f"rejecting rekey of Child SA #{rekey_of.serial} being deleted with "
                             "TEMPORARY_FAILURE", rekey_of.serial)
                self._respond(ExchangeType.CREATE_CHILD_SA, msg.message_id,
                              [NotifyPayload(NotifyType.TEMPORARY_FAILURE)])
                return
        nr = self._random(self.policy.nonce_bytes)
        ke_in = msg.find(KePayload)
        ke_out: list[Payload] = []
        ke = None
        if ke_in is not None:
            if ke_in.group not in self.policy.pfs_groups:
                want = self.policy.pfs_groups[0] if self.policy.pfs_groups else None
                answer = ([NotifyPayload(NotifyType.INVALID_KE_PAYLOAD, want.to_bytes(2, "big"))]
                          if want else [NotifyPayload(NotifyType.NO_PROPOSAL_CHOSEN)])
                self._respond(ExchangeType.CREATE_CHILD_SA, msg.message_id, answer)
                return
            try:
                public, g_ir = transforms.ke(ke_in.group).respond(ke_in.data)
            except IkeError:
                self._respond(ExchangeType.CREATE_CHILD_SA, msg.message_id,
                              [NotifyPayload(NotifyType.INVALID_SYNTAX)])
                return
            ke = (public, g_ir)
            ke_out = [KePayload(ke_in.group, public)]
        self._last_child_serial = None
        child_payloads = self._r_child(msg, "CREATE_CHILD_SA", (nonce.data, nr), ke, rekey_of)
        if isinstance(child_payloads[0], NotifyPayload) and child_payloads[0].notify_type < 16384:
            self._respond(ExchangeType.CREATE_CHILD_SA, msg.message_id, child_payloads)
            return
        pending = self._pending_child
        if (rekey_of is not None and pending is not None and pending.rekey_of == rekey_of.serial
                and self._last_child_serial is not None):
            # Our own rekey of this Child SA is in flight: a collision (RFC 7296 §2.8.1),
            # settled when our answer arrives.
            pending.collision = (nonce.data, nr, self._last_child_serial)
        answer = [p for p in child_payloads if isinstance(p, SaPayload | NotifyPayload)]
        rest = [p for p in child_payloads if not isinstance(p, SaPayload | NotifyPayload)]
        self._respond(ExchangeType.CREATE_CHILD_SA, msg.message_id,
                      answer + [NoncePayload(nr)] + ke_out + rest + self._link_notify())

    # ---------------------------------------------------------------- IKE SA rekey

    def _ike_rekey_busy(self) -> bool:
        """Whether an IKE SA rekey is under way or done on this SA (RFC 7296 §2.8.2)."""
        return (self._rekey_out is not None or self._rekey_in is not None
                or self._rekeyed_to is not None)

    def rekey_ike(self, now: float) -> list[Event]:
        """Rekey this IKE SA (RFC 7296 §2.18): a new IKE SA inherits the Child SAs."""
        self._enqueue(self._send_rekey_ike, now)
        return self._flush()

    def _send_rekey_ike(self, now: float) -> None:
        if self._rekey_in is not None or self._rekeyed_to is not None:
            return  # the peer rekeyed it already
        new_spi = self._random(8)
        ni = self._random(self.policy.nonce_bytes)
        group = KeId(self.ke_id)
        share = transforms.ke(group).initiate()
        offered = self._rekey_proposals()
        sa = SaPayload(tuple(props.with_spi(props.for_wire(offered), new_spi)))
        new_serial = self._next_serial()
        self._rekey_out = ni
        self._log(2, f"initiating rekey of IKE SA #{self.serial}", new_serial)

        def failed() -> None:
            self._rekey_out = None
            self._announce_rekey_in()

        def on_response(msg: Message, data: bytes, t: float) -> None:
            sa_r, nonce, ke = msg.find(SaPayload), msg.find(NoncePayload), msg.find(KePayload)
            errors = [n for n in msg.notifies() if n.notify_type < 16384]
            if errors or not (sa_r and nonce and ke):
                name = errors[0].name if errors else "missing SA, Nr or KE"
                self._log(3, f"CREATE_CHILD_SA failed with error notification {name}", new_serial)
                failed()
                return
            try:
                chosen = _accept_answer(offered, sa_r)
                if props.ke_of(chosen) != group or ke.group != group or len(chosen.spi) != 8:
                    raise IkeError("rekey answer's KE group or SPI is wrong")
                g_ir = share.complete(ke.data)
            except IkeError as e:
                self._log(3, f"IKE SA rekey answer rejected: {e}", new_serial)
                failed()
                return

            def complete(additional: tuple[bytes, ...], t2: float) -> None:
                self._rekey_out = None
                self._finish_ike_rekey(new_serial, True, new_spi, chosen.spi, ni, nonce.data,
                                       replace(chosen, spi=b""), g_ir, t2, additional)

            addke = _addke_list(chosen)
            if addke:
                self._send_followup(msg, addke, (), complete, t, new_serial, on_fail=failed)
            else:
                complete((), t)

        self._request(ExchangeType.CREATE_CHILD_SA, [sa, NoncePayload(ni), KePayload(group, share.public)],
                      on_response, now)
        self._log(189, "sent CREATE_CHILD_SA request to rekey IKE SA", new_serial)

    def _r_rekey_ike(self, msg: Message, sa: SaPayload, nonce: NoncePayload, now: float) -> None:
        if self._rekey_in is not None or self._rekeyed_to is not None:
            # RFC 7296 §2.25: already rekeyed (and about to be deleted).
            self._respond(ExchangeType.CREATE_CHILD_SA, msg.message_id,
                          [NotifyPayload(NotifyType.TEMPORARY_FAILURE)])
            return
        ke = msg.find(KePayload)
        chosen = None
        current = self._rekey_proposals()
        if current is not self.policy.ike_proposals:
            # Keep the IKE SA's algorithms when the peer offers them: implementations differ
            # on which PRF derives a rekeyed IKE SA's keys when the PRF changes (Libreswan:
            # the new one for prf+; strongSwan: the old one for everything).
            try:
                chosen = props.select_proposal(current, sa.proposals, spi_size=8)
                if ke is None or props.ke_of(chosen) != ke.group:
                    chosen = None
            except props.NoProposalChosen:
                chosen = None
        try:
            if chosen is None:
                chosen = props.select_proposal(self.policy.ike_proposals, sa.proposals,
                                               spi_size=8)
        except props.NoProposalChosen as e:
            self._respond(ExchangeType.CREATE_CHILD_SA, msg.message_id, [NotifyPayload(e.notify)])
            return
        group = props.ke_of(chosen) or KeId.NONE
        if ke is None or ke.group != group:
            self._respond(ExchangeType.CREATE_CHILD_SA, msg.message_id,
                          [NotifyPayload(NotifyType.INVALID_KE_PAYLOAD, group.to_bytes(2, "big"))])
            return
        try:
            public, g_ir = transforms.ke(group).respond(ke.data)
        except IkeError:
            self._respond(ExchangeType.CREATE_CHILD_SA, msg.message_id,
                          [NotifyPayload(NotifyType.INVALID_SYNTAX)])
            return
        new_serial = self._next_serial()
        our_spi, nr = self._random(8), self._random(self.policy.nonce_bytes)

        def complete(additional: tuple[bytes, ...], t: float) -> None:
            self._finish_ike_rekey(new_serial, False, chosen.spi, our_spi, nonce.data, nr,
                                   replace(chosen, spi=b""), g_ir, t, additional)

        addke = _addke_list(chosen)
        if addke:
            self._expect_followups(addke, complete)
        self._respond(ExchangeType.CREATE_CHILD_SA, msg.message_id, [
            SaPayload((replace(chosen, spi=our_spi),)), NoncePayload(nr), KePayload(group, public),
            *self._link_notify(),
        ])
        if not addke:
            complete((), now)

    def _finish_ike_rekey(self, new_serial: int, we_initiated: bool, spi_i: bytes, spi_r: bytes,
                          ni: bytes, nr: bytes, chosen: Proposal, g_ir: bytes, now: float,
                          additional: tuple[bytes, ...] = ()) -> None:
        """Build the new IKE SA (RFC 7296 §2.18) and hand our Child SAs to it.

        Simultaneous rekeys (RFC 7296 §2.8.2): answering the peer's rekey while ours is in
        flight parks our Child SAs in the IKE SA the peer's exchange created; when our answer
        arrives, the new IKE SA made with the lowest of the four nonces is redundant. Its
        creator deletes it; the Child SAs move to the survivor, whose creator deletes the
        old IKE SA.
        """
        assert self.prf and self.keys
        new = IkeSa(
            policy=self.policy, local=self.local, remote=self.remote, initiator=we_initiated,
            serial=new_serial, next_serial=self._next_serial, now=now, lookup=self._lookup,
            new_esp_spi=self._new_esp_spi, random=self._random,
        )
        new.spi_i, new.spi_r, new.ni, new.nr = spi_i, spi_r, ni, nr
        new.peer_id, new.nat, new.peer_hashes = self.peer_id, self.nat, self.peer_hashes
        new.peer_fragmentation, new.lease = self.peer_fragmentation, self.lease
        new.chosen = chosen
        e = chosen.of_type(TransformType.ENCR)[0]
        new.encr = transforms.encr(e.id, e.key_length)
        new.prf = transforms.prf(chosen.of_type(TransformType.PRF)[0].id)
        it = chosen.of_type(TransformType.INTEG)
        new.integ = transforms.integ(it[0].id) if it and it[0].id != IntegId.NONE else None
        new.ke_id = KeId(props.ke_of(chosen) or KeId.NONE)
        seed = keymat.rekey_skeyseed(self.prf, self.keys.sk_d, g_ir, ni, nr, additional)
        new._install_ike_keys(keymat.ike_sa_keys(new.prf, new.encr, new.integ, seed, ni, nr,
                                                 spi_i, spi_r))
        new.state = State.ESTABLISHED
        self._spawned.append(new)
        new._log(3, f"rekeyed IKE SA #{self.serial} {{{new.ike_description()}}}")
        self._events.extend(new._flush())
        if not we_initiated:
            new.children, self.children = self.children, {}
            self._rekey_in = new
            if self._rekey_out is None:
                self._announce_rekey_in()
            # else: ours is in flight; settled when its answer arrives
            return
        other = self._rekey_in
        if other is not None and min(ni, nr) < min(other.ni, other.nr):
            # ours is the redundant one: we close it; the peer deletes the old IKE SA
            self._log(2, f"simultaneous IKE SA rekey: deleting our redundant IKE SA "
                         f"#{new.serial}, #{other.serial} survives")
            self._events.append(IkeSaRekeyed(self.serial, new))
            self._announce_rekey_in()
            new._enqueue(lambda t: new._send_delete_ike(t, notify_children=False), now)
            self._events.extend(new._flush())
            return
        if other is not None:
            self._log(2, f"simultaneous IKE SA rekey: IKE SA #{new.serial} survives, the peer "
                         f"deletes #{other.serial}")
            new.children, other.children = other.children, {}
            self._announce_rekey_in()
        new.children.update(self.children)
        self.children = {}
        self._rekeyed_to = new
        self._events.append(IkeSaRekeyed(self.serial, new))
        # RFC 7296 §2.18: the initiator of the (surviving) rekey deletes the old IKE SA.
        self._queue.appendleft(lambda t: self._send_delete_ike(t, notify_children=False))

    def _rekey_proposals(self) -> tuple[Proposal, ...]:
        """What an IKE SA rekey offers: the algorithms this IKE SA runs with (its PRF must not
        change - see `_r_rekey_ike`), else the connection's proposals."""
        if self.chosen is None or not self.chosen.of_type(TransformType.PRF):
            return self.policy.ike_proposals
        return (replace(self.chosen, number=1, spi=b""),)

    def _announce_rekey_in(self) -> None:
        """Report the IKE SA created by answering the peer's rekey (once)."""
        if self._rekey_in is not None and not self._rekey_in_announced:
            self._rekey_in_announced = True
            self._events.append(IkeSaRekeyed(self.serial, self._rekey_in))

    # ---------------------------------------------------------------- IKE_FOLLOWUP_KE

    def _policy_for_selectors(self, tsi: TsiPayload, tsr: TsrPayload) -> IkePolicy:
        """Our connection whose selectors fit the peer's TSi/TSr: this IKE SA's, else another
        connection with the same peer (the spec's mytunnel/mysubnet/mysubnet6 share IDs)."""
        candidates = [self.policy]
        alternatives = getattr(self._lookup, "alternatives", None)
        if alternatives is not None and self.lease is None:
            candidates += [x for x in alternatives(self.policy) if x is not self.policy]
        for p in candidates:
            try:
                tsmod.responder_narrow(tsmod.usable(tsi.selectors), p.remote_ts, p.narrowing)
                tsmod.responder_narrow(tsmod.usable(tsr.selectors), p.local_ts, p.narrowing)
                return p
            except (tsmod.TsUnacceptable, ValueError):
                continue
        return self.policy

    def _child_proposals(self, pfs: bool, policy: IkePolicy | None = None) -> tuple[Proposal, ...]:
        """Our Child SA proposals: with the PFS groups, or without any key exchange (IKE_AUTH,
        pfs=no), additional key exchanges included (RFC 9370 §2.2.4)."""
        pol = policy or self.policy
        out = props.set_ke(pol.esp_proposals, pol.pfs_groups if pfs else ())
        return tuple(out) if pfs else _without_addke(tuple(out), keep_required=True)

    def _expect_followups(self, todo: list[tuple[int, int]],
                          finish: Callable[[tuple[bytes, ...], float], None]) -> None:
        """Responder: the CREATE_CHILD_SA just answered needs IKE_FOLLOWUP_KE exchanges."""
        self._followup = _Followup(todo, [], finish, self._random(8))
        self._followup_link_pending = True

    def _link_notify(self) -> list[Payload]:
        """N(ADDITIONAL_KEY_EXCHANGE) for the answer that starts or continues followups."""
        if self._followup is None or not self._followup_link_pending:
            return []
        self._followup_link_pending = False
        return [NotifyPayload(NotifyType.ADDITIONAL_KEY_EXCHANGE, self._followup.link)]

    def _send_followup(self, answer: Message, todo: list[tuple[int, int]],
                       secrets: tuple[bytes, ...],
                       finish: Callable[[tuple[bytes, ...], float], None], now: float,
                       serial: int, on_fail: Callable[[], None] | None = None) -> None:
        """Initiator: one IKE_FOLLOWUP_KE exchange per additional key exchange (RFC 9370
        §2.2.4), each linked to the previous answer by N(ADDITIONAL_KEY_EXCHANGE)."""
        link = answer.notifies(NotifyType.ADDITIONAL_KEY_EXCHANGE)
        if not link:
            self._log(3, "CREATE_CHILD_SA response lacks N(ADDITIONAL_KEY_EXCHANGE) for the "
                         "negotiated additional key exchanges", serial)
            if on_fail:
                on_fail()
            return
        ttype, group = todo[0]
        alg = transforms.ke(group)
        share = alg.initiate()

        def on_response(msg: Message, data: bytes, t: float) -> None:
            ke = msg.find(KePayload)
            errors = [n for n in msg.notifies() if n.notify_type < 16384]
            try:
                if errors:
                    raise IkeError(f"IKE_FOLLOWUP_KE failed with error notification "
                                   f"{errors[0].name}")
                if ke is None or ke.group != group:
                    raise IkeError(f"IKE_FOLLOWUP_KE response lacks the {alg.name} KE payload")
                shared = share.complete(ke.data)
            except IkeError as e:
                self._log(3, str(e), serial)
                if on_fail:
                    on_fail()
                return
            self._log(1, f"additional key exchange {name_of(TransformType, ttype)}={alg.name} "
                         "complete", serial)
            if todo[1:]:
                self._send_followup(msg, todo[1:], (*secrets, shared), finish, t, serial, on_fail)
            else:
                finish((*secrets, shared), t)

        self._request(ExchangeType.IKE_FOLLOWUP_KE,
                      [KePayload(group, share.public),
                       NotifyPayload(NotifyType.ADDITIONAL_KEY_EXCHANGE, link[0].data)],
                      on_response, now)
        self._log(189, f"sent IKE_FOLLOWUP_KE request ({name_of(TransformType, ttype)}="
                       f"{alg.name})", serial)

    def _r_followup(self, msg: Message, now: float) -> None:
        f = self._followup
        link = msg.notifies(NotifyType.ADDITIONAL_KEY_EXCHANGE)
        if f is None or not link or not hmac.compare_digest(link[0].data, f.link):
            self._respond(ExchangeType.IKE_FOLLOWUP_KE, msg.message_id,
                          [NotifyPayload(NotifyType.STATE_NOT_FOUND)])
            return
        ke = msg.find(KePayload)
        ttype, group = f.todo[0]
        try:
            if ke is None or ke.group != group:
                raise IkeError("IKE_FOLLOWUP_KE request lacks the negotiated key exchange")
            public, shared = transforms.ke(group).respond(ke.data)
        except IkeError as e:
            self._log(3, f"{e}; responding with INVALID_SYNTAX")
            self._followup = None
            self._respond(ExchangeType.IKE_FOLLOWUP_KE, msg.message_id,
                          [NotifyPayload(NotifyType.INVALID_SYNTAX)])
            return
        f.secrets.append(shared)
        f.todo.pop(0)
        answer: list[Payload] = [KePayload(group, public)]
        if f.todo:
            f.link = self._random(8)
            answer.append(NotifyPayload(NotifyType.ADDITIONAL_KEY_EXCHANGE, f.link))
        else:
            self._followup = None
        self._respond(ExchangeType.IKE_FOLLOWUP_KE, msg.message_id, answer)
        if not f.todo:
            f.finish(tuple(f.secrets), now)

    # ================================================================== INFORMATIONAL

    def delete(self, now: float) -> list[Event]:
        """Delete the IKE SA and its Child SAs, telling the peer (`ipsec auto --down`)."""
        if self.state is State.ESTABLISHED:
            self._queue.clear()
            self._enqueue(lambda t: self._send_delete_ike(t, notify_children=True), now)
        else:
            self._die(IkeSaDeleted(self.serial, notified=False))
        return self._flush()

    def delete_child(self, serial: int, now: float) -> list[Event]:
        child = self.children.get(serial)
        if child is not None:
            self._deleting_children.add(child.serial)
            self._enqueue(lambda t: self._send_delete_child(child, t), now)
        return self._flush()

    def forget(self, now: float, reason: str = "peer sent INITIAL_CONTACT") -> list[Event]:
        """Delete the IKE SA and its Child SAs without telling the peer, which has already
        forgotten them (INITIAL_CONTACT, RFC 7296 §2.4; a newer SA under uniqueids=yes)."""
        if self.state is not State.DEAD:
            self._log(2, f"deleting IKE SA without notification ({reason})")
            self._delete_all(notified=False)
        return self._flush()

    def liveness(self, now: float, timeout: float | None = None) -> list[Event]:
        """An empty INFORMATIONAL request: the peer must answer (DPD, RFC 7296 §2.4).

        `timeout` bounds this exchange's retransmissions (Libreswan `dpdtimeout=`);
        None: the policy's retransmit-timeout. No answer in time deletes the IKE SA
        with `IkeSaDeleted(details={"reason": "liveness"})`.
        """
        if self._outstanding is None and self.state is State.ESTABLISHED:
            def probe(t: float) -> None:
                self._request(ExchangeType.INFORMATIONAL, [], lambda *_: None, t)
                if self._outstanding is not None:
                    self._outstanding.timeout = timeout
            self._enqueue(probe, now)
        return self._flush()

    def _send_delete_child(self, child: ChildSa, now: float) -> None:
        if child.serial not in self.children:
            return

        def done(msg: Message, data: bytes, t: float) -> None:
            self._remove_child(child)

        self._request(ExchangeType.INFORMATIONAL,
                      [DeletePayload(ProtocolId.ESP, (child.spi_in,))], done, now)

    def _remove_child(self, child: ChildSa) -> None:
        self._deleting_children.discard(child.serial)
        if self.children.pop(child.serial, None) is not None:
            self._events.append(DeleteChildSa(child.serial, child.spi_in, child.spi_out))

    def _send_delete_ike(self, now: float, notify_children: bool) -> None:
        self.state = State.DELETING
        aged = now - self.created
        self._log(2, f"deleting state ({State.ESTABLISHED.value}) aged {aged:.6f}s and sending "
                     "notification")

        def done(msg: Message, data: bytes, t: float) -> None:
            self._delete_all(notified=True)

        self._request(ExchangeType.INFORMATIONAL, [DeletePayload(ProtocolId.IKE)], done, now)

    def _r_informational(self, msg: Message, now: float) -> None:
        deletes = msg.find_all(DeletePayload)
        if any(d.protocol == ProtocolId.IKE for d in deletes):
            self._respond(ExchangeType.INFORMATIONAL, msg.message_id, [])
            self._log(2, "received Delete SA payload: deleting IKE SA")
            self._delete_all(notified=True)
            return
        ours: list[bytes] = []
        for d in deletes:
            if d.protocol != ProtocolId.ESP:
                continue
            for spi in d.spis:
                child = next((c for c in self.children.values() if c.spi_out == spi), None)
                if child is not None:
                    ours.append(child.spi_in)
                    self._log(2, f"received Delete SA payload: deleting Child SA #{child.serial}",
                              child.serial)
                    self._remove_child(child)
        answer: list[Payload] = [DeletePayload(ProtocolId.ESP, tuple(ours))] if ours else []
        self._respond(ExchangeType.INFORMATIONAL, msg.message_id, answer)

    def _delete_all(self, notified: bool, reason: str = "") -> None:
        for child in list(self.children.values()):
            self._remove_child(child)
        self._die(IkeSaDeleted(self.serial, notified=notified,
                               details={"reason": reason} if reason else {}))

    def _die(self, event: Event) -> None:
        self._announce_rekey_in()  # a rekey collision left unsettled: the peer's SA survives
        self.state = State.DEAD
        self._outstanding = None
        self._queue.clear()
        self._events.append(event)


# ---------------------------------------------------------------------- helpers


def _addke_list(chosen: Proposal) -> list[tuple[int, int]]:
    """The additional key exchanges of a chosen proposal, in ADDKE1..7 order."""
    return [(int(t), g) for t, g in sorted(props.addke_of(chosen).items())]


def _cp_request(p: IkePolicy) -> CpPayload:
    """CP(CFG_REQUEST) for an address and DNS servers of the families we tunnel."""
    families = {t.start.version for t in p.remote_ts} or {4}
    attrs: list[CfgAttribute] = []
    if 4 in families:
        attrs += [CfgAttribute(CfgAttr.INTERNAL_IP4_ADDRESS), CfgAttribute(CfgAttr.INTERNAL_IP4_DNS)]
    if 6 in families:
        attrs += [CfgAttribute(CfgAttr.INTERNAL_IP6_ADDRESS), CfgAttribute(CfgAttr.INTERNAL_IP6_DNS)]
    attrs.append(CfgAttribute(CfgAttr.INTERNAL_DNS_DOMAIN))
    return CpPayload(CfgType.CFG_REQUEST, tuple(attrs))


_ADDKE_TYPES = frozenset(range(TransformType.ADDKE1, TransformType.ADDKE1 + 7))


def _without_addke(proposals: tuple[Proposal, ...], *, keep_required: bool) -> tuple[Proposal, ...]:
    """Our IKE proposals with the RFC 9370 ADDKE transforms taken out.

    keep_required=False (a peer without IKE_INTERMEDIATE): a proposal that needs an
    additional key exchange (no NONE in that slot) is dropped. keep_required=True (IKE SA
    rekey, where we run no IKE_FOLLOWUP_KE): every proposal stays, the new keys still
    descend from SK_d and so from every earlier key exchange.
    """
    out = []
    for p in proposals:
        slots = {t.type for t in p.transforms if t.type in _ADDKE_TYPES}
        if not keep_required and any(
            all(t.id != KeId.NONE for t in p.of_type(TransformType(s))) for s in slots
        ):
            continue
        out.append(replace(p, transforms=tuple(t for t in p.transforms if t.type not in _ADDKE_TYPES)))
    return tuple(out)


def _accept_answer(ours: tuple[Proposal, ...], sa: SaPayload) -> Proposal:
    """Check a responder's chosen proposal against what we offered (pluto's wording on failure)."""
    try:
        return props.check_accepted(props.for_wire(ours), sa.proposals)
    except props.NoProposalChosen as e:
        raise IkeError(str(e)) from None


__all__ = ["ChildSa", "HashAlgorithm", "IkeSa", "State", "name_of", "random_esp_spi"]
