"""Keeping tunnels up: lifetimes, rekeying, liveness (DPD), NAT keepalives, revival.

The split, kept the same for every timer: the sans-IO engine owns the
*protocol* timers (retransmission, its timeouts), the daemon owns the
*policy* timers that decide when to start an exchange. This module is that
daemon side. It arms asyncio timers per IKE SA and per connection and calls
the engine's commands (`rekey_ike`, `liveness`, `delete`) when they fire;
Child SA lifetimes are handed to the data plane as an `SaLifetime` (kernel
EXPIRE for XFRM, counters and timers for userspace ESP), whose soft/hard
expiry comes back through `Pluto._on_expire`.

Libreswan 4.x semantics:

- rekey margin: `rekeymargin` fuzzed up by a random share of `rekeyfuzz`
  on the SA's initiator, halved on its responder, so the initiator usually
  rekeys first (pluto's `v2_schedule_replace_event`); `rekey=no` lets SAs run
  to their hard lifetime and expire.
- liveness: with `dpddelay` set, a probe (empty INFORMATIONAL) goes out when
  nothing authenticated came from the peer (IKE or ESP) for `dpddelay`; it
  retransmits until `dpdtimeout` (or `retransmit-timeout` when unset).
  Failure runs `dpdaction`: clear, hold (trap the traffic) or restart.
- revival: a connection that must stay up (auto=start, `ipsec auto --up`)
  whose last IKE SA is gone is initiated again at once, then after 5 s,
  10 s, ... (EVENT_REVIVE_CONNS), until a Child SA is up again.
- NAT keepalive: a one-octet 0xFF datagram from port 4500 every
  `keep-alive` seconds (config setup, default 20) while we are behind a NAT.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cygnet.dataplane.base import SaLifetime
from cygnet.ike.sa import IkeSa, State

if TYPE_CHECKING:
    from cygnet.daemon.conns import Connection
    from cygnet.daemon.pluto import Pluto

#: ipsec-max-bytes/-packets default: 2^63, i.e. no limit.
NO_LIMIT = 1 << 63
#: Libreswan's REVIVE_CONN_DELAY and REVIVE_CONN_DELAY_MAX.
REVIVE_DELAY = 5.0
REVIVE_DELAY_MAX = 300.0
DEFAULT_KEEPALIVE = 20.0


def seconds(v: object, default: float = 0.0) -> float:
    if v is None:
        return default
    return float(v.total_seconds()) if hasattr(v, "total_seconds") else float(v)  # type: ignore[arg-type]


def rekey_margin(margin: float, fuzz_percent: int, initiator: bool,
                 rand: float | None = None) -> float:
    """pluto's fuzzed margin: the initiator adds up to `rekeyfuzz`% of it, the responder
    halves it (so the two ends do not rekey at once)."""
    if not initiator:
        return margin / 2
    r = random.random() if rand is None else rand
    return margin + margin * fuzz_percent / 100.0 * r


def soft_limit(hard: int, initiator: bool, rand: float | None = None) -> int:
    """Soft byte/packet limit for a hard one (0 = none): half of it on the responder,
    a little less on the initiator, which should rekey first."""
    if not hard or hard >= NO_LIMIT:
        return 0
    r = random.random() if rand is None else rand
    pct = 0.5 if not initiator else 0.5 - 0.1 * r
    return max(1, int(hard * pct))


def child_lifetime(spec: object, initiator: bool) -> SaLifetime:
    """The data plane's limits for one Child SA of `spec` (a ConnSpec)."""
    life = seconds(getattr(spec, "salifetime", None), 8 * 3600.0)
    margin = seconds(getattr(spec, "rekeymargin", None), 540.0)
    fuzz = int(getattr(spec, "rekeyfuzz", 100) or 0)
    rekey = bool(getattr(spec, "rekey", True))
    get = getattr(spec, "get", lambda k, d=None: d)
    max_bytes = int(get("ipsec-max-bytes", NO_LIMIT) or NO_LIMIT)
    max_packets = int(get("ipsec-max-packets", NO_LIMIT) or NO_LIMIT)
    hard_bytes = 0 if max_bytes >= NO_LIMIT else max_bytes
    hard_packets = 0 if max_packets >= NO_LIMIT else max_packets
    soft_s = 0.0
    if rekey and life:
        soft_s = max(life - rekey_margin(margin, fuzz, initiator), min(1.0, life / 2))
    return SaLifetime(
        soft_bytes=soft_limit(hard_bytes, initiator) if rekey else 0,
        hard_bytes=hard_bytes,
        soft_packets=soft_limit(hard_packets, initiator) if rekey else 0,
        hard_packets=hard_packets,
        soft_seconds=soft_s,
        hard_seconds=life,
    )


