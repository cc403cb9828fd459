"""One IKE SA and its Child SAs, as a sans-IO state machine (RFC 7296).

An `IkeSa` takes datagrams, timer ticks and commands (`initiate`,
`create_child`, `rekey_child`, `rekey_ike`, `delete`, `liveness`) and returns
events (`cygnet.ike.events`): datagrams to send, Child SAs to install or
remove, log lines in Libreswan's wording. It owns the message-ID window
(size 1), retransmission (0.5 s doubling up to `retransmit-timeout`) and the
cached response that answers a retransmitted request.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from cygnet.ike import auth, keymat, natd, transforms
from cygnet.ike import proposals as props
from cygnet.ike import ts as tsmod
from cygnet.ike.errors import IkeError, IntegrityError
from cygnet.ike.events import (
    ChildSaKeys,
    DeleteChildSa,
    Event,
    IkeSaDeleted,
    IkeSaEstablished,
    IkeSaFailed,
    IkeSaRekeyed,
    InstallChildSa,
    LogLine,
    SendDatagram,
)
from cygnet.ike.iana import (
    AuthMethod,
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
from cygnet.ike.message import Message, MessageError, payload_names, payload_summary
from cygnet.ike.natd import Endpoint
from cygnet.ike.payloads import (
    AuthPayload,
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
from cygnet.ike.policy import AUTHBY_METHODS, SIGNATURE_HASHES, IkePolicy, PolicyLookup
from cygnet.ike.proposals import Proposal
from cygnet.ike.sk import SkCrypto

NAT_T_PORT = 4500

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


@dataclass
class _PendingChild:
    """What we remember between sending a Child SA request and its response."""

    serial: int
    spi_in: bytes
    nonce: bytes = b""
    ke_share: Any = None
    rekey_of: int | None = None


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
        if now - out.first_sent >= self.policy.retransmit_timeout:
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
        out.next_at = min(now + out.interval, out.first_sent + self.policy.retransmit_timeout)
        out.interval *= 2
        return self._flush()

    def _timeout(self, out: _Outstanding) -> None:
        self._outstanding = None
        timeout = _seconds(self.policy.retransmit_timeout)
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
            self._delete_all(notified=False)

    # ------------------------------------------------------------------ sending

    def _send(self, data: bytes) -> None:
        self._events.append(SendDatagram(data, self.local, self.remote))

    def _flags(self, response: bool) -> HeaderFlag:
        f = HeaderFlag.INITIATOR if self.initiator else HeaderFlag(0)
        return f | HeaderFlag.RESPONSE if response else f

    def _encode(self, exchange: int, mid: int, payloads: list[Payload], response: bool) -> bytes:
        msg = Message(self.spi_i, self.spi_r, exchange, mid, flags=self._flags(response))
        if exchange == ExchangeType.IKE_SA_INIT:
            return replace(msg, payloads=tuple(payloads)).encode()
        assert self._sk_out is not None
        return self._sk_out.seal(replace(msg, inner=tuple(payloads)))

    def _request(
        self,
        exchange: int,
        payloads: list[Payload],
        on_response: Callable[[Message, bytes, float], None],
        now: float,
    ) -> bytes:
        mid = self._my_next_mid
        data = self._encode(exchange, mid, payloads, response=False)
        self._outstanding = _Outstanding(
            mid, [data], on_response, now, now + self.policy.retransmit_interval,
            self.policy.retransmit_interval,
        )
        self._send(data)
        return data

    def _respond(self, exchange: int, mid: int, payloads: list[Payload]) -> bytes:
        data = self._encode(exchange, mid, payloads, response=True)
        self._cached = (mid, [data])
        self._send(data)
        return data

    def _enqueue(self, op: Callable[[float], None], now: float) -> None:
        """Run `op` now if the window is free, else after the outstanding exchange."""
        self._queue.append(op)
        self._pump(now)

    def _pump(self, now: float) -> None:
        while self._outstanding is None and self._queue and self.state is State.ESTABLISHED:
            self._queue.popleft()(now)

    # ------------------------------------------------------------------ receiving

    def receive(self, data: bytes, now: float) -> list[Event]:
        """Process one datagram addressed to this IKE SA (non-ESP marker already removed)."""
        try:
            msg = Message.decode(data)
            if msg.exchange != ExchangeType.IKE_SA_INIT:
                if self._sk_in is None:
                    raise IntegrityError("no keys yet")
                msg = self._sk_in.open(data)
        except (MessageError, IkeError) as e:
            self._log(3, f"dropping message: {e}")
            return self._flush()
        if msg.is_response:
            self._on_response(msg, data, now)
        else:
            self._on_request(msg, data, now)
        self._pump(now)
        return self._flush()

    def _on_response(self, msg: Message, data: bytes, now: float) -> None:
        out = self._outstanding
        if out is None or msg.message_id != out.message_id:
            return  # a late or duplicated response: nothing is waiting for it
        self._outstanding = None
        self._answered = out
        self._my_next_mid += 1
        out.on_response(msg, data, now)

    def _on_request(self, msg: Message, data: bytes, now: float) -> None:
        if self._cached and msg.message_id == self._cached[0] and msg.message_id < self._peer_next_mid:
            for d in self._cached[1]:
                self._send(d)  # the peer lost our response: send it again
            return
        if msg.message_id != self._peer_next_mid:
            return
        self._peer_next_mid += 1
        handler = {
            ExchangeType.IKE_AUTH: self._r_ike_auth,
            ExchangeType.CREATE_CHILD_SA: self._r_create_child,
            ExchangeType.INFORMATIONAL: self._r_informational,
        }.get(msg.exchange)
        if handler is None or (msg.exchange != ExchangeType.IKE_AUTH and not self.established):
            return
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
        return [
            sa,
            ke_payload,
            NoncePayload(nonce),
            NotifyPayload(NotifyType.NAT_DETECTION_SOURCE_IP, natd.natd_hash(self.spi_i, zero, src)),
            NotifyPayload(
                NotifyType.NAT_DETECTION_DESTINATION_IP, natd.natd_hash(self.spi_i, zero, dst)
            ),
            NotifyPayload(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED),
            NotifyPayload(
                NotifyType.SIGNATURE_HASH_ALGORITHMS, auth.encode_signature_hashes(SIGNATURE_HASHES)
            ),
        ]

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
            self.spi_r = msg.spi_r
            self.nr = nonce.data
            self._setup_ike_keys(chosen, self._ke_share.complete(ke.data))
        except IkeError as e:
            self._log(3, f"IKE_SA_INIT response rejected: {e}")
            self._die(IkeSaFailed(self.serial, str(e)))
            return
        self._init_response = data
        self._note_init_notifies(msg)
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
        sig = msg.notifies(NotifyType.SIGNATURE_HASH_ALGORITHMS)
        if sig:
            try:
                self.peer_hashes = tuple(auth.decode_signature_hashes(sig[0].data))
            except IkeError:
                self.peer_hashes = ()
        self.peer_fragmentation = bool(msg.notifies(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED))
        if self.nat and self.nat.any:
            # RFC 7296 §2.23: move to port 4500 once a NAT is detected.
            self.local = Endpoint(self.local.ip, NAT_T_PORT)
            self.remote = Endpoint(self.remote.ip, NAT_T_PORT if self.initiator else self.remote.port)

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
        try:
            chosen = props.select_proposal(self.policy.ike_proposals, sa.proposals, spi_size=0,
                                           log=chosen_log)
        except props.NoProposalChosen as e:
            self._events.append(LogLine(3, f'"{self.name}" #{self.serial}: {e}'))
            self._init_error(msg, e.notify, b"")
            return self._flush()
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
        if self.initiator:
            octets = auth.signed_octets(
                self._init_request, self.nr, self.prf, self.keys.sk_pi, id_payload.encode()
            )
            sk_p = self.keys.sk_pi
        else:
            octets = auth.signed_octets(
                self._init_response, self.ni, self.prf, self.keys.sk_pr, id_payload.encode()
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
        octets = auth.signed_octets(signed, nonce, self.prf, sk_p, id_payload.encode())
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
        esp = props.for_wire(props.set_ke(p.esp_proposals, p.pfs_groups if ke_payload else ()))
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
        out += [TsiPayload(p.local_ts), TsrPayload(p.remote_ts)]
        return out

    def _send_ike_auth(self, now: float) -> None:
        p = self.policy
        idi = IdiPayload(p.local_id)
        try:
            auth_payload = self._our_auth(idi)
        except IkeError as e:
            self._log(3, f"cannot authenticate: {e}")
            self._die(IkeSaFailed(self.serial, str(e)))
            return
        payloads: list[Payload] = [idi]
        if p.send_initial_contact:
            payloads.append(NotifyPayload(NotifyType.INITIAL_CONTACT))
        if p.remote_id is not None:
            payloads.append(IdrPayload(p.remote_id))
        payloads.append(auth_payload)
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
        self.state = State.ESTABLISHED
        self._log(3, "initiator established IKE SA; " + self._authenticated_phrase(result, idr.identity))
        self._events.append(IkeSaEstablished(self.serial, str(idr.identity), result.description))
        pending, self._pending_child = self._pending_child, None
        if pending is not None:
            self._i_child_answer(msg, pending, "IKE_AUTH", g_ir=None, nonces=(self.ni, self.nr))

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
        self._log(3, "responder established IKE SA; " + self._authenticated_phrase(result, idi.identity))
        self._events.append(IkeSaEstablished(self.serial, str(idi.identity), result.description))
        answer: list[Payload] = [idr, our_auth]
        if msg.find(SaPayload) is not None:
            answer += self._r_child(msg, "IKE_AUTH", nonces=(self.ni, self.nr), ke=None)
        self._respond(ExchangeType.IKE_AUTH, msg.message_id, answer)

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
        p = self.policy
        serial = self._next_serial()
        sa, tsi, tsr = msg.find(SaPayload), msg.find(TsiPayload), msg.find(TsrPayload)
        if sa is None or tsi is None or tsr is None:
            self._log(3, f"{exchange} request lacks SA, TSi or TSr", serial)
            return [NotifyPayload(NotifyType.INVALID_SYNTAX)]
        local = props.set_ke(p.esp_proposals, p.pfs_groups if ke is not None else ())
        chosen_log: list[str] = []
        try:
            chosen = props.select_proposal(local, sa.proposals, spi_size=4, log=chosen_log)
        except props.NoProposalChosen as e:
            self._log(3, f"{e}; responding with {e.notify.name}", serial)
            return [NotifyPayload(e.notify)]
        for line in chosen_log:
            self._log(1, line, serial)
        try:
            remote_ts = tsmod.responder_narrow(tsmod.usable(tsi.selectors), p.remote_ts, p.narrowing)
            local_ts = tsmod.responder_narrow(tsmod.usable(tsr.selectors), p.local_ts, p.narrowing)
        except (tsmod.TsUnacceptable, ValueError):
            self._log(3, "traffic selectors do not match local policy; responding with "
                         "TS_UNACCEPTABLE", serial)
            return [NotifyPayload(NotifyType.TS_UNACCEPTABLE)]
        transport = p.transport and bool(msg.notifies(NotifyType.USE_TRANSPORT_MODE))
        spi_in = self._new_esp_spi()
        child = self._make_child(serial, spi_in, chosen, local_ts, remote_ts, transport,
                                 nonces, ke[1] if ke else None, we_initiated=False)
        self._install_child(child, rekey_of, "responder")
        out: list[Payload] = []
        if transport:
            out.append(NotifyPayload(NotifyType.USE_TRANSPORT_MODE))
        out.append(SaPayload((replace(chosen, spi=spi_in),)))
        return out + [TsiPayload(remote_ts), TsrPayload(local_ts)]

    def _i_child_answer(self, msg: Message, pending: _PendingChild, exchange: str,
                        g_ir: bytes | None, nonces: tuple[bytes, bytes]) -> None:
        errors = [n for n in msg.notifies() if n.notify_type in CHILD_ERRORS]
        if errors:
            self._log(2 if exchange == "IKE_AUTH" else 3,
                      f"{exchange} response contained the error notification {errors[0].name}",
                      pending.serial)
            return
        sa, tsi, tsr = msg.find(SaPayload), msg.find(TsiPayload), msg.find(TsrPayload)
        if sa is None or tsi is None or tsr is None:
            return  # childless answer
        p = self.policy
        try:
            chosen = _accept_answer(
                tuple(props.set_ke(p.esp_proposals, p.pfs_groups if g_ir is not None else ())), sa)
            local_ts, remote_ts = tsmod.usable(tsi.selectors), tsmod.usable(tsr.selectors)
            if len(chosen.spi) != 4:
                raise IkeError("Child SA SPI is not 4 octets")
        except (IkeError, ValueError) as e:
            self._log(3, f"{exchange} response rejected: {e}", pending.serial)
            return
        if not (tsmod.initiator_accepts(p.local_ts, local_ts, p.narrowing)
                and tsmod.initiator_accepts(p.remote_ts, remote_ts, p.narrowing)):
            self._log(3, f"{exchange} response has unacceptable traffic selectors "
                         f"{tsmod.describe(local_ts, remote_ts)}", pending.serial)
            return
        transport = p.transport and bool(msg.notifies(NotifyType.USE_TRANSPORT_MODE))
        rekey_of = self.children.get(pending.rekey_of) if pending.rekey_of is not None else None
        child = self._make_child(pending.serial, pending.spi_in, chosen, local_ts, remote_ts,
                                 transport, nonces, g_ir, we_initiated=True)
        self._install_child(child, rekey_of, "initiator")

    def _make_child(self, serial: int, spi_in: bytes, chosen: Proposal, local_ts: tsmod.Selectors,
                    remote_ts: tsmod.Selectors, transport: bool, nonces: tuple[bytes, bytes],
                    g_ir: bytes | None, we_initiated: bool) -> ChildSa:
        assert self.prf and self.keys
        e = chosen.of_type(TransformType.ENCR)[0]
        encr = transforms.encr(e.id, e.key_length)
        it = chosen.of_type(TransformType.INTEG)
        integ_id = it[0].id if it else IntegId.NONE
        integ = transforms.integ(integ_id) if integ_id != IntegId.NONE else None
        km = keymat.child_sa_keys(self.prf, encr, integ, self.keys.sk_d, nonces[0], nonces[1], g_ir)
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
            udp_encap=bool(self.nat and self.nat.any),
        )
        return ChildSa(serial, spi_in, chosen.spi, chosen, local_ts, remote_ts, transport, keys)

    def _install_child(self, child: ChildSa, rekey_of: ChildSa | None, role: str) -> None:
        self.children[child.serial] = child
        self._events.append(InstallChildSa(child.keys, rekey_of.serial if rekey_of else None))
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
        if rekey_of is not None and role == "initiator":
            # RFC 7296 §2.8: the rekey's initiator deletes the old Child SA once the new one is in.
            self._queue.append(lambda now, old=rekey_of: self._send_delete_child(old, now))

    # ---------------------------------------------------------------- CREATE_CHILD_SA

    def create_child(self, now: float, rekey: int | None = None) -> list[Event]:
        """Negotiate a new Child SA, or rekey Child SA `rekey` (make-before-break)."""
        self._enqueue(lambda t: self._send_create_child(t, rekey), now)
        return self._flush()

    def rekey_child(self, serial: int, now: float) -> list[Event]:
        return self.create_child(now, rekey=serial)

    def _send_create_child(self, now: float, rekey: int | None) -> None:
        old = self.children.get(rekey) if rekey is not None else None
        if rekey is not None and old is None:
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
            return
        nonce = msg.find(NoncePayload)
        if nonce is None:
            self._log(3, "CREATE_CHILD_SA response lacks Nr", pending.serial)
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
                return
        self._i_child_answer(msg, pending, "CREATE_CHILD_SA", g_ir, (pending.nonce, nonce.data))

    def _r_create_child(self, msg: Message, now: float) -> None:
        sa, nonce = msg.find(SaPayload), msg.find(NoncePayload)
        if sa is None or nonce is None:
            self._respond(ExchangeType.CREATE_CHILD_SA, msg.message_id,
                          [NotifyPayload(NotifyType.INVALID_SYNTAX)])
            return
        if sa.proposals and sa.proposals[0].protocol == ProtocolId.IKE:
            self._r_rekey_ike(msg, sa, nonce, now)
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
        child_payloads = self._r_child(msg, "CREATE_CHILD_SA", (nonce.data, nr), ke, rekey_of)
        if isinstance(child_payloads[0], NotifyPayload) and child_payloads[0].notify_type < 16384:
            self._respond(ExchangeType.CREATE_CHILD_SA, msg.message_id, child_payloads)
            return
        answer = [p for p in child_payloads if isinstance(p, SaPayload | NotifyPayload)]
        rest = [p for p in child_payloads if not isinstance(p, SaPayload | NotifyPayload)]
        self._respond(ExchangeType.CREATE_CHILD_SA, msg.message_id,
                      answer + [NoncePayload(nr)] + ke_out + rest)

    # ---------------------------------------------------------------- IKE SA rekey

    def rekey_ike(self, now: float) -> list[Event]:
        """Rekey this IKE SA (RFC 7296 §2.18): a new IKE SA inherits the Child SAs."""
        self._enqueue(self._send_rekey_ike, now)
        return self._flush()

    def _send_rekey_ike(self, now: float) -> None:
        new_spi = self._random(8)
        ni = self._random(self.policy.nonce_bytes)
        group = KeId(self.ke_id)
        share = transforms.ke(group).initiate()
        sa = SaPayload(tuple(props.with_spi(props.for_wire(self.policy.ike_proposals), new_spi)))
        new_serial = self._next_serial()
        self._log(2, f"initiating rekey of IKE SA #{self.serial}", new_serial)

        def on_response(msg: Message, data: bytes, t: float) -> None:
            sa_r, nonce, ke = msg.find(SaPayload), msg.find(NoncePayload), msg.find(KePayload)
            errors = [n for n in msg.notifies() if n.notify_type < 16384]
            if errors or not (sa_r and nonce and ke):
                name = errors[0].name if errors else "missing SA, Nr or KE"
                self._log(3, f"CREATE_CHILD_SA failed with error notification {name}", new_serial)
                return
            try:
                chosen = _accept_answer(self.policy.ike_proposals, sa_r)
                if props.ke_of(chosen) != group or ke.group != group or len(chosen.spi) != 8:
                    raise IkeError("rekey answer's KE group or SPI is wrong")
                g_ir = share.complete(ke.data)
            except IkeError as e:
                self._log(3, f"IKE SA rekey answer rejected: {e}", new_serial)
                return
            self._finish_ike_rekey(new_serial, True, new_spi, chosen.spi, ni, nonce.data,
                                   chosen, g_ir, t)

        self._request(ExchangeType.CREATE_CHILD_SA, [sa, NoncePayload(ni), KePayload(group, share.public)],
                      on_response, now)
        self._log(189, "sent CREATE_CHILD_SA request to rekey IKE SA", new_serial)

    def _r_rekey_ike(self, msg: Message, sa: SaPayload, nonce: NoncePayload, now: float) -> None:
        ke = msg.find(KePayload)
        try:
            chosen = props.select_proposal(self.policy.ike_proposals, sa.proposals, spi_size=8)
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
        self._respond(ExchangeType.CREATE_CHILD_SA, msg.message_id, [
            SaPayload((replace(chosen, spi=our_spi),)), NoncePayload(nr), KePayload(group, public),
        ])
        self._finish_ike_rekey(new_serial, False, chosen.spi, our_spi, nonce.data, nr,
                               replace(chosen, spi=b""), g_ir, now)

    def _finish_ike_rekey(self, new_serial: int, we_initiated: bool, spi_i: bytes, spi_r: bytes,
                          ni: bytes, nr: bytes, chosen: Proposal, g_ir: bytes, now: float) -> None:
        """Build the new IKE SA (RFC 7296 §2.18) and hand our Child SAs to it."""
        assert self.prf and self.keys
        new = IkeSa(
            policy=self.policy, local=self.local, remote=self.remote, initiator=we_initiated,
            serial=new_serial, next_serial=self._next_serial, now=now, lookup=self._lookup,
            new_esp_spi=self._new_esp_spi, random=self._random,
        )
        new.spi_i, new.spi_r, new.ni, new.nr = spi_i, spi_r, ni, nr
        new.peer_id, new.nat, new.peer_hashes = self.peer_id, self.nat, self.peer_hashes
        new.chosen = chosen
        e = chosen.of_type(TransformType.ENCR)[0]
        new.encr = transforms.encr(e.id, e.key_length)
        new.prf = transforms.prf(chosen.of_type(TransformType.PRF)[0].id)
        it = chosen.of_type(TransformType.INTEG)
        new.integ = transforms.integ(it[0].id) if it and it[0].id != IntegId.NONE else None
        new.ke_id = KeId(props.ke_of(chosen) or KeId.NONE)
        seed = keymat.rekey_skeyseed(self.prf, self.keys.sk_d, g_ir, ni, nr)
        new._install_ike_keys(keymat.ike_sa_keys(new.prf, new.encr, new.integ, seed, ni, nr,
                                                 spi_i, spi_r))
        new.state = State.ESTABLISHED
        new.children, self.children = self.children, {}
        new._log(3, f"rekeyed IKE SA #{self.serial} {{{new.ike_description()}}}")
        self._events.extend(new._flush())
        self._events.append(IkeSaRekeyed(self.serial, new))
        if we_initiated:
            # RFC 7296 §2.18: the initiator of the rekey deletes the old IKE SA.
            self._queue.appendleft(lambda t: self._send_delete_ike(t, notify_children=False))

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
            self._enqueue(lambda t: self._send_delete_child(child, t), now)
        return self._flush()

    def liveness(self, now: float) -> list[Event]:
        """An empty INFORMATIONAL request: the peer must answer (DPD, RFC 7296 §2.4)."""
        if self._outstanding is None:
            self._enqueue(lambda t: self._request(ExchangeType.INFORMATIONAL, [],
                                                  lambda *_: None, t), now)
        return self._flush()

    def _send_delete_child(self, child: ChildSa, now: float) -> None:
        if child.serial not in self.children:
            return

        def done(msg: Message, data: bytes, t: float) -> None:
            self._remove_child(child)

        self._request(ExchangeType.INFORMATIONAL,
                      [DeletePayload(ProtocolId.ESP, (child.spi_in,))], done, now)

    def _remove_child(self, child: ChildSa) -> None:
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

    def _delete_all(self, notified: bool) -> None:
        for child in list(self.children.values()):
            self._remove_child(child)
        self._die(IkeSaDeleted(self.serial, notified=notified))

    def _die(self, event: Event) -> None:
        self.state = State.DEAD
        self._outstanding = None
        self._queue.clear()
        self._events.append(event)


# ---------------------------------------------------------------------- helpers


def _accept_answer(ours: tuple[Proposal, ...], sa: SaPayload) -> Proposal:
    """Check a responder's chosen proposal against what we offered (pluto's wording on failure)."""
    try:
        return props.check_accepted(props.for_wire(ours), sa.proposals)
    except props.NoProposalChosen as e:
        raise IkeError(str(e)) from None


__all__ = ["ChildSa", "HashAlgorithm", "IkeSa", "State", "name_of", "random_esp_spi"]
