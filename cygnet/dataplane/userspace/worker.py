"""The packet workers: one process per direction, so encryption and decryption run on two cores.

TX: TUN → SPD lookup → ESP encode → raw ESP or ESP-in-UDP socket. It owns
the outbound sequence numbers. RX: sockets → SAD lookup by SPI → ESP decode
→ selector check (RFC 4301 §5.2) → TUN. It owns the replay windows, and
hands IKE datagrams from the shared UDP 4500 socket to the daemon.

Both are started by `plane.UserspaceDataplane` as `python -m
cygnet.dataplane.userspace.worker ROLE FDS-JSON` with the TUN, sockets,
counter memfd and a SOCK_SEQPACKET control socket inherited. Commands
arrive pickled on the control socket (trusted: it is a private socketpair
from our own parent); events go back the same way. Counters go to shared
memory (see `shm`), never through the socket.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import pickle
import select
import signal
import socket
import struct
import sys
import time
from dataclasses import dataclass
from typing import Any

from cygnet.dataplane.userspace import shm
from cygnet.dataplane.userspace.esp import (
    NH_IPV4,
    NH_IPV6,
    NH_NONE,
    XFRM_STAT_NAMES,
    EspDrop,
    InboundSa,
    OutboundSa,
)
from cygnet.dataplane.userspace.spd import Spd, flow_of, flow_selectors, matches, selector_of
from cygnet.dataplane.userspace.tun import VNET_HDR_LEN
from cygnet.dataplane.userspace.tungro import coalesce
from cygnet.ike.events import ChildSaKeys
from cygnet.ike.payloads import TrafficSelector

__all__ = ["SaSpec", "TrapSpec", "main"]

IP_PKTINFO = 8
IPV6_RECVPKTINFO = 49
IPV6_PKTINFO = 50
SOL_UDP = 17
UDP_SEGMENT = 103
UDP_GRO = 104
NON_ESP_MARKER = b"\0\0\0\0"
_STAT = {name: i for i, name in enumerate(XFRM_STAT_NAMES)}
_BATCH = 256  # packets per drain before looking at the control socket again
_INF = 1 << 64  # "no limit" for SA byte/packet lifetimes


@dataclass(frozen=True, slots=True)
class SaSpec:
    """What a worker needs to run one Child SA (sent pickled from the daemon)."""

    serial: int
    slot: int
    keys: ChildSaKeys
    local: tuple[str, int]
    remote: tuple[str, int]
    replay_window: int
    hard_bytes: int = 0
    hard_packets: int = 0
    replaces: int | None = None
    #: False: keep sending on `replaces` until `("outbound", serial)` - we answered the
    #: rekey, and the peer can decrypt the new SA only once our answer has reached it
    outbound: bool = True


@dataclass(frozen=True, slots=True)
class TrapSpec:
    route_id: int
    local: tuple[TrafficSelector, ...]
    remote: tuple[TrafficSelector, ...]


class _Trap:
    __slots__ = ("route_id", "last")

    def __init__(self, route_id: int) -> None:
        self.route_id = route_id
        self.last = -1e9


class _Sa:
    """Per-SA state inside one worker (one direction)."""

    __slots__ = ("serial", "slot", "esp", "tunnel", "local", "remote", "fine", "ok_cache",
                 "bytes", "packets", "limit_bytes", "limit_packets", "dead", "sock", "dest",
                 "v4", "local_ip", "remote_ip", "dirty", "gso", "fast")

    def __init__(self, spec: SaSpec, esp: Any, sock: socket.socket | None) -> None:
        k = spec.keys
        self.serial = spec.serial
        self.slot = spec.slot
        self.esp = esp
        self.tunnel = k.mode != "transport"
        self.local = tuple(selector_of(t) for t in k.ts_local)
        self.remote = tuple(selector_of(t) for t in k.ts_remote)
        self.fine = any(s.proto or not s.any_port for s in (*self.local, *self.remote))
        self.ok_cache: dict[bytes, bool] = {}
        self.bytes = 0
        self.packets = 0
        self.limit_bytes = spec.hard_bytes or _INF
        self.limit_packets = spec.hard_packets or _INF
        self.dead = False
        self.sock = sock
        self.v4 = ":" not in spec.remote[0]
        self.dest = (spec.remote[0], spec.remote[1] if k.udp_encap else 0)
        self.local_ip = socket.inet_pton(socket.AF_INET if self.v4 else socket.AF_INET6,
                                         spec.local[0])
        self.remote_ip = socket.inet_pton(socket.AF_INET if self.v4 else socket.AF_INET6,
                                          spec.remote[0])
        self.dirty = False
        self.gso = False
        # steady state for the inlined loops: tunnel mode, alive, selectors without ports
        self.fast = self.tunnel and not self.fine


def _inet_checksum(data: bytes) -> int:
    # One's-complement sum of 16-bit words == the number mod 0xFFFF (2^16 ≡ 1).
    if len(data) & 1:
        data += b"\0"
    s = int.from_bytes(data, "big") % 0xFFFF
    return (~s) & 0xFFFF if s else 0  # a non-zero sum of 0 mod 0xFFFF is 0xFFFF: checksum 0


def _ipv4_header(src: bytes, dst: bytes, proto: int, payload_len: int) -> bytes:
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + payload_len, 0, 0x4000, 64, proto, 0, src, dst)
    c = _inet_checksum(hdr)
    return hdr[:10] + c.to_bytes(2, "big") + hdr[12:]


class _Worker:
    def __init__(self, role: int, fds: dict[str, int]) -> None:
        self.role = role
        self.ctrl = socket.socket(fileno=fds["ctrl"])
        self.ctrl.setblocking(False)
        self.counters = shm.CounterBlock(fds["shm"])
        self.words = self.counters.words
        self.tun = fds["tun"]
        self.vnet = bool(fds.get("vnet"))
        self.socks: dict[str, socket.socket] = {}
        for name in ("udp4", "udp6", "raw4", "raw6"):
            if fds.get(name) is not None:
                s = socket.socket(fileno=fds[name])
                self.socks[name] = s
        self.stats = [0] * len(XFRM_STAT_NAMES)
        self.stats_dirty = False
        self.sas: dict[int, _Sa] = {}
        self.dirty: list[_Sa] = []
        self.running = True
        self.ep = select.epoll()
        self.ep.register(self.ctrl.fileno(), select.EPOLLIN)

    # -- bookkeeping ------------------------------------------------------

    def count(self, name: str) -> None:
        self.stats[_STAT[name]] += 1
        self.stats_dirty = True

    def send_event(self, ev: tuple) -> None:
        try:
            self.ctrl.send(pickle.dumps(ev))
        except OSError:
            if ev[0] == "acquire":
                self.count("XfrmAcquireError")

    def flush(self) -> None:
        w = self.words
        if self.stats_dirty:
            base = shm.CounterBlock.stat_index(self.role, 0)
            for i, v in enumerate(self.stats):
                w[base + i] = v
            self.stats_dirty = False
        if self.dirty:
            now = time.monotonic_ns()
            si = shm.CounterBlock.slot_index
            for sa in self.dirty:
                sa.dirty = False
                if sa.serial not in self.sas:
                    continue
                if self.role == shm.ROLE_TX:
                    w[si(sa.slot, shm.OUT_BYTES)] = sa.bytes
                    w[si(sa.slot, shm.OUT_PACKETS)] = sa.packets
                    if sa.dead:
                        w[si(sa.slot, shm.OUT_DEAD)] = 1
                else:
                    w[si(sa.slot, shm.IN_BYTES)] = sa.bytes
                    w[si(sa.slot, shm.IN_PACKETS)] = sa.packets
                    w[si(sa.slot, shm.LAST_IN_NS)] = now
                    if sa.dead:
                        w[si(sa.slot, shm.IN_DEAD)] = 1
            self.dirty.clear()

    def control(self) -> None:
        while True:
            try:
                msg = self.ctrl.recv(1 << 20)
            except BlockingIOError:
                return
            if not msg:  # the daemon went away
                self.running = False
                return
            cmd = pickle.loads(msg)
            self.command(cmd)

    def command(self, cmd: tuple) -> None:
        op = cmd[0]
        if op == "stop":
            self.running = False
        elif op == "add":
            self.add(cmd[1])
        elif op == "del":
            self.delete(cmd[1])
        elif op == "disable":
            sa = self.sas.get(cmd[1])
            if sa is not None:
                sa.dead = True
                sa.fast = False
        elif op == "ping":
            self.send_event(("pong", cmd[1]))
        else:
            self.other(cmd)

    def add(self, spec: SaSpec) -> None:
        raise NotImplementedError

    def delete(self, serial: int) -> None:
        raise NotImplementedError

    def other(self, cmd: tuple) -> None:
        pass

    def drain(self, fd: int) -> None:
        raise NotImplementedError

    def run(self) -> None:
        self.send_event(("ready", self.role))
        ctrl_fd = self.ctrl.fileno()
        while self.running:
            for fd, _ in self.ep.poll():  # commands wake us; idle workers cost nothing
                if fd == ctrl_fd:
                    self.control()
                    continue
                try:
                    self.drain(fd)
                except Exception as e:  # a packet must never take the data plane down
                    self.count("XfrmOutError" if self.role == shm.ROLE_TX else "XfrmInError")
                    print(f"cygnet userspace ESP worker: {e!r}", file=sys.stderr)
            self.flush()


class TxWorker(_Worker):
    """TUN → ESP. Owns sequence numbers (RFC 4303 §3.3.3) and the traps (ACQUIRE)."""

    def __init__(self, role: int, fds: dict[str, int]) -> None:
        super().__init__(role, fds)
        self.spd = Spd()
        self.acquire_interval = float(fds.get("acquire_interval", 10.0))
        self.ep.register(self.tun, select.EPOLLIN)
        self.gso = bool(fds.get("gso"))
        self.batch: list[bytes] = []
        self.held: dict[int, int] = {}  # held SA serial -> the SA it replaces
        self.batch_sa: _Sa | None = None
        self.batch_len = 0
        self.batch_max = 1

    def add(self, spec: SaSpec) -> None:
        k = spec.keys
        esp = OutboundSa(k.spi_out, k.encr_id, k.encr_key_bits, k.integ_id, k.esn,
                         k.key_out_encr, k.key_out_integ)
        v4 = ":" not in spec.remote[0]
        name = ("udp" if k.udp_encap else "raw") + ("4" if v4 else "6")
        sa = _Sa(spec, esp, self.socks.get(name))
        sa.gso = self.gso and k.udp_encap
        self.sas[spec.serial] = sa
        if spec.replaces is not None and spec.replaces in self.sas and not spec.outbound:
            # make-before-break, held: the old SA stays first until `outbound` arrives
            self.held[spec.serial] = spec.replaces
            self.spd.add(("sa", spec.serial), sa.local, sa.remote, sa, first=False)
            return
        if spec.replaces is not None:  # make-before-break: the new SA takes outbound at once
            self.spd.remove(("sa", spec.replaces))
        self.spd.add(("sa", spec.serial), sa.local, sa.remote, sa, first=True)

    def take_outbound(self, serial: int) -> None:
        """A held SA (see `SaSpec.outbound`) becomes the one outbound traffic uses."""
        sa = self.sas.get(serial)
        if sa is None or serial not in self.held:
            return
        self.flush_batch()
        self.spd.remove(("sa", self.held.pop(serial)))
        self.spd.remove(("sa", serial))
        self.spd.add(("sa", serial), sa.local, sa.remote, sa, first=True)

    def delete(self, serial: int) -> None:
        self.flush_batch()
        self.sas.pop(serial, None)
        self.held.pop(serial, None)
        self.spd.remove(("sa", serial))

    def other(self, cmd: tuple) -> None:
        if cmd[0] == "outbound":
            self.take_outbound(cmd[1])
        elif cmd[0] == "route":
            t: TrapSpec = cmd[1]
            self.spd.add(("trap", t.route_id), tuple(selector_of(x) for x in t.local),
                         tuple(selector_of(x) for x in t.remote), _Trap(t.route_id), first=False)
        elif cmd[0] == "unroute":
            self.spd.remove(("trap", cmd[1]))

    def drain(self, fd: int) -> None:
        """Read the TUN until it is empty (or a batch is done), then send what is queued.

        The loop inlines the steady state - SPD cache hit on an established
        tunnel-mode SA - and leaves everything else to `handle`.
        """
        read = os.read
        tun = self.tun
        off = VNET_HDR_LEN if self.vnet else 0
        bufsize = 16384 + off
        spd = self.spd
        cache = spd.cache
        handle = self.handle
        batch = self.batch
        try:
            for _ in range(_BATCH):
                try:
                    pkt = read(tun, bufsize)
                except BlockingIOError:
                    return
                except OSError:
                    self.count("XfrmOutError")
                    return
                if off:
                    pkt = pkt[off:]
                if not pkt or spd.fine:
                    handle(pkt)
                    continue
                v4 = pkt[0] >> 4 == 4
                sa = cache.get(pkt[12:20] if v4 else pkt[8:40])
                if type(sa) is not _Sa or not sa.fast:
                    handle(pkt)
                    continue
                try:
                    data = sa.esp.encode(pkt, NH_IPV4 if v4 else NH_IPV6)
                except EspDrop as e:
                    self.count(e.counter)
                    sa.dead = True
                    sa.fast = False
                    self.mark(sa)
                    continue
                if sa.gso:
                    if (batch and self.batch_sa is sa and len(data) == self.batch_len
                            and len(batch) < self.batch_max):
                        batch.append(data)
                    else:
                        self.queue(sa, data)
                else:
                    try:
                        sa.sock.sendto(data, sa.dest)  # type: ignore[union-attr]
                    except OSError:
                        self.count("XfrmOutError")
                        continue
                sa.packets += 1
                sa.bytes += len(pkt)
                if sa.bytes >= sa.limit_bytes or sa.packets >= sa.limit_packets:
                    sa.dead = True
                    sa.fast = False
                if not sa.dirty:
                    sa.dirty = True
                    self.dirty.append(sa)
        finally:
            self.flush_batch()

    def handle(self, pkt: bytes) -> None:
        if not pkt:
            return
        target, flow = self.spd.lookup(pkt)
        if type(target) is not _Sa:
            self.miss(pkt, target, flow)
            return
        sa: _Sa = target  # type: ignore[assignment]
        if sa.dead:
            self.count("XfrmOutStateExpired")
            return
        if sa.tunnel:
            payload, nh = pkt, (NH_IPV4 if pkt[0] >> 4 == 4 else NH_IPV6)
        elif pkt[0] >> 4 == 4:
            ihl = (pkt[0] & 15) * 4
            payload, nh = pkt[ihl:], pkt[9]
        else:
            payload, nh = pkt[40:], pkt[6]
        try:
            data = sa.esp.encode(payload, nh)
        except EspDrop as e:
            self.count(e.counter)
            sa.dead = True
            sa.fast = False
            self.mark(sa)
            return
        if sa.gso:
            self.queue(sa, data)
        else:
            try:
                sa.sock.sendto(data, sa.dest)  # type: ignore[union-attr]
            except OSError:
                self.count("XfrmOutError")
                return
        sa.packets += 1
        sa.bytes += len(pkt)
        if sa.bytes >= sa.limit_bytes or sa.packets >= sa.limit_packets:
            sa.dead = True  # hard lifetime: stop passing traffic (the daemon raises EXPIRE)
            sa.fast = False
        if not sa.dirty:
            sa.dirty = True
            self.dirty.append(sa)

    def queue(self, sa: _Sa, data: bytes) -> None:
        """UDP GSO (UDP_SEGMENT): equal-sized ESP-in-UDP packets of one SA leave in one
        sendmsg, cut by the kernel; a shorter packet may end a batch."""
        b = self.batch
        n = len(data)
        if b:
            if self.batch_sa is not sa or n > self.batch_len or len(b) >= self.batch_max:
                self.flush_batch()
            else:
                b.append(data)
                if n < self.batch_len:
                    self.flush_batch()
                return
        self.batch_sa = sa
        self.batch_len = n
        self.batch_max = max(1, min(64, 65000 // n))
        b.append(data)

    def flush_batch(self) -> None:
        b = self.batch
        if not b:
            return
        sa = self.batch_sa
        assert sa is not None and sa.sock is not None
        try:
            if len(b) == 1:
                sa.sock.sendto(b[0], sa.dest)
            else:
                sa.sock.sendmsg(b, [(SOL_UDP, UDP_SEGMENT, self.batch_len.to_bytes(2, sys.byteorder))],
                                0, sa.dest)
        except OSError as e:
            if len(b) > 1 and e.errno in (errno.EINVAL, errno.EIO, errno.ENOPROTOOPT):
                self.gso_broken(b, sa)  # kernel without UDP_SEGMENT (< 4.18): one by one
            else:
                self.stats[_STAT["XfrmOutError"]] += len(b)
                self.stats_dirty = True
        b.clear()

    def gso_broken(self, batch: list[bytes], sa: _Sa) -> None:
        self.gso = False
        for s in self.sas.values():
            s.gso = False
        for data in batch:
            try:
                sa.sock.sendto(data, sa.dest)  # type: ignore[union-attr]
            except OSError:
                self.count("XfrmOutError")

    def mark(self, sa: _Sa) -> None:
        if not sa.dirty:
            sa.dirty = True
            self.dirty.append(sa)

    def miss(self, pkt: bytes, target: Any, flow: Any) -> None:
        if isinstance(target, _Trap):
            self.count("XfrmOutNoStates")  # negotiationshunt=drop: the first packets are lost
            now = time.monotonic()
            if now - target.last >= self.acquire_interval:
                target.last = now
                flow = flow or flow_of(pkt)
                if flow is not None:
                    src, dst = flow_selectors(flow)
                    self.send_event(("acquire", target.route_id, src, dst))
        else:
            self.count("XfrmOutPolBlock")

    def handle_vnet(self, pkt: bytes) -> None:
        # No TSO/checksum offload is enabled on reads, so the header is all zeros: skip it.
        self.handle(pkt[VNET_HDR_LEN:])


class RxWorker(_Worker):
    """ESP → TUN. Owns the replay windows (RFC 4303 §3.4.3)."""

    def __init__(self, role: int, fds: dict[str, int]) -> None:
        super().__init__(role, fds)
        self.by_spi: dict[bytes, _Sa] = {}
        self.by_fd: dict[int, tuple[str, socket.socket]] = {}
        for name, s in self.socks.items():
            self.by_fd[s.fileno()] = (name, s)
            self.ep.register(s.fileno(), select.EPOLLIN)
        self.gro = bool(fds.get("gro"))
        self.pending: list[bytes] = []  # decrypted packets waiting for one coalesced TUN write

    def add(self, spec: SaSpec) -> None:
        k = spec.keys
        esp = InboundSa(k.spi_in, k.encr_id, k.encr_key_bits, k.integ_id, k.esn,
                        k.key_in_encr, k.key_in_integ, spec.replay_window)
        sa = _Sa(spec, esp, None)
        self.sas[spec.serial] = sa
        self.by_spi[k.spi_in] = sa

    def delete(self, serial: int) -> None:
        sa = self.sas.pop(serial, None)
        if sa is not None and self.by_spi.get(sa.esp.spi) is sa:
            del self.by_spi[sa.esp.spi]

    def drain(self, fd: int) -> None:
        name, s = self.by_fd[fd]
        try:
            if name.startswith("raw"):
                self.drain_raw(s, name == "raw4")
            else:
                self.drain_udp(s, name == "udp4")
        finally:
            if self.pending:
                self.write_pending()

    def write_pending(self) -> None:
        tun = self.tun

        def write(b: bytes) -> None:
            try:
                os.write(tun, b)
            except OSError:
                self.count("XfrmInBufferError")

        coalesce(self.pending, write)
        self.pending.clear()

    def drain_raw(self, s: socket.socket, v4: bool) -> None:
        for _ in range(_BATCH):
            try:
                data, addr = s.recvfrom(65535, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except OSError:
                self.count("XfrmInError")
                return
            if v4:  # IPv4 raw sockets deliver the IP header too
                ihl = (data[0] & 15) * 4
                data = data[ihl:]
            if not self.esp_fast(data):
                self.esp_in(data)

    def drain_udp(self, s: socket.socket, v4: bool) -> None:
        gro = self.gro
        for _ in range(_BATCH):
            try:
                data, anc, _flags, addr = s.recvmsg(65535, 256, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except OSError:
                self.count("XfrmInError")
                return
            if gro and anc:
                seg = 0
                for level, typ, val in anc:
                    if level == SOL_UDP and typ == UDP_GRO:
                        seg = int.from_bytes(val[:4], sys.byteorder)
                if seg and len(data) > seg:
                    self.gro_batch(data, seg, anc, addr, s, v4)
                    continue
            if not self.esp_fast(data):
                self.udp_datagram(data, anc, addr, s, v4)

    def gro_batch(self, data: bytes, seg: int, anc: list, addr: Any, s: socket.socket,
                  v4: bool) -> None:
        """One UDP GRO read: runs of packets of one steady-state SA are decoded in one
        call (`InboundSa.decode_run`); anything else goes packet by packet."""
        by_spi = self.by_spi
        end = len(data)
        off = 0
        drops: list[str] = []
        while off < end:
            sa = by_spi.get(data[off : off + 4])
            if sa is not None and sa.fast and sa.esp.batchable:
                out: list[bytes] = []
                off = sa.esp.decode_run(data, seg, off, out, drops)
                if out:
                    self.deliver_run(sa, out)
                continue
            d = data[off : off + seg]
            off += seg
            if not self.esp_fast(d):
                self.udp_datagram(d, anc, addr, s, v4)
        for name in drops:
            self.count(name)

    def deliver_run(self, sa: _Sa, pkts: list[bytes]) -> None:
        """`deliver` for a run of inner packets of one SA, selectors checked per packet."""
        cache = sa.ok_cache
        good = []
        for pkt in pkts:
            ok = cache.get(pkt[12:20] if pkt[0] >> 4 == 4 else pkt[8:40])
            if ok is None:
                ok = self.selectors_ok(sa, pkt)
            if ok:
                good.append(pkt)
            else:
                self.count("XfrmInTmplMismatch")
        if not good:
            return
        if sa.limit_bytes != _INF or sa.limit_packets != _INF or not self.vnet:
            for pkt in good:  # a hard limit may fall inside the run: count packet by packet
                if sa.dead:
                    self.count("XfrmInStateExpired")
                else:
                    self.deliver(sa, pkt)
            return
        self.pending.extend(good)
        if not sa.packets:
            self.send_event(("first", sa.serial))
        sa.packets += len(good)
        sa.bytes += sum(map(len, good))
        if not sa.dirty:
            sa.dirty = True
            self.dirty.append(sa)

    def udp_datagram(self, data: bytes, anc: list, addr: Any, s: socket.socket, v4: bool) -> None:
        if len(data) < 8:
            if data == b"\xff":  # RFC 3948 §2.3 NAT-keepalive
                self.count("CygInKeepalive")
            else:
                self.count("XfrmInHdrError")
            return
        if data[:4] == NON_ESP_MARKER:  # RFC 3948 §2.2: IKE on the shared port
            self.count("CygInIke")
            local = self.local_of(anc, v4, s)
            self.send_event(("ike", data[4:], local, (addr[0], addr[1])))
            return
        self.esp_in(data)

    @staticmethod
    def local_of(anc: list, v4: bool, s: socket.socket) -> tuple[str, int]:
        port = s.getsockname()[1]
        for level, typ, val in anc:
            if v4 and level == socket.IPPROTO_IP and typ == IP_PKTINFO and len(val) >= 12:
                return socket.inet_ntop(socket.AF_INET, val[8:12]), port
            if not v4 and level == socket.IPPROTO_IPV6 and typ == IPV6_PKTINFO and len(val) >= 16:
                return socket.inet_ntop(socket.AF_INET6, val[:16]), port
        return s.getsockname()[0], port

    def esp_fast(self, data: bytes) -> bool:
        """The steady state of `esp_in`, inlined; False: not handled, take the full path."""
        sa = self.by_spi.get(data[:4])
        if sa is None or not sa.fast:
            return False
        try:
            nh, pkt = sa.esp.decode(data)
        except EspDrop as e:
            self.count(e.counter)
            return True
        if nh == NH_IPV4:
            if not pkt or pkt[0] >> 4 != 4:
                self.count("XfrmInStateModeError")
                return True
            ok = sa.ok_cache.get(pkt[12:20])
        elif nh == NH_IPV6:
            if not pkt or pkt[0] >> 4 != 6:
                self.count("XfrmInStateModeError")
                return True
            ok = sa.ok_cache.get(pkt[8:40])
        else:
            self.count("CygInDummy" if nh == NH_NONE else "XfrmInStateModeError")
            return True
        if ok is None:
            ok = self.selectors_ok(sa, pkt)
        if not ok:
            self.count("XfrmInTmplMismatch")
            return True
        self.deliver(sa, pkt)
        return True

    def deliver(self, sa: _Sa, pkt: bytes) -> None:
        if self.vnet:
            self.pending.append(pkt)
        else:
            try:
                os.write(self.tun, pkt)
            except OSError as e:
                if e.errno in (errno.EAGAIN, errno.ENOBUFS, errno.EINVAL, errno.EIO):
                    self.count("XfrmInBufferError")
                    return
                raise
        if not sa.packets:  # the peer uses this SA: it has installed it (see plane.set_outbound)
            self.send_event(("first", sa.serial))
        sa.packets += 1
        sa.bytes += len(pkt)
        if sa.bytes >= sa.limit_bytes or sa.packets >= sa.limit_packets:
            sa.dead = True
            sa.fast = False
        if not sa.dirty:
            sa.dirty = True
            self.dirty.append(sa)

    def esp_in(self, data: bytes) -> None:
        sa = self.by_spi.get(data[:4])
        if sa is None:
            self.count("XfrmInNoStates" if len(data) >= 8 else "XfrmInHdrError")
            return
        if sa.dead:
            self.count("XfrmInStateExpired")
            return
        try:
            nh, payload = sa.esp.decode(data)
        except EspDrop as e:
            self.count(e.counter)
            return
        if sa.tunnel:
            if nh in (NH_IPV4, NH_IPV6):
                if not payload or payload[0] >> 4 != (4 if nh == NH_IPV4 else 6):
                    self.count("XfrmInStateModeError")
                    return
                pkt = payload
            elif nh == NH_NONE:
                self.count("CygInDummy")
                return
            else:
                self.count("XfrmInStateModeError")
                return
        else:
            if nh == NH_NONE:
                self.count("CygInDummy")
                return
            if sa.v4:
                pkt = _ipv4_header(sa.remote_ip, sa.local_ip, nh, len(payload)) + payload
            else:
                pkt = (struct.pack("!IHBB", 6 << 28, len(payload), nh, 64) + sa.remote_ip
                       + sa.local_ip + payload)
        if not self.selectors_ok(sa, pkt):
            self.count("XfrmInTmplMismatch")  # RFC 4301 §5.2 step 4: inner packet off-policy
            return
        self.deliver(sa, pkt)

    @staticmethod
    def selectors_ok(sa: _Sa, pkt: bytes) -> bool:
        if not sa.fine:
            if len(pkt) < 20:
                return False
            key = pkt[12:20] if pkt[0] >> 4 == 4 else pkt[8:40]
            ok = sa.ok_cache.get(key)
            if ok is not None:
                return ok
        flow = flow_of(pkt)
        ok = flow is not None and matches(sa.local, sa.remote, flow, False)
        if not sa.fine:
            if len(sa.ok_cache) > 4096:
                sa.ok_cache.clear()
            sa.ok_cache[key] = ok
        return ok


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    role = {"tx": shm.ROLE_TX, "rx": shm.ROLE_RX}[argv[0]]
    fds = json.loads(argv[1])
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the daemon stops us with a command
    w: _Worker = TxWorker(role, fds) if role == shm.ROLE_TX else RxWorker(role, fds)
    w.run()
    w.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
