"""`UserspaceDataplane`: ESP (RFC 4303) over a TUN device, for kernels without XFRM ESP.

The daemon's asyncio loop only does control work here: it creates the TUN
device, routes and rules, the outer sockets (raw ESP and UDP 4500 for
RFC 3948 encapsulation, shared with IKE), and starts two worker processes
(TX: TUN → ESP, RX: ESP → TUN; see `worker`). SAs and traps go to the
workers as pickled commands on private socketpairs; counters come back
through shared memory (`shm`), so `counters()` never blocks; ACQUIREs and
IKE datagrams come back on the same socketpairs and are dispatched to
`DataplaneEvents` on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import pickle
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from ipaddress import ip_address

import cryptography

from cygnet.dataplane.base import ChildSaPlacement, DataplaneEvents, SaCounters
from cygnet.dataplane.userspace import shm
from cygnet.dataplane.userspace.routing import Router
from cygnet.dataplane.userspace.tun import TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6, open_tun
from cygnet.dataplane.userspace.worker import (
    IP_PKTINFO,
    IPV6_PKTINFO,
    IPV6_RECVPKTINFO,
    NON_ESP_MARKER,
    SOL_UDP,
    UDP_GRO,
    SaSpec,
    TrapSpec,
)
from cygnet.ike.events import ChildSaKeys
from cygnet.ike.natd import Endpoint
from cygnet.ike.payloads import IPAddress, TrafficSelector

__all__ = ["UserspaceDataplane"]

log = logging.getLogger(__name__)

DEFAULT_MARK = 0x4359  # "CY"; set on every socket that must bypass the tunnel routes
DEFAULT_TABLE = 4500
DEFAULT_RULE_PRIORITY = 220
SO_SNDBUFFORCE = 32
SO_RCVBUFFORCE = 33


@dataclass
class _SaRecord:
    child: ChildSaKeys
    where: ChildSaPlacement
    slot: int
    installed: float
    soft_done: bool = False
    hard_done: bool = False
    timers: list[asyncio.TimerHandle] = field(default_factory=list)


class _WorkerHandle:
    """The daemon's end of one worker: commands out in order, never blocking the loop."""

    def __init__(self, role: str, proc: subprocess.Popen, sock: socket.socket) -> None:
        self.role = role
        self.proc = proc
        self.sock = sock
        self.loop = asyncio.get_running_loop()
        self.ready = self.loop.create_future()
        self.backlog: deque[bytes] = deque()
        self.held = 0  # while > 0, commands wait in the backlog (see `hold`)

    def hold(self) -> None:
        """Keep commands back, in order, until as many `release()`s."""
        self.held += 1

    def release(self) -> None:
        self.held -= 1
        if not self.held and self.backlog and self.sock.fileno() >= 0:
            self.loop.add_writer(self.sock.fileno(), self._drain)

    def send(self, cmd: tuple) -> None:
        msg = pickle.dumps(cmd)
        if self.backlog or self.held:  # keep order behind what is already waiting
            self.backlog.append(msg)
            return
        try:
            self.sock.send(msg)
        except BlockingIOError:
            self.backlog.append(msg)
            self.loop.add_writer(self.sock.fileno(), self._drain)
        except OSError as e:
            log.error("userspace ESP %s worker unreachable: %s", self.role, e)

    def _drain(self) -> None:
        while self.backlog and not self.held:
            try:
                self.sock.send(self.backlog[0])
            except BlockingIOError:
                return
            except OSError as e:
                log.error("userspace ESP %s worker unreachable: %s", self.role, e)
                self.backlog.clear()
                break
            self.backlog.popleft()
        self.loop.remove_writer(self.sock.fileno())


def _log_failure(fut: Future) -> None:
    if fut.exception() is not None:
        log.error("userspace ESP routing: %s", fut.exception())


