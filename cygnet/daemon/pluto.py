"""The daemon: one asyncio loop driving the IKE engine, the sockets and a data plane.

`Pluto` carries out what the engine asks (send, install, log), feeds it
datagrams and timer ticks, and implements the control verbs (`add`, `up`,
`down`, status...). Everything slow or blocking stays off the loop: the
data plane runs its packet work elsewhere.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import signal
import time
from dataclasses import dataclass, field
from typing import Any

from cygnet import __version__, paths
from cygnet.config.conn import Config, load_config
from cygnet.config.errors import ConfigError
from cygnet.config.secrets import Secrets, SecretsError, load_secrets
from cygnet.daemon.conns import Connection, ConnectionManager, ConnError
from cygnet.daemon.keeper import Keeper, child_lifetime
from cygnet.daemon.log import PlutoLog
from cygnet.daemon.udp import IKE_PORT, NAT_T_PORT, IkeSockets, NetError
from cygnet.dataplane.base import ChildSaPlacement, Dataplane, DataplaneEvents, SaLifetime
from cygnet.ike import proposals as props
from cygnet.ike.engine import IkeEngine
from cygnet.ike.events import (
    ChildSaFailed,
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
from cygnet.ike.natd import Endpoint
from cygnet.ike.sa import IkeSa, State

#: How long a rekey's responder keeps sending on the old Child SA at most, waiting for the
#: peer's Delete of it (data planes that support `install(..., outbound=False)`).
OUTBOUND_HOLD = 2.0

#: How long a rekeyed (replaced) Child SA keeps accepting inbound packets after its Delete:
#: the peer's packets sent on it just before it switched are still on the way, or queued
#: behind the Delete in our data plane (strongSwan: charon.delete_rekeyed_delay, 5 s).
#: Nothing is sent on it any more.
REKEYED_INBOUND_GRACE = 2.0

#: The longest we hold IKE datagrams back waiting for the data plane to confirm a Child
#: SA's inbound half is in place (`barrier`); a stuck data plane must not stall IKE.
INSTALL_BARRIER_TIMEOUT = 1.0


@dataclass
class Options:
    """pluto's command line (Libreswan's flags)."""

    config: str = paths.CONFIG_FILE
    secretsfile: str = paths.SECRETS_FILE
    nssdir: str | None = None
    nsspassword: str | None = None
    rundir: str = paths.RUN_DIR
    ctlsocket: str | None = None
    logfile: str | None = None
    stderrlog: bool = False
    protostack: str | None = None  # override config setup's protostack=
    interfaces: list[str] | None = None  # addresses to listen on (default: all)


@dataclass
class ChildRecord:
    """What status verbs report about an installed Child SA."""

    serial: int
    ike_serial: int
    conn: str
    add_time: int
    spi_in: bytes
    spi_out: bytes
    local: Endpoint
    remote: Endpoint
    peer_id: str
    mode: str
    description: str


@dataclass
class _Waiter:
    """An `ipsec auto --up` waiting for its connection to come up or fail."""

    conn: str
    done: asyncio.Future[int]
    ike_serials: set[int] = field(default_factory=set)


class Pluto:
    """The running daemon."""

    def __init__(self, opts: Options, log: PlutoLog) -> None:
        self.opts = opts
        self.log = log
        self.config: Config | None = None
        self.secrets: Secrets | None = None
        self.nss: Any = None
        self.dataplane: Dataplane | None = None
        self.started = time.time()
        self.engine: IkeEngine | None = None
        self.conns = ConnectionManager(
            local_addresses=self._local_addresses, secrets=lambda: self.secrets,
            nss=lambda: self.nss,
        )
        self.sockets = IkeSockets(self._on_datagram, on_error=self._on_net_error)
        self.keeper = Keeper(self)
        self._held: dict[int, int] = {}  # replaced Child SA -> its successor, outbound held
        self._replaced: dict[int, int] = {}  # rekeyed Child SA -> its successor
        self._gates = 0  # installs waiting for the data plane's barrier: IKE sends wait too
        self._deferred: list[SendDatagram] = []
        self._closing = False
        self.children: dict[int, ChildRecord] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._waiters: list[_Waiter] = []
        self._stopping = asyncio.Event()
        self._addr_cache: tuple[set[str], str | None] | None = None

    # ------------------------------------------------------------------ start-up

    def _local_addresses(self) -> tuple[set[str], str | None]:
        """This host's addresses (cached until the next `auto --add`).

        pyroute2's synchronous IPRoute runs its own event loop, which cannot
        nest inside ours, so the query runs in a short-lived thread.
        """
        if self._addr_cache is None:
            from concurrent.futures import ThreadPoolExecutor

            from cygnet.config.orient import local_addresses

            with ThreadPoolExecutor(1) as pool:
                self._addr_cache = pool.submit(local_addresses).result(timeout=120)
        return self._addr_cache

    def load_secrets(self) -> None:
        self.log.log(f'loading secrets from "{self.opts.secretsfile}"')
        if not os.path.exists(self.opts.secretsfile):
            self.secrets = None
            return
        try:
            s = load_secrets(self.opts.secretsfile, strict=False)
        except SecretsError as e:
            self.log.log(f"ERROR: {e}")
            return
        for w in (*s.warnings, *s.errors):
            self.log.log(str(w))
        self.secrets = s

    def open_nss(self) -> None:
        from cygnet.pki.nssdb import NssDb, NssError

        try:
            self.nss = NssDb.open(self.opts.nssdir, self.opts.nsspassword, readonly=False,
                                  log=self.log.log)
            self.log.log("NSS crypto library initialized")
        except NssError as e:
            self.log.log(str(e))
            self.nss = None

    async def start_dataplane(self) -> None:
        stack = self.opts.protostack or (self.config.setup.protostack if self.config else "xfrm")
        if stack == "auto":
            from cygnet.dataplane.probe import probe

            stack = probe()
        events = DataplaneEvents(on_ike=self._on_datagram, on_expire=self._on_expire,
                                 on_acquire=self._on_acquire)
        if stack == "userspace":
            from cygnet.dataplane.userspace.plane import UserspaceDataplane

            self.dataplane = UserspaceDataplane()
        else:
            from cygnet.dataplane.xfrm import XfrmDataplane

            self.dataplane = XfrmDataplane()
        await self.dataplane.start(events)
        self.log.log(f"using kernel interface: {self.dataplane.name}")

    async def listen(self) -> None:
        self.log.log("listening for IKE messages")
        mark = getattr(self.dataplane, "ike_socket_mark", None)
        if mark is not None:
            self.sockets._mark = mark
        owns_4500 = self.dataplane is not None and self.dataplane.name == "userspace"
        if not owns_4500 and self.dataplane is not None:
            encap = getattr(self.dataplane, "enable_udp_encap", None)
            bypass = getattr(self.dataplane, "bypass_ike_socket", None)

            def on_bound(sock: Any, ep: Endpoint) -> None:
                if bypass is not None:  # IKE never goes into a tunnel (a /32 policy covers it)
                    bypass(sock)
                if encap is not None and ep.port == NAT_T_PORT:
                    encap(sock)

            self.sockets._on_bound = on_bound
        addrs = self.opts.interfaces or sorted(self._local_addresses()[0])
        for a in addrs:
            ip = ipaddress.ip_address(a)
            if ip.is_link_local:
                continue
            ports = (IKE_PORT,) if owns_4500 else (IKE_PORT, NAT_T_PORT)
            for port in ports:
                try:
                    await self.sockets.bind(a, port)
                    self.log.log(f"adding UDP interface {a}:{port}" if ip.version == 4
                                 else f"adding UDP interface [{a}]:{port}")
                except OSError as e:
                    self.log.log(f"ERROR: bind of UDP {a}:{port} failed: {e.strerror}")

    def load_config(self) -> Config:
        self.config = load_config(self.opts.config)
        for w in self.config.warnings:
            self.log.log(w)
        return self.config

    async def run(self) -> int:
        """Start everything, act on auto=, serve until shutdown."""
        o = self.opts
        self.log.log(f"Starting Pluto (Cygnet Version {__version__} IKEv2 XFRM USERSPACE-ESP NSS) "
                     f"pid:{os.getpid()}")
        try:
            self.load_config()
        except ConfigError as e:
            self.log.log(f"ERROR: {e}")
            return 3
        self.open_nss()
        self.engine = IkeEngine(self.conns, now=time.monotonic())
        await self.start_dataplane()
        await self.listen()
        self.load_secrets()
        from cygnet.daemon.control import ControlServer

        ctl = ControlServer(self, paths.ctl_socket(o.rundir, o.ctlsocket))
        await ctl.start()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self._stopping.set)
        loop.add_signal_handler(signal.SIGINT, self._stopping.set)
        loop.add_signal_handler(signal.SIGHUP, self.reread_secrets)
        self._auto_start()
        await self._stopping.wait()
        await self.shutdown()
        await ctl.stop()
        return 0

    def _auto_start(self) -> None:
        assert self.config is not None
        for name, spec in self.config.conns.items():
            if spec.auto in ("add", "start", "ondemand", "route", "up", "keep"):
                self.add_conn(name, quiet=True)
        for name, spec in self.config.conns.items():
            if spec.auto in ("start", "up") and name in self.conns.conns:
                self.initiate(name)
            elif spec.auto in ("ondemand", "route") and name in self.conns.conns:
                self.route_conn(name)

    async def shutdown(self) -> None:
        self.log.log("shutting down")
        self._closing = True  # no new IKE SAs from here on
        for c in self.conns.conns.values():
            c.up_wanted = False  # no revival while going down
        self.keeper.stop()
        if self.engine is not None:
            for sa in list(self.engine.sas.values()):
                if sa.state is State.ESTABLISHED:
                    self.apply(sa.delete(time.monotonic()))
        await asyncio.sleep(0.2)  # let the deletes leave
        if self.dataplane is not None:
            await self.dataplane.stop()
        self.sockets.close()
        self.log.close()

    def request_stop(self) -> None:
        self._stopping.set()

    # ------------------------------------------------------------------ engine glue

    def _on_datagram(self, data: bytes, local: Endpoint, remote: Endpoint) -> None:
        assert self.engine is not None
        if self._closing and _is_ike_sa_init_request(data):
            return  # shutting down: a peer reviving its connection must wait for our successor
        self.apply(self.engine.receive(data, local, remote, time.monotonic()))
        if self.children and len(data) >= 28:
            # the IKE SA it went to: our SPI is SPIr when the initiator sent it (I flag)
            our_spi = data[8:16] if data[19] & 0x08 else data[0:8]
            sa = self.engine.sas.get(our_spi)
            if sa is not None and sa.children:
                self._follow_moved_peers(sa)

    def _follow_moved_peers(self, sa: IkeSa) -> None:
        """RFC 7296 §2.23: an authenticated IKE message from a new address or port (a NAT
        lost its mapping and made another) moves the IKE SA there; its Child SAs still send
        to the old one. They are rekeyed, so their successors go where the peer is now."""
        if sa.state is not State.ESTABLISHED:
            return
        now = time.monotonic()
        for serial in list(sa.children):
            rec = self.children.get(serial)
            if rec is None or rec.remote == sa.remote:
                continue
            self.log.log(f'"{sa.name}" #{serial}: peer moved from {rec.remote} to '
                         f"{sa.remote} (NAT mapping changed); rekeying the Child SA")
            rec.remote = sa.remote
            self.apply(sa.rekey_child(serial, now))

    def _on_timer(self) -> None:
        self._timer = None
        if self.engine is not None:
            self.apply(self.engine.handle_timer(time.monotonic()))

    def _arm_timer(self) -> None:
        if self.engine is None:
            return
        t = self.engine.get_timer()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if t is not None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_at(loop.time() + max(0.0, t - time.monotonic()), self._on_timer)

    def _send(self, ev: SendDatagram) -> None:
        if self.dataplane is not None and ev.local.port == NAT_T_PORT \
                and self.dataplane.send_ike(ev.data, ev.local, ev.remote):
            return
        local = ev.local
        if local not in self.sockets.by_endpoint:
            # answering from the port the request came to, or the IKE port of that address
            local = Endpoint(ev.local.ip, IKE_PORT if ev.local.port not in (IKE_PORT, NAT_T_PORT)
                             else ev.local.port)
        if not self.sockets.send(ev.data, local, ev.remote):
            self.log.log(f"ERROR: no socket to send from {ev.local} to {ev.remote}")

    def apply(self, events: list[Event]) -> None:
        """Carry out what the engine asked for, in order.

        A batch that installs a Child SA sends its IKE datagrams (our CREATE_CHILD_SA or
        IKE_AUTH answer; as rekey initiator, the Delete of the old SA) only once the data
        plane has the new SA's inbound half in place: they are what makes the peer send
        on the new SA. A data plane whose workers take commands asynchronously (userspace)
        says so through `barrier()`; until then every IKE datagram waits, in order.

        Without `barrier()` (XFRM) the install is done when the call returns: the batch's
        installs go first, then its datagrams. Only a data plane that can neither confirm
        nor hold a rekey's outbound (`install(..., outbound=False)`) sends a rekey's
        datagrams first: there the new SA takes our outbound traffic at once, and the
        peer can only decrypt it once it has our answer."""
        installs = any(isinstance(ev, InstallChildSa) for ev in events)
        barrier = getattr(self.dataplane, "barrier", None) if installs else None
        if barrier is None and installs:
            sends = [ev for ev in events if isinstance(ev, SendDatagram)]
            rest = [ev for ev in events if not isinstance(ev, SendDatagram)]
            if self._can_defer_outbound():
                events = rest + sends
            elif any(isinstance(ev, InstallChildSa) and ev.replaces is not None
                     for ev in events):
                events = sends + rest
        if barrier is not None:
            self._gates += 1
        try:
            self._apply(events)
        finally:
            if barrier is not None:
                self._await_barrier(barrier)
        self._arm_timer()

    def _await_barrier(self, barrier: Any) -> None:
        """Open this batch's gate when the data plane confirms (or after a timeout)."""
        opened = False

        def open_gate() -> None:
            nonlocal opened
            if opened:
                return
            opened = True
            self._gates -= 1
            if not self._gates:
                deferred, self._deferred = self._deferred, []
                for ev in deferred:
                    self._send(ev)

        try:
            asyncio.get_running_loop().call_later(INSTALL_BARRIER_TIMEOUT, open_gate)
            barrier(open_gate)
        except RuntimeError:  # no loop (a test driving apply() directly): nothing to wait for
            open_gate()

    def _apply(self, events: list[Event]) -> None:
        for ev in events:
            if isinstance(ev, SendDatagram):
                if self._gates:
                    self._deferred.append(ev)
                else:
                    self._send(ev)
            elif isinstance(ev, LogLine):
                self.log.log(ev.text, ev.rc)
            elif isinstance(ev, InstallChildSa):
                self._install(ev)
            elif isinstance(ev, DeleteChildSa):
                self._remove_child(ev)
            elif isinstance(ev, IkeSaEstablished):
                self._ike_up(ev)
            elif isinstance(ev, IkeSaRekeyed):
                self._ike_rekeyed(ev)
            elif isinstance(ev, IkeSaFailed | IkeSaDeleted):
                self._ike_gone(ev)
            elif isinstance(ev, ChildSaFailed):
                for w in list(self._waiters):
                    if ev.ike_serial in w.ike_serials:
                        self._finish_waiter(w, 36)

    def _sa_of_child(self, serial: int) -> IkeSa | None:
        assert self.engine is not None
        for sa in self.engine.sas.values():
            if serial in sa.children:
                return sa
        return None

    def _install(self, ev: InstallChildSa) -> None:
        child = ev.child
        sa = self._sa_of_child(child.serial)
        if sa is None or self.dataplane is None:
            return
        conn = self.conns.conns.get(child.conn) or self.conns.by_policy(sa.policy)
        spec = conn.spec if conn else None
        where = ChildSaPlacement(
            local=sa.local, remote=sa.remote,
            replay_window=int(spec.replay_window) if spec else 128,
            mtu=int(spec.mtu) if spec and spec.mtu else None,
            lifetime=child_lifetime(spec, sa.initiator) if spec is not None else SaLifetime(),
        )
        hold_outbound = (ev.replaces is not None and ev.responder
                         and self._can_defer_outbound())
        try:
            if hold_outbound:
                self.dataplane.install(child, where, ev.replaces, outbound=False)  # type: ignore[call-arg]
                self._held[ev.replaces] = child.serial  # type: ignore[index]
                asyncio.get_running_loop().call_later(OUTBOUND_HOLD, self._release_outbound,
                                                      ev.replaces)
            elif self.dataplane.name == "xfrm" and spec is not None \
                    and str(spec.nic_offload) not in ("no", "None"):
                from cygnet.dataplane.xfrm import NicOffload

                offload = NicOffload(str(spec.nic_offload), self._interface_of(str(sa.local.ip)))
                self.dataplane.install(child, where, ev.replaces, offload=offload)  # type: ignore[call-arg]
            else:
                self.dataplane.install(child, where, ev.replaces)
        except OSError as e:
            self.log.log(f'ERROR: "{sa.name}" #{child.serial}: {e}', 3)
            self.apply(sa.delete_child(child.serial, time.monotonic()))
            self._finish_waiters(sa.name, 1)
            return
        self.children[child.serial] = ChildRecord(
            child.serial, sa.serial, child.conn or sa.name, int(time.time()), child.spi_in,
            child.spi_out,
            sa.local, sa.remote, str(sa.peer_id) if sa.peer_id else "", child.mode,
            props.describe(sa.children[child.serial].proposal, "esp"),
        )
        if ev.replaces is not None:
            self._replaced[ev.replaces] = child.serial
        if conn is not None:
            conn.newest_child = child.serial
            conn.children.add(child.serial)
        self.keeper.child_up(sa.name)
        self._finish_waiters(child.conn or sa.name, 0)

    def _interface_of(self, address: str) -> str | None:
        """The interface holding `address`: where the conn's ESP leaves (`nic-offload=`)."""
        import socket
        from concurrent.futures import ThreadPoolExecutor

        def lookup() -> str | None:
            from pyroute2 import IPRoute

            with IPRoute() as ipr:
                for msg in ipr.get_addr():
                    if address in (msg.get_attr("IFA_ADDRESS"), msg.get_attr("IFA_LOCAL")):
                        return socket.if_indextoname(msg["index"])
            return None

        with ThreadPoolExecutor(1) as pool:  # pyroute2's sync API cannot nest in our loop
            return pool.submit(lookup).result(timeout=120)

    def _can_defer_outbound(self) -> bool:
        """Whether the data plane can install a Child SA inbound-only and switch outbound
        later (`install(..., outbound=False)` + `set_outbound(serial)`)."""
        dp = self.dataplane
        if dp is None or not callable(getattr(dp, "set_outbound", None)):
            return False
        import inspect

        try:
            return "outbound" in inspect.signature(dp.install).parameters
        except (TypeError, ValueError):
            return False

    def _release_outbound(self, old_serial: int) -> None:
        """The peer has the rekeyed Child SA (it deleted the old one, or time is up):
        our outbound traffic moves to it."""
        new = self._held.pop(old_serial, None)
        if new is not None and new in self.children and self.dataplane is not None:
            self.dataplane.set_outbound(new)  # type: ignore[attr-defined]

    def _remove_child(self, ev: DeleteChildSa) -> None:
        self._release_outbound(ev.serial)
        rec = self.children.pop(ev.serial, None)
        if rec is not None:
            c = self.dataplane.counters(ev.serial) if self.dataplane else None
            if c is not None:
                self.log.log(f'"{rec.conn}" #{ev.serial}: ESP traffic information: '
                             f"in={c.in_bytes}B out={c.out_bytes}B")
            conn = self.conns.conns.get(rec.conn)
            if conn is not None:
                conn.children.discard(ev.serial)
        if self.dataplane is None:
            return
        if self._replaced.pop(ev.serial, None) is not None and not self._closing:
            # rekeyed: outbound already left it; its inbound half stays a moment longer
            try:
                asyncio.get_running_loop().call_later(REKEYED_INBOUND_GRACE,
                                                      self._remove_rekeyed, ev.serial)
                return
            except RuntimeError:  # no loop (tests driving the daemon directly)
                pass
        self.dataplane.remove(ev.serial)

    def _remove_rekeyed(self, serial: int) -> None:
        if self.dataplane is not None and serial not in self.children:
            self.dataplane.remove(serial)

    def _ike_up(self, ev: IkeSaEstablished) -> None:
        assert self.engine is not None
        sa = self.engine.by_serial(ev.serial)
        if sa is None:
            return
        conn = self.conns.by_policy(sa.policy)
        if conn is not None:
            conn.newest_ike = ev.serial
        self.keeper.ike_up(sa)
        if self.config is None or self.config.setup.get("uniqueids", True):
            self._replace_older(sa)

    def _ike_rekeyed(self, ev: IkeSaRekeyed) -> None:
        new = ev.new_sa
        if not isinstance(new, IkeSa) or new.state is not State.ESTABLISHED:
            return
        conn = self.conns.by_policy(new.policy)
        if conn is not None and conn.newest_ike in (ev.old_serial, 0):
            conn.newest_ike = new.serial
        self.keeper.ike_up(new)

    def _replace_older(self, sa: IkeSa) -> None:
        """uniqueids=yes (Libreswan's default): a newly authenticated IKE SA replaces older
        ones of the same connection and peer ID - the peer restarted or abandoned them.

        Only SAs the peer initiated are replaced: when both ends start the same conn at
        once (auto=start on both), each keeps the SA it initiated, or they would keep
        replacing each other's."""
        assert self.engine is not None
        if sa.initiator:
            return
        for old in list(self.engine.sas.values()):
            if (old is not sa and old.serial < sa.serial and old.state is State.ESTABLISHED
                    and not old.initiator
                    and old.policy.name == sa.policy.name and old.peer_id == sa.peer_id):
                self.apply(old.forget(time.monotonic(),
                                      f"uniqueids=yes: #{sa.serial} authenticated the same peer"))

    def _ike_gone(self, ev: IkeSaFailed | IkeSaDeleted) -> None:
        for w in list(self._waiters):
            if ev.serial in w.ike_serials:
                self._finish_waiter(w, 36 if isinstance(ev, IkeSaFailed) else 1)
        if isinstance(ev, IkeSaFailed):
            self.keeper.on_failed(ev.serial)
        else:
            self.keeper.on_deleted(ev.serial, ev.details.get("reason", ""))

    def _on_net_error(self, err: NetError) -> None:
        """An ICMP error on an IKE socket: tell the IKE SAs talking to that address."""
        assert self.engine is not None
        hit = False
        for sa in list(self.engine.sas.values()):
            if err.destination is not None and sa.remote.ip != err.destination.ip:
                continue
            if sa.local.ip != err.local.ip:
                continue
            hit = True
            self.log.log(f'"{sa.name}" #{sa.serial}: {err.describe()}')
        if not hit:
            self.log.log(err.describe())

    def send_keepalive(self, local: Endpoint, remote: Endpoint) -> None:
        """A NAT keepalive (RFC 3948 §2.3): one 0xFF octet from our port 4500."""
        local = Endpoint(local.ip, NAT_T_PORT)
        if self.sockets.send_raw(b"\xff", local, remote):
            return
        dp = self.dataplane
        send = getattr(dp, "send_keepalive", None)
        if send is not None:
            send(local, remote)
            return
        # The userspace data plane owns UDP 4500 but has no keepalive call yet: use its socket.
        socks = getattr(dp, "_socks", None) or {}
        s = socks.get("udp4" if remote.ip.version == 4 else "udp6")
        if s is not None:
            try:
                s.sendto(b"\xff", (str(remote.ip), remote.port))
            except OSError as e:
                self.log.log(f"ERROR: NAT keepalive to {remote} failed: {e.strerror}")

    def _on_acquire(self, route_id: int, src: object, dst: object) -> None:
        """Traffic hit an on-demand route (auto=ondemand/route): bring the conn up."""
        conn = next((c for c in self.conns.conns.values() if c.serial == route_id), None)
        if conn is None or not conn.routed:
            return
        assert self.engine is not None
        busy = any(sa.policy.name == conn.name and sa.state is not State.DEAD
                   for sa in self.engine.sas.values())
        if not busy:
            self.log.log(f'"{conn.name}": initiating on demand (acquire)')
            self.initiate(conn.name)

    def _on_expire(self, serial: int, hard: bool) -> None:
        sa = self._sa_of_child(serial)
        if sa is None:
            return
        conn = self.conns.by_policy(sa.policy)
        if hard:
            self.log.log(f'"{sa.name}" #{serial}: Child SA expired (hard lifetime)')
            self.apply(sa.delete_child(serial, time.monotonic()))
        elif conn is None or conn.spec.rekey:
            self.apply(sa.rekey_child(serial, time.monotonic()))

    # ------------------------------------------------------------------ whack waiters

    def _finish_waiter(self, w: _Waiter, rc: int) -> None:
        if not w.done.done():
            w.done.set_result(rc)
        if w in self._waiters:
            self._waiters.remove(w)

    def _finish_waiters(self, conn: str, rc: int) -> None:
        for w in list(self._waiters):
            if w.conn == conn:
                self._finish_waiter(w, rc)

    # ------------------------------------------------------------------ verbs

    def add_conn(self, name: str, config: str | None = None, quiet: bool = False) -> int:
        """`ipsec auto --add NAME`: (re)load the conn from the config file."""
        self._addr_cache = None
        try:
            cfg = load_config(config or self.opts.config)
        except ConfigError as e:
            self.log.log(str(e), 36)
            return 3
        spec = cfg.conns.get(name)
        if spec is None:
            self.log.log(f'conn "{name}" not found in {config or self.opts.config}', 36)
            return 1
        try:
            conn = self.conns.add(spec)
        except ConnError as e:
            self.log.log(str(e), 36)
            return 1
        self.log.log(f'"{name}": IKE SA proposals (connection add):')
        for line in props.format_proposals(conn.policy.ike_proposals):
            self.log.log(f'"{name}": {line}')
        self.log.log(f'"{name}": Child SA proposals (connection add):')
        for line in props.format_proposals(props.set_ke(conn.policy.esp_proposals,
                                                        conn.policy.pfs_groups[:1])):
            self.log.log(f'"{name}": {line}')
        self.log.log(f'"{name}": added IKEv2 connection')
        return 0

    def initiate(self, name: str, revive: bool = False) -> _Waiter | None:
        assert self.engine is not None
        conn = self.conns.conns.get(name)
        if conn is None:
            self.log.log(f'no connection named "{name}"', 36)
            return None
        if conn.remote_is_any:
            self.log.log(f'"{name}": cannot initiate connection without knowing peer IP address '
                         "(kind=CK_TEMPLATE)", 36)
            return None
        conn.up_wanted = True
        loop = asyncio.get_running_loop()
        waiter = _Waiter(name, loop.create_future())
        self._waiters.append(waiter)
        existing = self.engine.by_serial(conn.newest_ike)
        if existing is not None and existing.state is State.ESTABLISHED:
            waiter.ike_serials.add(existing.serial)
            self.apply(existing.create_child(time.monotonic()))
            return waiter
        if not revive:
            self.keeper.cancel_revive(name)
        sa, events = self.engine.initiate(conn.policy, conn.local_endpoint(),
                                          conn.remote_endpoint(), time.monotonic())
        self.keeper.conn_of[sa.serial] = name
        waiter.ike_serials.add(sa.serial)
        self.apply(events)
        return waiter

    def terminate(self, name: str) -> None:
        """`ipsec auto --down`: delete the connection's IKE SAs (with their children)."""
        assert self.engine is not None
        conn = self.conns.conns.get(name)
        if conn is None:
            return
        conn.up_wanted = False
        self.keeper.cancel_revive(name)
        self.log.log(f'"{name}": terminating SAs using this connection', 2)
        for sa in list(self.engine.sas.values()):
            if sa.policy.name == name:
                self.apply(sa.delete(time.monotonic()))

    def rekey(self, name: str, what: str) -> int:
        """`ipsec whack --rekey-ike|--rekey-child --name NAME` (Libreswan 4.x): rekey now."""
        assert self.engine is not None
        now = time.monotonic()
        done = 0
        for sa in list(self.engine.sas.values()):
            if sa.state is not State.ESTABLISHED:
                continue
            if what == "ike" and sa.policy.name == name:
                self.apply(sa.rekey_ike(now))
                done += 1
            elif what == "child":
                for serial in list(sa.children):
                    rec = self.children.get(serial)
                    if rec is not None and rec.conn == name:
                        self.apply(sa.rekey_child(serial, now))
                        done += 1
        if not done:
            self.log.log(f'"{name}": no established {"IKE" if what == "ike" else "Child"} SA '
                         "to rekey", 36)
            return 1
        return 0

    def delete_conn(self, name: str) -> None:
        if name in self.conns.conns:
            self.terminate(name)
            self.unroute_conn(name)
            self.conns.delete(name)

    def route_conn(self, name: str) -> None:
        conn = self.conns.conns.get(name)
        if conn is None or self.dataplane is None:
            return
        mtu = int(conn.spec.mtu) if conn.spec.mtu else None
        try:
            peer = None if conn.remote_is_any else conn.remote_endpoint().ip
        except ValueError:  # a DNS name: no next hop to look up before it resolves
            peer = None
        for lts in conn.policy.local_ts:
            for rts in conn.policy.remote_ts:
                self.dataplane.route(conn.serial, lts, rts, mtu=mtu, peer=peer)
        conn.routed = True

    def unroute_conn(self, name: str) -> None:
        conn = self.conns.conns.get(name)
        if conn is None or self.dataplane is None or not conn.routed:
            return
        self.dataplane.unroute(conn.serial)
        conn.routed = False

    def reread_secrets(self) -> None:
        self.load_secrets()
        self.conns.refresh_secrets()


def _is_ike_sa_init_request(data: bytes) -> bool:
    # IKE header: SPIi(8) SPIr(8) next(1) version(1) exchange(1) flags(1); R flag 0x20
    return len(data) >= 20 and data[18] == 34 and not data[19] & 0x20


def main(opts: Options, log: PlutoLog) -> int:
    """Run pluto in the foreground until SIGTERM or `ipsec whack --shutdown`."""
    return asyncio.run(Pluto(opts, log).run())


__all__ = ["Connection", "Options", "Pluto", "main"]
