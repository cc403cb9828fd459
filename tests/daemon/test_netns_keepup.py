"""Tunnels that stay up, Cygnet ↔ Cygnet in namespaces: rekeying under traffic,
lifetimes, liveness (DPD) and dpdaction, revival, restarts, the troubleshooting
section's failures (spec §4.13) and IPv6.

Waits are bounded; nothing asserts how long something took.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cygnet.lab.netns import is_root, netns_available
from cygnet.lab.node import CygnetNode
from tests.daemon.keepup import (
    Pinger,
    child_serials,
    cygnet_hosts,
    ike_serials,
    psk_conn,
    rekeys_under_traffic,
    setup_node,
    wait,
)

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(not (is_root() and netns_available()), reason="needs root and netns"),
]


def check_no_loss(result, node: CygnetNode, note: str = "") -> None:
    """Rekeys lose no ping. Make-before-break, with no window on either side: the new
    SA accepts packets before the peer hears of it (the daemon sends its CREATE_CHILD_SA
    answer, or as initiator the Delete of the old SA, only once the data plane's RX
    worker confirms it has the new SA; our TX worker moves to it only after that too);
    a rekey responder keeps sending on the old SA until the peer shows it has the new
    one; and the old SA keeps accepting packets for REKEYED_INBOUND_GRACE after its
    Delete (packets sent just before the peer switched are still on the way)."""
    print(f"pings: {result.sent} sent, {result.lost} lost across rekeys")
    assert not result.lost, (f"{result.lost} of {result.sent} pings lost across rekeys: "
                             f"icmp_seq {result.missing}{note}")


def test_twenty_child_and_five_ike_rekeys_lose_no_ping(we) -> None:
    west, east, topo = we
    conn = psk_conn()
    for n in (west, east):
        setup_node(n, conn)
        n.add("tun")
    west.up("tun")
    result, report = rekeys_under_traffic(west, east, topo, "tun")
    print(f"ping through 20 Child and 5 IKE rekeys: {result}")
    assert result.sent > 100, result
    check_no_loss(result, west)
    assert re.search(r"sender|receiver|bits/sec", report), report
    log = west.log() + east.log()
    assert log.count("initiating rekey of IKE SA") >= 5 or log.count("rekeyed IKE SA") >= 5


DPD = ("    dpddelay=1\n    dpdtimeout=2\n    retransmit-timeout=3\n")


@pytest.mark.parametrize("action", ["restart", "hold", "clear"])
def test_dead_peer_detected_and_dpdaction_applied(we, action: str) -> None:
    """Kill east's pluto (no Delete): west's liveness probe times out after dpdtimeout,
    dpdaction runs, and the tunnel comes back once east returns."""
    west, east, topo = we
    auto = "start" if action == "restart" else "add"
    setup_node(west, psk_conn(extra=DPD + f"    dpdaction={action}\n    auto={auto}\n"))
    # east starts the tunnel itself after a restart when west has cleared it
    east_auto = "start" if action == "clear" else "add"
    setup_node(east, psk_conn(extra=DPD + f"    auto={east_auto}\n"))
    east.add("tun")
    if auto == "add":
        west.add("tun")
        west.up("tun")
    wait(lambda: child_serials(west), 20, "tunnel up")
    topo.west.ns.wait_ping("192.1.2.23")
    from tests.daemon.keepup import first_line, kill_node, log_time, restart_node

    kill_node(east)
    killed = time.time() % 86400
    wait(lambda: "liveness: peer has not responded in 2 seconds" in west.log(), 15,
         "liveness failure on west")
    words = {"restart": "liveness action - restarting all connections that share this peer",
             "hold": "liveness action - putting connection into hold",
             "clear": "liveness action - clearing connection kind CK_PERMANENT"}[action]
    wait(lambda: words in west.log(), 5, f"dpdaction={action}")
    detected = first_line(west.log(), "liveness: peer has not responded")
    print(f"dpdaction={action}: dead peer detected "
          f"{log_time(detected) - killed + time.timezone % 86400:.2f}s after the kill "
          "(dpddelay=1 dpdtimeout=2)")
    assert not child_serials(west)
    if action == "clear":
        assert not west.status_json("connectionstatus")["connections"][0]["routed"]
    if action == "hold":
        assert west.status_json("connectionstatus")["connections"][0]["routed"]
    restart_node(east, "tun")
    if action == "hold":
        topo.west.ns.wait_ping("192.1.2.23", timeout=30)  # the trap initiates on traffic
    wait(lambda: child_serials(west) and child_serials(east), 40, "tunnel back")
    topo.west.ns.wait_ping("192.1.2.23", timeout=15)
    if action == "restart":
        assert "which received a Delete/Notify but must remain up per local policy" in west.log()


@pytest.mark.parametrize("who,limits", [
    ("west", "    salifetime=4s\n    ikelifetime=7s\n    rekeymargin=2s\n    rekeyfuzz=0%\n"),
    ("east", "    salifetime=4s\n    ikelifetime=7s\n    rekeymargin=2s\n    rekeyfuzz=0%\n"),
    ("west", "    ipsec-max-packets=400\n"),
])
def test_lifetimes_drive_rekeys(we, who: str, limits: str) -> None:
    """Short lifetimes on one side only: that side's soft expiry rekeys the Child SA
    (time or packet limit) and the IKE SA, make-before-break, under a 10 ms ping."""
    west, east, topo = we
    setup_node(west, psk_conn(extra=limits if who == "west" else ""))
    setup_node(east, psk_conn(extra=limits if who == "east" else ""))
    for n in (west, east):
        n.add("tun")
    west.up("tun")
    topo.west.ns.wait_ping("192.1.2.23")
    first_child = child_serials(west)[0]
    first_ike = ike_serials(west)[0]
    ping = Pinger(topo.west.ns, "192.1.2.23")
    rekeyer = west if who == "west" else east
    wait(lambda: rekeyer.log().count("initiating rekey of Child SA") >= 2, 30, "2 Child rekeys")
    if "ikelifetime" in limits:
        wait(lambda: "initiating rekey of IKE SA" in rekeyer.log(), 30, "IKE rekey")
        wait(lambda: ike_serials(west) and ike_serials(west)[0] != first_ike, 10, "new IKE SA")
    result = ping.stop()
    print(f"lifetimes on {who} ({limits.strip()}): {result}")
    other = east if rekeyer is west else west
    assert "initiating rekey of Child SA" not in other.log()
    assert child_serials(west) and child_serials(west)[0] != first_child
    check_no_loss(result, west)


@pytest.fixture
def re_(tmp_path: Path) -> Iterator[tuple[CygnetNode, CygnetNode, object]]:
    """road (192.1.3.209, behind nic's masquerade) and east."""
    with cygnet_hosts(tmp_path, ("road", "east")) as hosts:
        yield hosts


ROAD_SECRET = '@road @east : PSK "a-test-secret-that-is-long-enough-for-fips"\n'
ROAD = ("conn road\n    authby=secret\n    left=192.1.3.209\n    leftid=@road\n"
        "    right=192.1.2.23\n    rightid=@east\n    rightsubnet=192.0.2.0/24\n"
        "    dpddelay=2\n    retransmit-timeout=10\n")
EAST_FOR_ROAD = ("conn road\n    authby=secret\n    left=192.1.2.23\n    leftid=@east\n"
                 "    leftsubnet=192.0.2.0/24\n    right=%any\n    rightid=@road\n"
                 "    rightsubnet=192.1.3.209/32\n")


def test_road_warrior_behind_nat_survives_losing_its_mapping(re_) -> None:
    """NAT detected, IKE and ESP on UDP 4500, keepalives (keep-alive=1) through nic; after
    `conntrack -F` on nic east reaches road again once road's keepalive has re-made the
    mapping."""
    road, east, topo = re_
    setup_node(road, ROAD, ROAD_SECRET, setup="config setup\n    keep-alive=1\n")
    setup_node(east, EAST_FOR_ROAD, ROAD_SECRET)
    east.add("road")
    road.add("road")
    out = road.up("road")
    assert re.search(r"initiator established Child SA using #1; IPsec tunnel "
                     r"\[192\.1\.3\.209/32===192\.0\.2\.0/24\] \{ESPinUDP", out), out
    state = road.status_json("showstates")["states"][0]
    assert state["local"] == "192.1.3.209:4500" and state["remote"] == "192.1.2.23:4500"
    estate = east.status_json("showstates")["states"][0]
    assert estate["remote"].startswith("192.1.2.254:"), estate  # road as the NAT shows it
    topo.road.ns.wait_ping("192.0.2.254", src="192.1.3.209")
    # keepalives: one-octet UDP datagrams (UDP length 9) from road's port 4500
    dump = subprocess.Popen(topo.nic.ns.argv(
        ["timeout", "3", "tcpdump", "-n", "-l", "-i", "eth0", "-c", "2",
         "udp src port 4500 and udp[4:2] = 9"]), stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True)
    seen = dump.communicate(timeout=10)[0]
    assert "192.1.3.209.4500 > 192.1.2.23.4500" in seen, seen
    ping = Pinger(topo.road.ns, "192.0.2.254", src="192.1.3.209", interval=0.05)
    time.sleep(0.5)
    topo.nic.ns.exec(["conntrack", "-F"], check=False)
    time.sleep(1.0)
    result = ping.stop()
    print(f"road ping across conntrack -F on nic: {result}")
    # east -> road needs the mapping back; road's keepalive (or traffic) restores it
    topo.nic.ns.exec(["conntrack", "-F"], check=False)
    topo.east.ns.wait_ping("192.1.3.209", src="192.0.2.254", timeout=15)
    assert child_serials(road) and child_serials(east)


@pytest.mark.parametrize("outer,inner", [
    ("6", "6"),  # 6in6
    ("6", "4"),  # 4in6
    ("4", "6"),  # 6in4: the spec's mysubnet6 (2001:db8:0:1::/64 === 2001:db8:0:2::/64)
])
def test_ipv6_tunnels(we, outer: str, inner: str) -> None:
    west, east, topo = we
    left, right = (("2001:db8:1:2::45", "2001:db8:1:2::23") if outer == "6"
                   else ("192.1.2.45", "192.1.2.23"))
    lnet, rnet, lhost, rhost = (
        ("2001:db8:0:1::/64", "2001:db8:0:2::/64", "2001:db8:0:1::254", "2001:db8:0:2::254")
        if inner == "6" else ("192.0.1.0/24", "192.0.2.0/24", "192.0.1.254", "192.0.2.254"))
    name = "mysubnet6" if (outer, inner) == ("4", "6") else f"v{inner}in{outer}"
    conn = (f"conn {name}\n    authby=secret\n    left={left}\n    leftid=@west\n"
            f"    right={right}\n    rightid=@east\n    leftsubnet={lnet}\n"
            f"    rightsubnet={rnet}\n")
    for n in (west, east):
        setup_node(n, conn)
        n.add(name)
    out = west.up(name)
    lnet_re, rnet_re = re.escape(lnet), re.escape(rnet)
    assert re.search(rf"initiator established Child SA using #\d+; IPsec tunnel "
                     rf"\[{lnet_re}==={rnet_re}\]", out), out
    state = west.status_json("showstates")["states"][0]
    assert state["remote"].startswith(f"[{right}]" if outer == "6" else right), state
    topo.west.ns.wait_ping(rhost, src=lhost, timeout=15)
    assert topo.east.ns.ping(lhost, src=rhost, count=2)
    traffic = west.status_json("trafficstatus")["trafficstatus"][0]
    assert traffic["inBytes"] > 0 and traffic["outBytes"] > 0


def test_restarts_bring_auto_start_tunnels_back(we) -> None:
    """west (auto=start) restarts: the tunnel comes back by itself. east restarts
    (orderly: it sends Delete): west revives the connection until east answers again."""
    west, east, topo = we
    setup_node(west, psk_conn(extra="    auto=start\n    retransmit-timeout=3\n"))
    setup_node(east, psk_conn(extra="    auto=add\n"))
    east.add("tun")
    wait(lambda: child_serials(west), 20, "auto=start")
    west.stop()
    wait(lambda: not child_serials(east), 10, "east saw west's Delete")
    west.start()
    wait(lambda: child_serials(west) and child_serials(east), 20, "back after west's restart")
    topo.west.ns.wait_ping("192.1.2.23")
    east.stop()
    wait(lambda: "connection is supposed to remain up; schedule EVENT_REVIVE_CONNS"
         in west.log(), 10, "west schedules revival")
    east.start()
    east.add("tun")
    wait(lambda: child_serials(west) and child_serials(east), 30, "back after east's restart")
    topo.west.ns.wait_ping("192.1.2.23")
    assert ("initiating connection 'tun' with serial $1 which received a Delete/Notify but "
            "must remain up per local policy") in west.log()


def test_peer_restart_noticed_by_initial_contact(we) -> None:
    """east crashes (no Delete) and comes back with auto=start: its INITIAL_CONTACT makes
    west forget the old IKE and Child SAs; one of each remains and traffic flows."""
    west, east, topo = we
    setup_node(west, psk_conn())
    setup_node(east, psk_conn(extra="    auto=start\n"))
    west.add("tun")
    wait(lambda: child_serials(west), 20, "auto=start from east")
    old_ike, old_child = ike_serials(west), child_serials(west)
    from tests.daemon.keepup import kill_node, restart_node

    kill_node(east)
    restart_node(east)
    wait(lambda: "deleting IKE SA without notification" in west.log(), 20, "old SAs forgotten")
    wait(lambda: len(ike_serials(west)) == 1 and ike_serials(west) != old_ike, 10, "old IKE SA")
    wait(lambda: len(child_serials(west)) == 1 and child_serials(west) != old_child, 10,
         "old Child SA")
    topo.west.ns.wait_ping("192.1.2.23")
