"""The RX/TX workers' packet paths, in-process (no namespaces): delivery, drops, fuzz."""

from __future__ import annotations

import os
import pickle
import socket
import struct
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cygnet.dataplane.userspace import shm, worker
from cygnet.dataplane.userspace.agent import child_from_json
from cygnet.dataplane.userspace.esp import XFRM_STAT_NAMES, OutboundSa
from cygnet.dataplane.userspace.nslab import EASTNET, WESTNET, static_sa_pair


def seg(src: str, dst: str, n: int = 100) -> bytes:
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + n, 1, 0, 64, 17, 0,
                       socket.inet_aton(src), socket.inet_aton(dst)) + bytes(n)


class Harness:
    """An RxWorker on a pipe instead of a TUN, with east's side of a westnet/eastnet SA."""

    def __init__(self, vnet: bool) -> None:
        w, e = static_sa_pair(1, west_ts=[WESTNET], east_ts=[EASTNET], udp_encap=True)
        child, _ = child_from_json(e)
        self.a, self.b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.cb = shm.CounterBlock()
        self.r, self.w = os.pipe()
        os.set_blocking(self.r, False)
        self.rx = worker.RxWorker(shm.ROLE_RX, {"ctrl": self.b.fileno(), "shm": self.cb.fd,
                                                "tun": self.w, "vnet": vnet})
        self.rx.add(worker.SaSpec(1, 0, child, ("192.1.2.23", 4500), ("192.1.2.45", 4500), 64))
        self.out = OutboundSa(child.spi_in, child.encr_id, child.encr_key_bits, child.integ_id,
                              child.esn, child.key_in_encr, child.key_in_integ)

    def feed(self, data: bytes) -> None:
        if not self.rx.esp_fast(data):
            self.rx.udp_datagram(data, [], ("192.1.2.45", 4500), self.udp, True)
        if self.rx.pending:
            self.rx.write_pending()
        self.rx.flush()

    def delivered(self) -> bytes:
        try:
            return os.read(self.r, 1 << 16)
        except BlockingIOError:
            return b""

    def stat(self) -> dict[str, int]:
        return self.cb.xfrm_stat()

    def close(self) -> None:
        for fd in (self.r, self.w):
            os.close(fd)
        self.a.close()
        self.b.close()
        self.udp.close()


@pytest.fixture
def h() -> Iterator[Harness]:
    x = Harness(vnet=False)
    yield x
    x.close()


def test_delivers_and_counts(h: Harness) -> None:
    pkt = seg("192.0.1.1", "192.0.2.7")
    h.feed(h.out.encode(pkt, 4))
    assert h.delivered() == pkt
    assert h.cb.slot(0)[shm.IN_PACKETS] == 1 and h.cb.slot(0)[shm.IN_BYTES] == len(pkt)


def test_inner_packet_outside_the_selectors_is_dropped(h: Harness) -> None:
    h.feed(h.out.encode(seg("10.9.9.9", "192.0.2.7"), 4))  # RFC 4301 §5.2: not from westnet
    assert h.delivered() == b""
    assert h.stat()["XfrmInTmplMismatch"] == 1


def test_unknown_spi_replay_keepalive_and_ike(h: Harness) -> None:
    wire = h.out.encode(seg("192.0.1.1", "192.0.2.7"), 4)
    h.feed(b"\x99\x99\x99\x99" + wire[4:])
    h.feed(wire)
    h.feed(wire)
    h.feed(b"\xff")
    h.feed(b"\0\0\0\0" + b"ike!" * 8)
    s = h.stat()
    assert (s["XfrmInNoStates"], s["XfrmInStateSeqError"], s["CygInKeepalive"], s["CygInIke"]) == (
        1, 1, 1, 1)
    # the IKE datagram went to the daemon's side, marker removed (after the SA's
    # one-off "first inbound packet" event)
    events = [pickle.loads(h.a.recv(1 << 16)) for _ in range(2)]
    assert events[0] == ("first", 1)
    assert b"ike!" * 8 in events[1][1]


def gro(h: Harness, wires: list[bytes]) -> None:
    """One UDP GRO read: the datagrams back to back, all as long as the first but the last."""
    h.rx.gro_batch(b"".join(wires), len(wires[0]), [], ("192.1.2.45", 4500), h.udp, True)
    if h.rx.pending:
        h.rx.write_pending()
    h.rx.flush()