@dataclass
class _SaTimers:
    handles: list[asyncio.TimerHandle] = field(default_factory=list)

    def cancel(self) -> None:
        for h in self.handles:
            h.cancel()
        self.handles.clear()


class Keeper:
    """The daemon's policy timers for one `Pluto`."""

    def __init__(self, pluto: Pluto) -> None:
        self.p = pluto
        self._sa: dict[int, _SaTimers] = {}
        self._revive: dict[str, asyncio.TimerHandle] = {}
        self.revivals: dict[str, int] = {}  # conn name -> revival attempts since last success
        self.conn_of: dict[int, str] = {}  # IKE SA serial -> conn name (also after it died)
        self.liveness_failures = 0
        self.dpd_sent = 0

    # ------------------------------------------------------------------ helpers

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    def _conn(self, sa: IkeSa) -> Connection | None:
        return self.p.conns.by_policy(sa.policy)

    def _keepalive_interval(self) -> float:
        cfg = self.p.config
        v = cfg.setup.get("keep-alive") if cfg is not None else None
        return float(v) if v else DEFAULT_KEEPALIVE

    def _later(self, serial: int, delay: float, fn, *args) -> None:
        t = self._sa.setdefault(serial, _SaTimers())
        t.handles.append(self.loop.call_later(max(0.0, delay), fn, *args))

    # ------------------------------------------------------------------ IKE SAs

    def ike_up(self, sa: IkeSa) -> None:
        """An IKE SA was established or took over from a rekeyed one: arm its timers."""
        old = self._sa.pop(sa.serial, None)
        if old is not None:
            old.cancel()
        conn = self._conn(sa)
        if conn is None:
            return
        self.conn_of[sa.serial] = conn.name
        spec = conn.spec
        life = seconds(spec.ikelifetime, 8 * 3600.0)
        if life:
            if spec.rekey:
                margin = rekey_margin(seconds(spec.rekeymargin, 540.0), int(spec.rekeyfuzz or 0),
                                      sa.initiator)
                soft = max(life - margin, min(1.0, life / 2))
                self._later(sa.serial, soft, self._ike_soft, sa.serial)
            self._later(sa.serial, life, self._ike_hard, sa.serial)
        dpd = seconds(spec.dpddelay, 0.0)
        if dpd > 0:
            self._later(sa.serial, dpd, self._dpd, sa.serial, dpd)
        self._arm_keepalive(sa)

    def _arm_keepalive(self, sa: IkeSa) -> None:
        conn = self._conn(sa)
        if conn is None or not conn.spec.nat_keepalive:
            return
        if sa.nat is None or not sa.nat.local_behind_nat:
            return
        self._later(sa.serial, self._keepalive_interval(), self._keepalive, sa.serial)

    def ike_gone(self, serial: int) -> None:
        t = self._sa.pop(serial, None)
        if t is not None:
            t.cancel()

    def _live(self, serial: int) -> IkeSa | None:
        e = self.p.engine
        sa = e.by_serial(serial) if e is not None else None
        return sa if sa is not None and sa.state is State.ESTABLISHED else None

    def _ike_soft(self, serial: int) -> None:
        sa = self._live(serial)
        if sa is not None:
            self.p.apply(sa.rekey_ike(time.monotonic()))

    def _ike_hard(self, serial: int) -> None:
        sa = self._live(serial)
        if sa is not None:
            self.p.log.log(f'"{sa.name}" #{sa.serial}: IKE SA expired (ikelifetime)')
            self.p.apply(sa.delete(time.monotonic()))

    def _dpd(self, serial: int, delay: float) -> None:
        sa = self._live(serial)
        if sa is None:
            return
        now = time.monotonic()
        last = sa.last_received
        dp = self.p.dataplane
        if dp is not None:
            for child in sa.children:
                c = dp.counters(child)
                if c.last_in is not None:
                    last = max(last, c.last_in)
        if now - last >= delay * 0.999:
            conn = self._conn(sa)
            timeout = seconds(conn.spec.dpdtimeout, 0.0) if conn else 0.0
            self.dpd_sent += 1
            self.p.apply(sa.liveness(now, timeout or None))
            self._later(serial, delay, self._dpd, serial, delay)
        else:
            self._later(serial, delay - (now - last), self._dpd, serial, delay)

    def _keepalive(self, serial: int) -> None:
        sa = self._live(serial)
        if sa is None:
            return
        self.p.send_keepalive(sa.local, sa.remote)
        self._later(serial, self._keepalive_interval(), self._keepalive, serial)

    # ------------------------------------------------------------------ losing SAs

    def on_deleted(self, serial: int, reason: str) -> None:
        """An IKE SA is gone: apply dpdaction after a liveness failure, else revive."""
        self.ike_gone(serial)
        name = self.conn_of.get(serial)
        conn = self.p.conns.conns.get(name) if name else None
        if conn is None or self._has_other_sa(conn.name, serial):
            return
        if reason == "liveness":
            self.liveness_failures += 1
            action = str(conn.spec.dpdaction)
            if action == "clear":
                self.p.log.log(f'"{conn.name}" #{serial}: liveness action - clearing connection '
                               "kind CK_PERMANENT")
                conn.up_wanted = False
                return
            if action == "hold":
                self.p.log.log(f'"{conn.name}" #{serial}: liveness action - putting connection '
                               "into hold")
                self.p.route_conn(conn.name)
                return
            self.p.log.log(f'"{conn.name}" #{serial}: liveness action - restarting all '
                           "connections that share this peer")
            self.schedule_revive(conn, serial, force=True)
            return
        if conn.up_wanted:
            self.schedule_revive(conn, serial)

    def on_failed(self, serial: int) -> None:
        """An IKE SA failed to establish: a revival (or auto=start) keeps trying."""
        self.ike_gone(serial)
        name = self.conn_of.get(serial)
        conn = self.p.conns.conns.get(name) if name else None
        if conn is None or not conn.up_wanted or self._has_other_sa(conn.name, serial):
            return
        if name in self.revivals or conn.spec.auto in ("start", "up"):
            self.schedule_revive(conn, serial, quiet=True)

    def _has_other_sa(self, name: str, serial: int) -> bool:
        e = self.p.engine
        if e is None:
            return False
        return any(sa.policy.name == name and sa.serial != serial and sa.state is not State.DEAD
                   for sa in e.sas.values())

    def schedule_revive(self, conn: Connection, serial: int, *, force: bool = False,
                        quiet: bool = False) -> None:
        if conn.name in self._revive:
            return
        n = self.revivals.get(conn.name, 0)
        delay = min(n * REVIVE_DELAY, REVIVE_DELAY_MAX)
        self.revivals[conn.name] = n + 1
        if not quiet:
            self.p.log.log(f'"{conn.name}" #{serial}: deleting IKE SA but connection is supposed '
                           "to remain up; schedule EVENT_REVIVE_CONNS", 2)
        conn.up_wanted = True
        self._revive[conn.name] = self.loop.call_later(delay, self._revive_now, conn.name)

    def _revive_now(self, name: str) -> None:
        self._revive.pop(name, None)
        conn = self.p.conns.conns.get(name)
        if conn is None or not conn.up_wanted or self._has_other_sa(name, -1):
            return
        self.p.log.log(f"\"{name}\": initiating connection '{name}' with serial ${conn.serial} "
                       "which received a Delete/Notify but must remain up per local policy")
        self.p.initiate(name, revive=True)

    def child_up(self, name: str) -> None:
        self.revivals.pop(name, None)

    def cancel_revive(self, name: str) -> None:
        h = self._revive.pop(name, None)
        if h is not None:
            h.cancel()
        self.revivals.pop(name, None)

    def stop(self) -> None:
        for t in self._sa.values():
            t.cancel()
        self._sa.clear()
        for h in self._revive.values():
            h.cancel()
        self._revive.clear()