class UserspaceDataplane:
    """The `Dataplane` for protostack=userspace: one TUN device, two worker processes."""

    name = "userspace"

    def __init__(self, tun_name: str = "ipsec0", *, nat_port: int = 4500,
                 mark: int = DEFAULT_MARK, table: int = DEFAULT_TABLE,
                 rule_priority: int = DEFAULT_RULE_PRIORITY, mtu: int = 1400,
                 offload: bool = True, raw_esp: bool = True,
                 acquire_interval: float = 10.0, poll_interval: float = 0.5,
                 txqlen: int = 2000) -> None:
        self.tun_name = tun_name
        self.nat_port = nat_port
        self.mark = mark
        self.table = table
        self.rule_priority = rule_priority
        self.mtu = mtu
        self.offload = offload
        # TUN virtio-net header: lets RX hand coalesced TCP segments to the kernel in one write
        self.tun_vnet = offload
        self.tun_offload = False  # TSO reads: segmenting in Python costs more than it saves
        self.raw_esp = raw_esp
        self.acquire_interval = acquire_interval
        self.poll_interval = poll_interval
        self.txqlen = txqlen
        self.events = DataplaneEvents()
        self._sas: dict[int, _SaRecord] = {}
        self._held: set[int] = set()  # SAs installed with outbound=False, not yet switched
        self._routes: dict[int, TrapSpec] = {}
        self._free_slots: deque[int] = deque(range(shm.N_SLOTS))
        self._workers: list[_WorkerHandle] = []
        self._socks: dict[str, socket.socket] = {}
        self._tun_fd: int | None = None
        self._router: Router | None = None
        self._counters: shm.CounterBlock | None = None
        self._poll_task: asyncio.Task | None = None
        self._rt_exec: ThreadPoolExecutor | None = None
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._barriers: dict[int, Callable[[], None]] = {}
        self._next_token = 0

    @property
    def ike_socket_mark(self) -> int:
        """SO_MARK the daemon must set on its IKE sockets so they bypass the tunnel routes."""
        return self.mark

    # -- lifecycle ----------------------------------------------------------

    async def start(self, events: DataplaneEvents) -> None:
        self.events = events
        self._loop = asyncio.get_running_loop()
        major = int(cryptography.__version__.split(".")[0])
        if major < 47:
            log.warning("cryptography %s is old: AES-GCM costs ~15x more per packet than with 48",
                        cryptography.__version__)
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        offload = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 if self.tun_offload else 0
        self._tun_fd, real = open_tun(self.tun_name, vnet_hdr=self.tun_vnet, offload=offload)
        self.tun_name = real
        self._rt_exec = ThreadPoolExecutor(1, thread_name_prefix="cygnet-usp-route")
        loop = asyncio.get_running_loop()
        router = await loop.run_in_executor(
            self._rt_exec, Router, real, self.table, self.mark, self.rule_priority)
        self._router = router
        await loop.run_in_executor(self._rt_exec, router.link_up, self.mtu, self.txqlen)
        await loop.run_in_executor(self._rt_exec, router.add_rules)
        self._open_sockets()
        self._counters = shm.CounterBlock()
        fds: dict[str, int | bool | float] = {
            "tun": self._tun_fd, "shm": self._counters.fd, "vnet": self.tun_vnet,
            "gso": self.offload, "gro": self.offload, "acquire_interval": self.acquire_interval,
        }
        for name, s in self._socks.items():
            fds[name] = s.fileno()
        for role in ("tx", "rx"):
            self._workers.append(self._spawn(role, fds))
        await asyncio.wait_for(asyncio.gather(*(w.ready for w in self._workers)), 20)
        self._poll_task = asyncio.get_running_loop().create_task(self._poll())
        log.info("userspace ESP on %s: mark 0x%x table %d, workers %s", real, self.mark,
                 self.table, [w.proc.pid for w in self._workers])

    def _open_sockets(self) -> None:
        def marked(fam: int, typ: int, proto: int = 0) -> socket.socket:
            s = socket.socket(fam, typ, proto)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, self.mark)
            # Room for bursts while a worker waits for a core; *FORCE passes rmem_max as root.
            for force, plain in ((SO_SNDBUFFORCE, socket.SO_SNDBUF),
                                 (SO_RCVBUFFORCE, socket.SO_RCVBUF)):
                try:
                    s.setsockopt(socket.SOL_SOCKET, force, 4 << 20)
                except OSError:
                    s.setsockopt(socket.SOL_SOCKET, plain, 4 << 20)
            return s

        u4 = marked(socket.AF_INET, socket.SOCK_DGRAM)
        u4.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        u4.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        u4.bind(("0.0.0.0", self.nat_port))
        self._socks["udp4"] = u4
        try:
            u6 = marked(socket.AF_INET6, socket.SOCK_DGRAM)
            u6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            u6.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)
            u6.bind(("::", self.nat_port))
            self._socks["udp6"] = u6
        except OSError as e:
            log.info("no IPv6 UDP %d socket: %s", self.nat_port, e)
        if self.offload:
            for s in (self._socks.get("udp4"), self._socks.get("udp6")):
                if s is not None:
                    with contextlib.suppress(OSError):
                        s.setsockopt(SOL_UDP, UDP_GRO, 1)
        if self.raw_esp:
            for name, fam in (("raw4", socket.AF_INET), ("raw6", socket.AF_INET6)):
                try:
                    self._socks[name] = marked(fam, socket.SOCK_RAW, socket.IPPROTO_ESP)
                except OSError as e:
                    log.info("no %s ESP socket: %s", name, e)

    def _spawn(self, role: str, fds: dict) -> _WorkerHandle:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        theirs.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        mine = dict(fds, ctrl=theirs.fileno())
        pass_fds = [v for k, v in mine.items() if k in ("tun", "shm", "ctrl", "udp4", "udp6", "raw4", "raw6")]
        proc = subprocess.Popen(
            [sys.executable, "-m", "cygnet.dataplane.userspace.worker", role, json.dumps(mine)],
            pass_fds=pass_fds, close_fds=True,
        )
        theirs.close()
        ours.setblocking(False)
        h = _WorkerHandle(role, proc, ours)
        assert self._loop is not None
        self._loop.add_reader(ours.fileno(), self._on_worker, h)
        return h

    async def stop(self) -> None:
        self._stopping = True
        if self._poll_task is not None:
            self._poll_task.cancel()
            self._poll_task = None
        for rec in self._sas.values():
            for t in rec.timers:
                t.cancel()
        for w in self._workers:
            w.send(("stop",))
        deadline = time.monotonic() + 3.0
        while any(w.backlog for w in self._workers) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        for w in self._workers:
            while w.proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            if w.proc.poll() is None:
                w.proc.kill()
                w.proc.wait()
            if self._loop is not None:
                self._loop.remove_reader(w.sock.fileno())
                self._loop.remove_writer(w.sock.fileno())
            w.sock.close()
        self._workers.clear()
        if self._router is not None:
            assert self._rt_exec is not None and self._loop is not None
            await self._loop.run_in_executor(self._rt_exec, self._router.close)
            self._router = None
        if self._rt_exec is not None:
            self._rt_exec.shutdown(wait=True)
            self._rt_exec = None
        for s in self._socks.values():
            s.close()
        self._socks.clear()
        if self._tun_fd is not None:
            os.close(self._tun_fd)  # the (non-persistent) TUN device disappears with its last fd
            self._tun_fd = None
        if self._counters is not None:
            self._counters.close()
            self._counters = None
        self._sas.clear()
        self._routes.clear()
        barriers, self._barriers = self._barriers, {}
        for cb in barriers.values():
            cb()

    # -- SAs ----------------------------------------------------------------

    def install(self, child: ChildSaKeys, where: ChildSaPlacement, replaces: int | None = None,
                outbound: bool = True) -> None:
        """Install a Child SA; with `replaces` and `outbound=False` outbound traffic stays on
        the old SA until `set_outbound` (the daemon answered the rekey: the peer has the new
        SA only once our answer arrives)."""
        if child.serial in self._sas:
            self.remove(child.serial)
        if not self._free_slots:
            raise RuntimeError("userspace ESP: too many Child SAs")
        slot = self._free_slots.popleft()
        assert self._counters is not None and self._router is not None
        self._counters.clear_slot(slot)
        lt = where.lifetime
        spec = SaSpec(
            serial=child.serial, slot=slot, keys=child,
            local=(str(where.local.ip), where.local.port),
            remote=(str(where.remote.ip), where.remote.port),
            replay_window=where.replay_window, hard_bytes=lt.hard_bytes,
            hard_packets=lt.hard_packets, replaces=replaces,
            outbound=outbound or replaces is None,
        )
        if not spec.outbound:
            self._held.add(child.serial)
        # An SA that takes our outbound traffic at once makes the peer answer on it: the
        # TX worker gets it only once the RX worker has it (workers take commands between
        # packet batches, so the TX one may be first). Until then TX keeps the old SA.
        tx = next((w for w in self._workers if w.role == "tx"), None)
        gate = spec.outbound and tx is not None
        if gate:
            tx.hold()  # type: ignore[union-attr]
        for w in self._workers:
            w.send(("add", spec))
        if gate:
            self._after_rx(tx.release)  # type: ignore[union-attr]
        self._netlink(self._router.add, ("sa", child.serial), child.ts_remote, child.ts_local,
                      where.mtu)
        rec = _SaRecord(child, where, slot, time.monotonic())
        assert self._loop is not None
        if lt.soft_seconds:
            rec.timers.append(self._loop.call_later(lt.soft_seconds, self._expire, child.serial, False))
        if lt.hard_seconds:
            rec.timers.append(self._loop.call_later(lt.hard_seconds, self._expire, child.serial, True))
        self._sas[child.serial] = rec

    def barrier(self, callback: Callable[[], None]) -> None:
        """Call `callback` on the loop once the RX worker has carried out every command
        sent so far: a Child SA just installed accepts packets from then on. (Workers take
        commands between packet batches, so "sent" is not "done" - a peer told about a
        new SA at once may use it before the worker has it.)"""
        self._after_rx(callback)

    def _after_rx(self, callback: Callable[[], None], timeout: float = 1.0) -> None:
        """`callback` once the RX worker answers a ping sent now (or after `timeout`: a
        stuck worker must not stall the rest), exactly once."""
        rx = next((w for w in self._workers if w.role == "rx"), None)
        if rx is None or self._stopping or self._loop is None:
            callback()
            return
        done = False

        def once() -> None:
            nonlocal done
            if not done:
                done = True
                callback()

        self._next_token += 1
        token = self._next_token
        self._barriers[token] = once
        self._loop.call_later(timeout, lambda: self._barriers.pop(token, once)())
        rx.send(("ping", token))

    def set_outbound(self, serial: int) -> None:
        """Move outbound traffic to an SA installed with `outbound=False` (at the latest
        when the peer's first packet arrives on it, whichever comes first)."""
        if serial in self._held and serial in self._sas:
            self._held.discard(serial)
            for w in self._workers:
                w.send(("outbound", serial))

    def remove(self, serial: int) -> None:
        self._held.discard(serial)
        rec = self._sas.pop(serial, None)
        if rec is None:
            return
        for t in rec.timers:
            t.cancel()
        for w in self._workers:
            w.send(("del", serial))
        if self._router is not None:
            self._netlink(self._router.remove, ("sa", serial))
        self._free_slots.append(rec.slot)  # FIFO reuse: a late worker write lands on an idle slot

    def counters(self, serial: int) -> SaCounters:
        rec = self._sas.get(serial)
        if rec is None or self._counters is None:
            return SaCounters()
        c = self._counters.slot(rec.slot)
        last = c[shm.LAST_IN_NS] / 1e9 if c[shm.LAST_IN_NS] else None
        return SaCounters(in_bytes=c[shm.IN_BYTES], out_bytes=c[shm.OUT_BYTES],
                          in_packets=c[shm.IN_PACKETS], out_packets=c[shm.OUT_PACKETS],
                          last_in=last)

    def xfrm_stat(self) -> dict[str, int]:
        """Drop counters named like Linux /proc/net/xfrm_stat (both workers summed)."""
        return self._counters.xfrm_stat() if self._counters is not None else {}

    def _netlink(self, fn: Callable[..., None], *args: object) -> None:
        """Queue a routing change on the netlink thread (in order, without blocking the loop)."""
        assert self._rt_exec is not None
        fut = self._rt_exec.submit(fn, *args)
        fut.add_done_callback(_log_failure)

    # -- on-demand ----------------------------------------------------------

    def route(self, route_id: int, local: TrafficSelector, remote: TrafficSelector, *,
              mtu: int | None = None, peer: IPAddress | None = None) -> None:
        if route_id in self._routes:
            self.unroute(route_id)
        trap = TrapSpec(route_id, (local,), (remote,))
        assert self._router is not None
        self._netlink(self._router.add, ("trap", route_id), (remote,), (local,), mtu)
        self._routes[route_id] = trap
        for w in self._workers:
            if w.role == "tx":
                w.send(("route", trap))

    def unroute(self, route_id: int) -> None:
        entry = self._routes.pop(route_id, None)
        if entry is None:
            return
        for w in self._workers:
            if w.role == "tx":
                w.send(("unroute", route_id))
        if self._router is not None:
            self._netlink(self._router.remove, ("trap", route_id))

    # -- IKE on the shared port -----------------------------------------------

    def send_ike(self, data: bytes, local: Endpoint, remote: Endpoint) -> bool:
        # RFC 3948 §2.2: IKE on the ESP port carries the 4-octet non-ESP marker.
        return self._send_4500(NON_ESP_MARKER + data, local, remote)

    def send_keepalive(self, local: Endpoint, remote: Endpoint) -> bool:
        """A NAT-keepalive (RFC 3948 §2.3, one 0xFF octet) from our UDP 4500 socket."""
        return self._send_4500(b"\xff", local, remote)

    def _send_4500(self, payload: bytes, local: Endpoint, remote: Endpoint) -> bool:
        if local.port != self.nat_port:
            return False
        s = self._socks.get("udp4" if remote.ip.version == 4 else "udp6")
        if s is None:
            return False
        msg = [payload]
        anc = []
        if not local.ip.is_unspecified:
            if local.ip.version == 4:
                anc.append((socket.IPPROTO_IP, IP_PKTINFO,
                            bytes(4) + local.ip.packed + bytes(4)))
            else:
                anc.append((socket.IPPROTO_IPV6, IPV6_PKTINFO, local.ip.packed + bytes(4)))
        try:
            s.sendmsg(msg, anc, socket.MSG_DONTWAIT, (str(remote.ip), remote.port))
        except OSError as e:
            log.warning("sending IKE from %s to %s: %s", local, remote, e)
        return True

    # -- events from workers and timers ----------------------------------------

    def _on_worker(self, h: _WorkerHandle) -> None:
        while True:
            try:
                msg = h.sock.recv(1 << 20)
            except BlockingIOError:
                return
            except OSError:
                msg = b""
            if not msg:
                if self._loop is not None:
                    self._loop.remove_reader(h.sock.fileno())
                if not h.ready.done():
                    h.ready.set_exception(RuntimeError(f"userspace ESP {h.role} worker died"))
                elif not self._stopping:
                    log.error("userspace ESP %s worker exited", h.role)
                return
            ev = pickle.loads(msg)
            try:
                self._dispatch(h, ev)
            except Exception:
                log.exception("userspace ESP event %s", ev[0])

    def _dispatch(self, h: _WorkerHandle, ev: tuple) -> None:
        kind = ev[0]
        if kind == "ready":
            if not h.ready.done():
                h.ready.set_result(True)
        elif kind == "acquire":
            self.events.on_acquire(ev[1], ev[2], ev[3])
        elif kind == "pong":
            cb = self._barriers.pop(ev[1], None)
            if cb is not None:
                cb()
        elif kind == "first" and ev[1] in self._held:
            # the peer sends on the new SA, so it has it: our outbound may follow now
            self.set_outbound(ev[1])
        elif kind == "ike":
            local = Endpoint(ip_address(ev[2][0]), ev[2][1])
            remote = Endpoint(ip_address(ev[3][0].split("%")[0]), ev[3][1])
            self.events.on_ike(ev[1], local, remote)

    def _expire(self, serial: int, hard: bool) -> None:
        rec = self._sas.get(serial)
        if rec is None:
            return
        if hard:
            if rec.hard_done:
                return
            rec.hard_done = True
            for w in self._workers:
                w.send(("disable", serial))
        else:
            if rec.soft_done or rec.hard_done:
                return
            rec.soft_done = True
        self.events.on_expire(serial, hard)

    async def _poll(self) -> None:
        """Byte/packet lifetimes: read the shared counters every `poll_interval`."""
        while True:
            await asyncio.sleep(self.poll_interval)
            if self._counters is None:
                continue
            for serial, rec in list(self._sas.items()):
                lt = rec.where.lifetime
                if not (lt.soft_bytes or lt.soft_packets or lt.hard_bytes or lt.hard_packets):
                    continue
                c = self._counters.slot(rec.slot)
                b = max(c[shm.IN_BYTES], c[shm.OUT_BYTES])
                p = max(c[shm.IN_PACKETS], c[shm.OUT_PACKETS])
                if (c[shm.IN_DEAD] or c[shm.OUT_DEAD]
                        or (lt.hard_bytes and b >= lt.hard_bytes)
                        or (lt.hard_packets and p >= lt.hard_packets)):
                    self._expire(serial, True)
                elif (lt.soft_bytes and b >= lt.soft_bytes) or (lt.soft_packets and p >= lt.soft_packets):
                    self._expire(serial, False)