def drain(h: Harness) -> bytes:
    out = b""
    while (d := h.delivered()):  # a pipe, not a TUN: writes may arrive merged
        out += d
    return out


def test_gro_read_delivers_a_run_and_counts_its_drops(h: Harness) -> None:
    pkts = [seg("192.0.1.1", f"192.0.2.{7 + i}", 60) for i in range(3)]
    w0, w1, w2 = (h.out.encode(p, 4) for p in pkts)
    forged = bytearray(h.out.encode(pkts[0], 4))
    forged[-1] ^= 1
    unknown = b"\x99\x99\x99\x99" + w0[4:]  # another SA's packet in the middle of the read
    off_policy = h.out.encode(seg("10.9.9.9", "192.0.2.7", 60), 4)
    gro(h, [w0, bytes(forged), unknown, w1, off_policy, w2])
    assert drain(h) == b"".join(pkts)
    s = h.stat()
    assert (s["XfrmInStateProtoError"], s["XfrmInNoStates"], s["XfrmInTmplMismatch"]) == (
        1, 1, 1), s
    assert h.cb.slot(0)[shm.IN_PACKETS] == 3


def test_gro_read_respects_a_hard_packet_limit(h: Harness) -> None:
    h.rx.sas[1].limit_packets = 2
    pkt = seg("192.0.1.1", "192.0.2.7")
    gro(h, [h.out.encode(pkt, 4) for _ in range(4)])
    assert drain(h) == pkt * 2
    assert h.cb.slot(0)[shm.IN_PACKETS] == 2
    assert h.stat()["XfrmInStateExpired"] == 2


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300), st.integers(0, 80), st.binary(min_size=1, max_size=3))
def test_fuzz_rx_path_only_counts(h: Harness, data: bytes, pos: int, junk: bytes) -> None:
    good = bytearray(h.out.encode(seg("192.0.1.1", "192.0.2.7", 40), 4))
    good[pos % len(good) : pos % len(good) + len(junk)] = junk
    before = sum(h.stat().values())
    for d in (data, bytes(good), good[:4] + data):
        h.feed(bytes(d))
    h.delivered()
    assert sum(h.stat().values()) >= before
    assert set(h.stat()) == set(XFRM_STAT_NAMES)


def test_tx_make_before_break_rekey_moves_outbound_at_once() -> None:
    """install(replaces=old): new outbound SPI at once, the old SA still decrypts (RX)."""
    rcv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rcv.bind(("127.0.0.1", 0))
    snd = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    cb = shm.CounterBlock()
    r, w = os.pipe()
    try:
        tx = worker.TxWorker(shm.ROLE_TX, {"ctrl": b.fileno(), "shm": cb.fd, "tun": r,
                                           "udp4": snd.fileno()})
        port = rcv.getsockname()[1]
        specs = []
        for serial in (1, 2):
            west, _ = static_sa_pair(serial, west_ts=[WESTNET], east_ts=[EASTNET], udp_encap=True)
            child, _ = child_from_json(dict(west, remote="127.0.0.1"))
            specs.append(worker.SaSpec(serial, serial, child, ("127.0.0.1", 4500),
                                       ("127.0.0.1", port), 64, replaces=1 if serial == 2 else None))
        tx.add(specs[0])
        tx.handle(seg("192.0.1.1", "192.0.2.7"))
        assert rcv.recv(2048)[:4] == specs[0].keys.spi_out
        tx.add(specs[1])
        tx.handle(seg("192.0.1.1", "192.0.2.7"))
        assert rcv.recv(2048)[:4] == specs[1].keys.spi_out
        tx.delete(1)  # removing the old SA leaves the new one in place
        tx.handle(seg("192.0.1.1", "192.0.2.7"))
        assert rcv.recv(2048)[:4] == specs[1].keys.spi_out
        tx.handle(seg("192.0.9.1", "192.0.2.7"))  # no policy: dropped and counted
        tx.flush()
        assert cb.xfrm_stat()["XfrmOutPolBlock"] == 1
    finally:
        for s in (rcv, snd, a, b):
            s.close()
        os.close(r)
        os.close(w)
