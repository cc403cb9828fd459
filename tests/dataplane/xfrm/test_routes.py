"""`mtu=` with the XFRM back end: the route Libreswan's `_updown.xfrm` adds
(`ip route replace <peer client> [via <nexthop>] mtu N dev <interface>`), against a
recording fake and against the running kernel in a throw-away namespace."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from cygnet.dataplane.xfrm import XfrmDataplane
from cygnet.dataplane.xfrm.routes import MtuRoutes
from cygnet.ike.payloads import TrafficSelector

from .helpers import EAST, EASTNET, child_sa, host_ts, placement, run_in_netns
from .test_lifecycle import FakeSocket


class Msg:
    def __init__(self, **attrs) -> None:
        self.attrs = attrs

    def get_attr(self, name: str):
        return self.attrs.get(name)


class FakeIPRoute:
    def __init__(self, gateway: str | None = None, oif: int = 3) -> None:
        self.gateway, self.oif = gateway, oif
        self.calls: list[tuple[str, dict]] = []

    def route(self, cmd: str, **kw):
        self.calls.append((cmd, kw))
        if cmd == "get":
            return [Msg(RTA_GATEWAY=self.gateway, RTA_OIF=self.oif)]
        return []

    def close(self) -> None:
        pass


SUBNET = (TrafficSelector(*EASTNET, 0, 0, 65535),)


def test_route_towards_the_peer_carries_the_mtu() -> None:
    fake = FakeIPRoute(gateway="192.1.2.254")
    r = MtuRoutes(lambda: fake)
    r.add_now(("sa", 2), SUBNET, ip_address("198.51.100.1"), 1300)
    assert fake.calls == [
        ("get", {"dst": "198.51.100.1"}),
        ("replace", {"dst": "192.0.2.0/24", "gateway": "192.1.2.254", "oif": 3,
                     "metrics": {"mtu": 1300}}),
    ]


def test_rekeys_share_the_route_and_the_last_owner_deletes_it() -> None:
    fake = FakeIPRoute()
    r = MtuRoutes(lambda: fake)
    r.add_now(("sa", 2), (host_ts(EAST),), EAST, 1300)
    r.add_now(("sa", 3), (host_ts(EAST),), EAST, 1300)
    r.remove_now(("sa", 2))
    assert [c for c, _ in fake.calls] == ["get", "replace"]
    assert fake.calls[1][1] == {"dst": "192.1.2.23/32", "oif": 3, "metrics": {"mtu": 1300}}
    r.remove_now(("sa", 3))
    assert fake.calls[-1] == ("del", {"dst": "192.1.2.23/32"})


def test_6in4_gets_the_interface_but_no_nexthop() -> None:
    fake = FakeIPRoute(gateway="192.1.2.254")
    r = MtuRoutes(lambda: fake)
    v6 = (TrafficSelector(ip_address("2001:db8:0:2::"), ip_address("2001:db8:0:2::ffff"),
                          0, 0, 65535),)
    r.add_now(("sa", 2), v6, EAST, 1280)
    cmd, kw = fake.calls[-1]
    assert cmd == "replace" and "gateway" not in kw and kw["oif"] == 3
    assert kw["dst"] == "2001:db8:0:2::/112" and kw["metrics"] == {"mtu": 1280}


def test_install_without_mtu_adds_no_route() -> None:
    d = XfrmDataplane(ipv6_nd_bypass=False)
    d._cmd = FakeSocket()  # type: ignore[assignment]
    d.install(child_sa(), placement())
    d.remove(2)
    assert d.mtu_routes._exec is None  # never started: no thread, no netlink


def test_install_with_mtu_queues_the_route_and_close_removes_it() -> None:
    d = XfrmDataplane(ipv6_nd_bypass=False)
    d._cmd = FakeSocket()  # type: ignore[assignment]
    fake = FakeIPRoute()
    d.mtu_routes = MtuRoutes(lambda: fake)
    d.install(child_sa(serial=2, spi_in=0x1001, spi_out=0x2001), placement(mtu=1300))
    d.install(child_sa(serial=3, spi_in=0x1002, spi_out=0x2002), placement(mtu=1300),
              replaces=2)
    d.remove(2)
    d.close()
    assert [c for c, _ in fake.calls] == ["get", "replace", "del"]


def test_a_routed_conn_gets_its_mtu_route_before_any_sa() -> None:
    """auto=route: _updown.xfrm's route-client adds the route (with mtu) at route time;
    the SA that comes later shares it, unroute takes it away with the last owner."""
    d = XfrmDataplane(ipv6_nd_bypass=False)
    d._cmd = FakeSocket()  # type: ignore[assignment]
    fake = FakeIPRoute()
    d.mtu_routes = MtuRoutes(lambda: fake)
    d.route(7, host_ts(ip_address("192.1.2.45")), host_ts(EAST), mtu=1300, peer=EAST)
    d.install(child_sa(serial=2, spi_in=0x1001, spi_out=0x2001), placement(mtu=1300))
    d.unroute(7)
    d.remove(2)
    d.close()
    assert [c for c, _ in fake.calls] == ["get", "replace", "del"]
    assert fake.calls[1][1]["metrics"] == {"mtu": 1300}


def test_a_routed_conn_without_mtu_or_peer_adds_no_route() -> None:
    d = XfrmDataplane(ipv6_nd_bypass=False)
    d._cmd = FakeSocket()  # type: ignore[assignment]
    d.route(7, host_ts(ip_address("192.1.2.45")), host_ts(EAST))
    d.route(8, host_ts(ip_address("192.1.2.45")), host_ts(EAST), mtu=1300, peer=None)
    assert d.mtu_routes._exec is None


@pytest.mark.netns
def test_mtu_route_in_the_kernel() -> None:
    """`ip route get` to the remote client shows the mtu and the way to the peer."""
    out = run_in_netns(
        """
from ipaddress import ip_address as A
from cygnet.dataplane.xfrm.routes import MtuRoutes
from cygnet.ike.payloads import TrafficSelector as TS
sh("ip", "link", "add", "eth1", "type", "veth", "peer", "name", "eth1p")
sh("ip", "addr", "add", "192.1.2.45/24", "dev", "eth1")
sh("ip", "link", "set", "eth1p", "up")
sh("ip", "link", "set", "eth1", "up")
r = MtuRoutes()
r.add_now(("sa", 2), (TS(A("192.0.2.0"), A("192.0.2.255"), 0, 0, 65535),), A("192.1.2.23"), 1300)
r.add_now(("sa", 3), (TS(A("192.1.2.23"), A("192.1.2.23"), 0, 0, 65535),), A("192.1.2.23"), 1300)
OUT["subnet"] = sh("ip", "route", "get", "192.0.2.1")
OUT["host"] = sh("ip", "route", "get", "192.1.2.23")
r.remove_now(("sa", 2))
r.close_now()
OUT["after"] = sh("ip", "route", "show")
"""
    )
    assert "dev eth1" in out["subnet"] and "mtu 1300" in out["subnet"], out
    assert "mtu 1300" in out["host"], out
    assert "192.0.2.0/24" not in out["after"] and "192.1.2.23 " not in out["after"], out
