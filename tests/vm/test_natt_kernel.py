"""NAT traversal with the kernel's ESP-in-UDP (inside the VM).

road (192.1.3.209) sits behind nic's masquerade; east (192.1.2.23) has a
`right=%any` conn for it. Both Cygnets run `protostack=xfrm`: NAT is detected,
IKE moves to UDP 4500, the SAs carry `encap espinudp` and the daemon's port
4500 socket (UDP_ENCAP set by the back end) hands ESP to the kernel.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.daemon.keepup import cygnet_hosts, setup_node
from tests.vm.kit import capture, kernel_sa_bytes, traffic, xfrm

SECRET = '@road @east : PSK "a-test-secret-that-is-long-enough-for-fips"\n'
ROAD = ("conn road\n    authby=secret\n    left=192.1.3.209\n    leftid=@road\n"
        "    right=192.1.2.23\n    rightid=@east\n    rightsubnet=192.0.2.0/24\n")
EAST = ("conn road\n    authby=secret\n    left=192.1.2.23\n    leftid=@east\n"
        "    leftsubnet=192.0.2.0/24\n    right=%any\n    rightid=@road\n"
        "    rightsubnet=192.1.3.209/32\n")


@pytest.fixture
def roadwarrior(tmp_path) -> Iterator[tuple]:
    with cygnet_hosts(tmp_path, ("road", "east"), protostack="xfrm") as hosts:
        yield hosts


def test_road_behind_nat_kernel_espinudp(roadwarrior) -> None:
    road, east, topo = roadwarrior
    setup_node(road, ROAD, SECRET)
    setup_node(east, EAST, SECRET)
    east.add("road")
    road.add("road")
    out = road.up("road")
    assert re.search(r"initiator established Child SA using #\d+; IPsec tunnel "
                     r"\[192\.1\.3\.209/32===192\.0\.2\.0/24\] \{ESPinUDP", out), out
    rstate = xfrm(topo.road.ns, "state")
    assert rstate.count("encap type espinudp sport 4500 dport 4500") == 2, rstate
    estate = xfrm(topo.east.ns, "state")
    # east sees road as nic's address and port: 192.1.2.254:<mapped> <-> 192.1.2.23:4500
    assert "src 192.1.2.254 dst 192.1.2.23" in estate, estate
    assert estate.count("encap type espinudp") == 2, estate
    with capture(topo.nic.ns, "eth1") as lines:  # nic's swan12 side: after the NAT
        topo.road.ns.wait_ping("192.0.2.254", src="192.1.3.209", timeout=30)
        assert topo.east.ns.ping("192.1.3.209", src="192.0.2.254", count=2)
    assert any("UDP-encap" in x and "ESP(spi=" in x for x in lines), lines[:10]
    clear = [x for x in lines if "ICMP" in x and "UDP-encap" not in x]
    assert not clear, clear
    for ns in (topo.road.ns, topo.east.ns):
        assert all(b > 0 for b in kernel_sa_bytes(ns)), xfrm(ns, "state-stats")
    assert traffic(road)["road"][0] > 0
