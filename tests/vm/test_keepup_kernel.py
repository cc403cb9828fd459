"""Tunnels that stay up on the kernel's ESP (XFRM back end, inside the VM).

Issue #5's evidence on the second back end: Child and IKE rekeys under a
10 ms ping and an iperf3 stream, either side rekeying; a killed peer found by
liveness (dpdaction=restart) and the tunnel back when it returns.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.daemon.keepup import child_serials, kill_node, rekeys_under_traffic, wait
from tests.vm.kit import capture, conn, kernel_pair, kernel_sa_bytes, traffic

DPD = "    dpddelay=1\n    dpdtimeout=2\n    retransmit-timeout=3\n"
CONNS = (conn("ku", "    esp=aes_gcm128\n")
         + conn("dpd", "    esp=aes_gcm128\n" + DPD + "    dpdaction=restart\n"))


@pytest.fixture
def pair(tmp_path) -> Iterator[tuple]:
    with kernel_pair(tmp_path, CONNS) as p:
        yield p


def test_rekeys_under_ping_and_iperf_lose_nothing(pair) -> None:
    west, east, topo = pair
    for n in (east, west):
        n.add("ku")
    west.up("ku")
    # on west's cable: nothing of the ping may ever cross in the clear
    with capture(topo.switches["swan12"], "west", "icmp") as clear:
        result, _ = rekeys_under_traffic(west, east, topo, "ku")
    print(f"kernel ESP, ping through 20 Child and 5 IKE rekeys: {result}")
    assert result.sent > 100, result
    assert clear == [], clear[:5]
    # make-before-break in the kernel: the old SAs carry traffic until the new ones are in,
    # and a rekey's responder moves its outbound only once the peer has the new SA
    assert result.lost == 0, result
    before = traffic(west)["ku"]
    assert topo.west.ns.ping("192.1.2.23", count=3)
    after = traffic(west)["ku"]
    assert after[0] > before[0] and after[1] > before[1], (before, after)
    assert all(b > 0 for b in kernel_sa_bytes(topo.west.ns))
    log = west.log() + east.log()
    assert log.count("initiating rekey of IKE SA") + log.count("rekeyed IKE SA") >= 5


def test_dead_peer_restart_and_return(pair) -> None:
    """Kill east's pluto (its kernel SAs stay, no Delete): west's liveness probes go
    unanswered, dpdaction=restart tears down and re-initiates, and once east is back
    the tunnel carries traffic again."""
    west, east, topo = pair
    for n in (east, west):
        n.add("dpd")
    west.up("dpd")
    topo.west.ns.wait_ping("192.1.2.23")
    kill_node(east)
    topo.east.ns.exec(["ip", "xfrm", "state", "flush"])  # as if the peer rebooted
    topo.east.ns.exec(["ip", "xfrm", "policy", "flush"])
    wait(lambda: "liveness: peer has not responded in 2 seconds" in west.log(), 30,
         "liveness failure on west")
    wait(lambda: "liveness action - restarting all connections that share this peer"
         in west.log(), 10, "dpdaction=restart")
    east.start()
    east.add("dpd")
    wait(lambda: child_serials(west, "dpd") and child_serials(east, "dpd"), 90, "tunnel back")
    topo.west.ns.wait_ping("192.1.2.23", timeout=30)
