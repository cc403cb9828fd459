"""The daemon's policy timers without a network: lifetimes handed to the data plane,
margins and fuzz, and the rekey responder's held outbound traffic."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from types import SimpleNamespace

import pytest

from cygnet.daemon import pluto as pluto_mod
from cygnet.daemon.keeper import NO_LIMIT, child_lifetime, rekey_margin, soft_limit
from cygnet.daemon.log import PlutoLog
from cygnet.daemon.pluto import Options, Pluto
from cygnet.dataplane.base import SaCounters
from cygnet.ike.events import DeleteChildSa, InstallChildSa
from tests.ike.ikepair import pair, policy


def spec(**kw):
    base = dict(salifetime=timedelta(hours=8), rekeymargin=timedelta(minutes=9), rekeyfuzz=100,
                rekey=True)
    base.update(kw)
    opts = {"ipsec-max-bytes": kw.pop("max_bytes", NO_LIMIT),
            "ipsec-max-packets": kw.pop("max_packets", NO_LIMIT)}
    ns = SimpleNamespace(**base)
    ns.get = lambda k, d=None: opts.get(k, d)
    return ns


def test_margins_follow_pluto() -> None:
    assert rekey_margin(540, 100, initiator=True, rand=0.0) == 540
    assert rekey_margin(540, 100, initiator=True, rand=0.5) == 810
    assert rekey_margin(540, 100, initiator=False) == 270


def test_child_lifetime_defaults_and_short_ones() -> None:
    lt = child_lifetime(spec(), initiator=False)
    assert lt.hard_seconds == 8 * 3600 and lt.soft_seconds == 8 * 3600 - 270
    assert lt.hard_bytes == lt.soft_bytes == lt.hard_packets == 0
    short = child_lifetime(spec(salifetime=timedelta(seconds=4),
                                rekeymargin=timedelta(seconds=2), rekeyfuzz=0), initiator=True)
    assert (short.soft_seconds, short.hard_seconds) == (2.0, 4.0)


def test_rekey_no_only_expires() -> None:
    lt = child_lifetime(spec(rekey=False, max_packets=400), initiator=True)
    assert lt.soft_seconds == 0 and lt.soft_packets == 0 and lt.hard_packets == 400


def test_packet_and_byte_limits_soft_before_hard() -> None:
    lt = child_lifetime(spec(max_packets=400, max_bytes=1 << 20), initiator=False)
    assert lt.soft_packets == 200 and lt.hard_packets == 400 and lt.soft_bytes == 1 << 19
    assert soft_limit(400, initiator=True, rand=1.0) == 160  # the initiator goes first


class HoldingPlane:
    """A data plane that can install a Child SA inbound-only and switch outbound later."""

    name = "fake"

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def install(self, child, where, replaces=None, outbound=True) -> None:
        self.calls.append(("install", child.serial, replaces, outbound))

    def set_outbound(self, serial: int) -> None:
        self.calls.append(("set_outbound", serial))

    def remove(self, serial: int) -> None:
        self.calls.append(("remove", serial))

    def counters(self, serial: int) -> SaCounters:
        return SaCounters()

    def send_ike(self, data, local, remote) -> bool:
        return True


class PlainPlane(HoldingPlane):
    """One that cannot: the new SA takes outbound traffic at install."""

    set_outbound = None  # type: ignore[assignment]

    def install(self, child, where, replaces=None) -> None:  # type: ignore[override]
        self.calls.append(("install", child.serial, replaces, True))


@pytest.mark.parametrize("plane_holds", [True, False])
def test_rekey_responder_holds_outbound_until_the_old_sa_is_deleted(plane_holds: bool,
                                                                   monkeypatch) -> None:
    """...and the old SA, once deleted, keeps its inbound half for a grace period."""
    monkeypatch.setattr(pluto_mod, "REKEYED_INBOUND_GRACE", 0.05)
    wire, west = pair(policy("west"), policy("east"))
    wire.run()
    serial = next(iter(west.children))
    wire.feed("west", west.rekey_child(serial, 1.0))
    wire.run()

    async def replay() -> list[tuple]:
        p = Pluto(Options(), PlutoLog(use_syslog=False))
        p.engine = wire.east
        plane = HoldingPlane() if plane_holds else PlainPlane()
        p.dataplane = plane  # type: ignore[assignment]
        # east's Child SAs as they were when each event came (the engine holds the newest)
        (east_sa,) = wire.east.sas.values()
        kids = dict(east_sa.children)
        for ev in wire.events["east"]:
            if isinstance(ev, InstallChildSa):
                east_sa.children.setdefault(ev.child.serial, kids.get(ev.child.serial)
                                            or next(iter(kids.values())))
                p._install(ev)
            elif isinstance(ev, DeleteChildSa):
                p._remove_child(ev)
        plane.calls.append(("deleted",))
        await asyncio.sleep(0.2)
        return plane.calls

    calls = asyncio.run(replay())
    installs = [c for c in calls if c[0] == "install"]
    assert installs[0][2] is None and installs[0][3] is True  # IKE_AUTH's Child SA
    new, old = installs[1][1], installs[1][2]
    # removed only after the grace period, not at the Delete
    assert calls.index(("deleted",)) < calls.index(("remove", old))
    if plane_holds:
        assert installs[1][3] is False
        assert calls.index(("set_outbound", new)) < calls.index(("remove", old))
    else:
        assert installs[1][3] is True and ("set_outbound", new) not in calls


class BarrierPlane(HoldingPlane):
    """A data plane whose workers confirm commands later (userspace ESP's `barrier`)."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting: list = []

    def barrier(self, callback) -> None:
        self.calls.append(("barrier",))
        self.waiting.append(callback)


def test_ike_datagrams_of_an_install_wait_for_the_data_plane() -> None:
    """The answer (or Delete) that makes the peer use a new Child SA leaves only once the
    data plane confirms the SA is in place; later datagrams queue behind it, in order."""
    from cygnet.ike.events import SendDatagram
    from cygnet.ike.natd import Endpoint

    async def run() -> list[tuple]:
        p = Pluto(Options(), PlutoLog(use_syslog=False))
        p.engine = SimpleNamespace(sas={}, get_timer=lambda: None)  # type: ignore[assignment]
        plane = BarrierPlane()
        p.dataplane = plane  # type: ignore[assignment]
        p._send = lambda ev: plane.calls.append(("send", ev.data))  # type: ignore[method-assign]
        a, b = Endpoint.parse("192.1.2.23", 500), Endpoint.parse("192.1.2.45", 500)
        child = SimpleNamespace(serial=3)
        p.apply([InstallChildSa(child, replaces=2, responder=True),  # type: ignore[arg-type]
                 SendDatagram(b"answer", a, b)])
        p.apply([SendDatagram(b"later", a, b)])
        assert ("send", b"answer") not in plane.calls
        plane.waiting.pop()()
        p.apply([SendDatagram(b"after", a, b)])
        return plane.calls

    calls = asyncio.run(run())
    assert calls == [("barrier",), ("send", b"answer"), ("send", b"later"), ("send", b"after")]


@pytest.mark.parametrize("plane_holds", [True, False])
def test_without_a_barrier_installs_go_before_the_datagrams_when_outbound_can_wait(
        plane_holds: bool) -> None:
    """XFRM installs synchronously and holds a rekey responder's outbound: our answer (or,
    as initiator, the Delete) leaves after the new SA is in. A plane that switches outbound
    at install sends first, so the peer has the SA before our traffic uses it."""
    from cygnet.ike.events import SendDatagram
    from cygnet.ike.natd import Endpoint

    p = Pluto(Options(), PlutoLog(use_syslog=False))
    plane = HoldingPlane() if plane_holds else PlainPlane()
    p.dataplane = plane  # type: ignore[assignment]
    p._install = lambda ev: plane.calls.append(("install", ev.child.serial))  # type: ignore[method-assign]
    p._send = lambda ev: plane.calls.append(("send", ev.data))  # type: ignore[method-assign]
    p._arm_timer = lambda: None  # type: ignore[method-assign]
    a, b = Endpoint.parse("192.1.2.23", 500), Endpoint.parse("192.1.2.45", 500)
    p.apply([SendDatagram(b"delete-old", a, b),
             InstallChildSa(SimpleNamespace(serial=3), replaces=2)])  # type: ignore[arg-type]
    if plane_holds:
        assert plane.calls == [("install", 3), ("send", b"delete-old")]
    else:
        assert plane.calls == [("send", b"delete-old"), ("install", 3)]
