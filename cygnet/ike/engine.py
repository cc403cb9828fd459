"""The per-daemon dispatcher: many IKE SAs behind two UDP ports, still sans-IO.

It routes each datagram to its IKE SA by our SPI, creates responders for new
IKE_SA_INIT requests (demanding cookies once too many SAs are half-open,
RFC 7296 §2.6), answers a retransmitted IKE_SA_INIT from the cached reply,
and counts what it drops, logging each reason at most once per second so a
flood cannot flood the log.
"""

from __future__ import annotations

import itertools
import os
from collections import Counter
from collections.abc import Callable

from cygnet.ike.cookies import DEFAULT_THRESHOLD, CookieJar
from cygnet.ike.errors import IkeError
from cygnet.ike.events import Event, IkeSaRekeyed, InitialContact, LogLine, SendDatagram
from cygnet.ike.iana import ExchangeType, HeaderFlag, NotifyType
from cygnet.ike.message import Message, MessageError, peek_header
from cygnet.ike.natd import Endpoint
from cygnet.ike.payloads import NoncePayload, NotifyPayload
from cygnet.ike.policy import IkePolicy, PolicyLookup
from cygnet.ike.sa import IkeSa, State, random_esp_spi

ZERO_SPI = bytes(8)


class IkeEngine:
    """All IKE SAs of one daemon."""

    def __init__(
        self,
        lookup: PolicyLookup,
        *,
        now: float,
        cookie_threshold: int = DEFAULT_THRESHOLD,
        new_esp_spi: Callable[[], bytes] = random_esp_spi,
        random: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self.lookup = lookup
        self.cookie_threshold = cookie_threshold
        self.cookies = CookieJar(now)
        self._new_esp_spi = new_esp_spi
        self._random = random
        self._serials = itertools.count(1)
        self.sas: dict[bytes, IkeSa] = {}  # by our SPI
        self._half_open: dict[tuple[bytes, Endpoint], IkeSa] = {}
        self.drops: Counter[str] = Counter()
        self._last_drop_log: dict[str, float] = {}

    def next_serial(self) -> int:
        return next(self._serials)

    # ------------------------------------------------------------------ commands

    def initiate(self, policy: IkePolicy, local: Endpoint, remote: Endpoint,
                 now: float) -> tuple[IkeSa, list[Event]]:
        sa = IkeSa(policy=policy, local=local, remote=remote, initiator=True,
                   serial=self.next_serial(), next_serial=self.next_serial, now=now,
                   lookup=self.lookup, new_esp_spi=self._new_esp_spi, random=self._random)
        self.sas[sa.spi_i] = sa
        return sa, self._track(sa.initiate(now), now)

    def by_serial(self, serial: int) -> IkeSa | None:
        return next((sa for sa in self.sas.values() if sa.serial == serial), None)

    # ------------------------------------------------------------------ timers

    def get_timer(self) -> float | None:
        times = [t for t in (sa.get_timer() for sa in self.sas.values()) if t is not None]
        return min(times) if times else None

    def handle_timer(self, now: float) -> list[Event]:
        events: list[Event] = []
        for sa in list(self.sas.values()):
            t = sa.get_timer()
            if t is not None and t <= now:
                events += sa.handle_timer(now)
        return self._track(events, now)

    # ------------------------------------------------------------------ datagrams

    def _drop(self, reason: str, now: float) -> list[Event]:
        self.drops[reason] += 1
        last = self._last_drop_log.get(reason)
        if last is not None and now - last < 1.0:
            return []
        self._last_drop_log[reason] = now
        return [LogLine(3, f"dropping packet: {reason} ({self.drops[reason]} so far)")]

    def receive(self, data: bytes, local: Endpoint, remote: Endpoint, now: float) -> list[Event]:
        """One IKE datagram from `remote` to `local` (non-ESP marker already stripped)."""
        try:
            h = peek_header(data)
        except MessageError:
            return self._drop("truncated IKE header", now)
        if h.major_version != 2:
            return self._drop(f"IKEv{h.major_version} message", now)
        if h.exchange == ExchangeType.IKE_SA_INIT and not h.is_response and h.spi_r == ZERO_SPI:
            return self._init_request(data, local, remote, now)
        our_spi = h.spi_r if h.from_initiator else h.spi_i
        sa = self.sas.get(our_spi)
        if sa is None:
            return self._drop("no IKE SA for the message's SPI", now)
        # The peer may have moved behind a NAT (RFC 7296 §2.23: follow authenticated changes).
        return self._track(sa.receive(data, now, local, remote), now)

    def _init_request(self, data: bytes, local: Endpoint, remote: Endpoint,
                      now: float) -> list[Event]:
        h = peek_header(data)
        existing = self._half_open.get((h.spi_i, remote))
        if existing is not None:
            if existing._init_request == data and existing._cached:
                return [SendDatagram(d, existing.local, existing.remote)
                        for d in existing._cached[1]]
            return self._drop("IKE_SA_INIT for an IKE SA being set up", now)
        try:
            msg = Message.decode(data)
        except (MessageError, IkeError) as e:
            return self._drop(f"malformed IKE_SA_INIT request: {e}", now)
        if len(self._half_open) >= self.cookie_threshold:
            answer = self._check_cookie(msg, local, remote, now)
            if answer is not None:
                return answer
        policy = self.lookup.for_ike_sa_init(local, remote)
        if policy is None:
            return self._drop(f"no connection for an IKE_SA_INIT from {remote}", now)
        sa = IkeSa(policy=policy, local=local, remote=remote, initiator=False,
                   serial=self.next_serial(), next_serial=self.next_serial, now=now,
                   lookup=self.lookup, new_esp_spi=self._new_esp_spi, random=self._random)
        try:
            events = sa.respond_init(msg, data, now)
        except (IkeError, ValueError, KeyError, IndexError, TypeError, OverflowError) as e:
            # a packet must never crash the daemon (DESIGN.md): no state, a counted drop
            return self._drop(f"unusable IKE_SA_INIT request: {type(e).__name__}: {e}", now)
        if sa.state is not State.DEAD:
            self.sas[sa.spi_r] = sa
            self._half_open[(h.spi_i, remote)] = sa
        return self._track(events)

    def _initial_contact(self, ev: InitialContact, now: float) -> tuple[InitialContact, list[Event]]:
        """RFC 7296 §2.4: the peer has no state from before; forget our other IKE SAs with it."""
        keep = self.by_serial(ev.keep_serial)
        out: list[Event] = []
        deleted: list[int] = []
        for sa in list(self.sas.values()):
            if (sa is keep or sa.serial == ev.keep_serial or sa.peer_id is None
                    or str(sa.peer_id) != ev.peer_id or sa.state is State.DEAD):
                continue
            deleted.append(sa.serial)
            out += sa.forget(now)
        return InitialContact(ev.peer_id, ev.keep_serial, tuple(deleted)), out

    def _check_cookie(self, msg: Message, local: Endpoint, remote: Endpoint,
                      now: float) -> list[Event] | None:
        """None when the request carries our cookie; else the stateless COOKIE answer."""
        nonce = msg.find(NoncePayload)
        if nonce is None:
            return self._drop("IKE_SA_INIT without Ni", now)
        cookie = msg.notifies(NotifyType.COOKIE)
        if cookie and self.cookies.check(now, cookie[0].data, nonce.data, remote.ip, msg.spi_i):
            return None
        value = self.cookies.make(now, nonce.data, remote.ip, msg.spi_i)
        reply = Message(msg.spi_i, ZERO_SPI, ExchangeType.IKE_SA_INIT, 0,
                        (NotifyPayload(NotifyType.COOKIE, value),), HeaderFlag.RESPONSE)
        self.drops["IKE_SA_INIT answered with a cookie"] += 1
        return [SendDatagram(reply.encode(), local, remote)]

    # ------------------------------------------------------------------ bookkeeping

    def _track(self, events: list[Event], now: float = 0.0) -> list[Event]:
        """Keep the SA tables in step with what the SAs reported."""
        for sa in list(self.sas.values()):
            while sa._spawned:
                new = sa._spawned.pop(0)
                self.sas[new.local_spi] = new
        extra: list[Event] = []
        for i, ev in enumerate(events):
            if isinstance(ev, IkeSaRekeyed) and isinstance(ev.new_sa, IkeSa):
                if ev.new_sa.state is not State.DEAD:
                    self.sas[ev.new_sa.local_spi] = ev.new_sa
            elif isinstance(ev, InitialContact) and not ev.deleted:
                events[i], more = self._initial_contact(ev, now)
                extra += more
        events += extra
        for spi, sa in list(self.sas.items()):
            if sa.state is State.DEAD:
                del self.sas[spi]
        for key, sa in list(self._half_open.items()):
            if sa.state in (State.ESTABLISHED, State.DEAD):
                del self._half_open[key]
        return events
