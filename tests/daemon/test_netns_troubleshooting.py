"""The spec's §4.13 troubleshooting cases, Cygnet ↔ Cygnet in namespaces.

One pair of plutos serves every case (a module-scoped lab): each case is its own
connection with its own IDs, so east finds it by the peer's ID at IKE_AUTH. Each test
asserts our side's log lines (Libreswan 4.x wording, as the spec prints them) and what
the peer did (its log, or the notify it sent).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator

import pytest

from cygnet.lab.netns import is_root, netns_available
from cygnet.lab.node import CygnetNode
from tests.daemon.keepup import (
    ICMP_ERROR_LINE,
    cygnet_hosts,
    nft,
    setup_node,
    up_against_icmp_reject,
    wait,
)

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(not (is_root() and netns_available()), reason="needs root and netns"),
]

IKE = "aes128-sha2_256;modp2048"
CASES = {
    # name: (west extra, east extra)
    "ikealg": ("    ike=aes256-sha2_512;dh19\n", ""),
    "espalg": ("    esp=aes128-sha2_256\n", "    esp=aes256-sha2_512\n"),
    "ts": ("    leftsubnet=192.0.1.0/24\n    rightsubnet=192.0.2.0/24\n",
           "    leftsubnet=192.0.2.0/24\n    rightsubnet=192.0.3.0/24\n"),
    "psk": ("", ""),
    "fw": ("", ""),
    "icmp": ("", ""),
    "ok": ("", ""),
    # Libreswan's mtu= goes on the route it installs for the remote subnet (west only)
    "mtu": ("    leftsubnet=192.0.1.0/24\n    rightsubnet=192.0.2.0/24\n    mtu=1300\n",
            "    leftsubnet=192.0.1.0/24\n    rightsubnet=192.0.2.0/24\n"),
    # the same on a routed (trap) conn: the route is there before any SA
    "mtur": ("    leftsubnet=192.0.1.0/24\n    rightsubnet=192.0.3.0/24\n    mtu=1280\n", ""),
}


def _conn(case: str, extra: str, side: str) -> str:
    ike = "" if "ike=" in extra else f"    ike={IKE}\n"
    return (f"conn {case}\n    authby=secret\n    left=192.1.2.45\n    leftid=@west-{case}\n"
            f"    right=192.1.2.23\n    rightid=@east-{case}\n    retransmit-timeout=3\n"
            + ike + extra + "\n")


def _secrets(side: str) -> str:
    out = ""
    for case in CASES:
        psk = "a-test-secret-that-is-long-enough-for-fips"
        if case == "psk" and side == "east":
            psk = "a-different-secret-of-the-same-length!!!!!"
        out += f'@west-{case} @east-{case} : PSK "{psk}"\n'
    return out


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> Iterator[tuple[CygnetNode, CygnetNode, object]]:
    with cygnet_hosts(tmp_path_factory.mktemp("trouble")) as (west, east, topo):
        setup_node(west, "".join(_conn(c, w, "west") for c, (w, e) in CASES.items()),
                   _secrets("west"))
        setup_node(east, "".join(_conn(c, e, "east") for c, (w, e) in CASES.items()),
                   _secrets("east"))
        for c in CASES:
            east.add(c)
            west.add(c)
        yield west, east, topo



def test_ike_algorithm_mismatch(pair) -> None:
    west, east, _ = pair
    out = west.up("ikealg", check=False)
    assert re.search(r'003 "ikealg" #\d+: dropping unexpected IKE_SA_INIT message containing '
                     r"NO_PROPOSAL_CHOSEN notification; message payloads: N; missing payloads: "
                     r"SA,KE,Ni", out), out
    assert re.search(r"responding to IKE_SA_INIT message \(ID 0\) from 192\.1\.2\.45:500 with "
                     r"unencrypted notification NO_PROPOSAL_CHOSEN", east.log()), east.log()[-2000:]


def test_esp_algorithm_mismatch(pair) -> None:
    west, east, _ = pair
    out = west.up("espalg", check=False)
    assert re.search(r'"espalg" #\d+: IKE_AUTH response contained the error notification '
                     r"NO_PROPOSAL_CHOSEN", out), out
    assert re.search(r'"espalg" #\d+: .*NO_PROPOSAL_CHOSEN', east.log()), east.log()[-3000:]


def test_traffic_selector_mismatch(pair) -> None:
    west, east, _ = pair
    out = west.up("ts", check=False)
    assert re.search(r'"ts" #\d+: IKE_AUTH response contained the error notification '
                     r"TS_UNACCEPTABLE", out), out
    assert "TS_UNACCEPTABLE" in east.log()


def test_psk_mismatch(pair) -> None:
    west, east, _ = pair
    out = west.up("psk", check=False)
    assert re.search(r'"psk" #\d+: IKE SA authentication request rejected by peer: '
                     r"AUTHENTICATION_FAILED", out), out
    assert "authentication of ID_FQDN '@west-psk' failed: PSK AUTH did not verify" in east.log()


def test_firewall_dropping_ike(pair) -> None:
    """east drops UDP 500: west retransmits 0.5, 1, 2 s... and gives up at retransmit-timeout."""
    west, east, topo = pair
    nft(topo.east.ns, "table inet fwtest {\n chain in {\n type filter hook input priority 0;"
                       "\n udp dport { 500, 4500 } counter drop\n }\n}\n")
    try:
        out = west.up("fw", check=False)
    finally:
        counters = topo.east.ns.exec(["nft", "list", "table", "inet", "fwtest"], check=False)
        topo.east.ns.exec(["nft", "delete", "table", "inet", "fwtest"], check=False)
    for wait_s in ("0.5", "1", "2"):
        assert re.search(rf'010 "fw" #\d+: STATE_V2_PARENT_I1: retransmission; will wait '
                         rf"{re.escape(wait_s)} seconds for response", out), out
    assert re.search(r'"fw" #\d+: STATE_V2_PARENT_I1: 3 second timeout exceeded after \d+ '
                     r"retransmits\.  No response \(or no acceptable response\) to our first "
                     r"IKEv2 message", out), out
    m = re.search(r"packets (\d+)", counters.stdout)
    assert m and int(m.group(1)) >= 3, counters.stdout  # east's firewall saw them all


def test_unreachable_peer_icmp_error(pair) -> None:
    """east rejects UDP 500 with ICMP port unreachable: pluto's asynchronous error line."""
    west, east, topo = pair
    out = up_against_icmp_reject(west, topo.east.ns)
    assert re.search(ICMP_ERROR_LINE, out), out


def test_xfrmstat_verb_counts_bad_esp(pair) -> None:
    """`cygnet xfrmstat` prints /proc/net/xfrm_stat's names; ESP with an unknown SPI to
    east's port 4500 shows up as XfrmInNoStates."""
    west, east, topo = pair
    before = east.status_json("xfrmstat")["xfrm_stat"]
    bogus = b"\xde\xad\xbe\xef" + bytes(4) + bytes(40)
    code = ("import socket,sys; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); "
            f"[s.sendto({bogus!r},('192.1.2.23',4500)) for _ in range(3)]")
    topo.west.ns.exec([sys.executable, "-c", code])
    after = wait(lambda: (lambda a: a if a["XfrmInNoStates"] > before["XfrmInNoStates"]
                          else None)(east.status_json("xfrmstat")["xfrm_stat"]), 5,
                 "XfrmInNoStates")
    text = east.ipsec("xfrmstat", *east.paths())
    names = [line.split()[0] for line in text.splitlines() if line.strip()]
    assert names[:3] == ["XfrmInError", "XfrmInBufferError", "XfrmInHdrError"], text
    assert re.search(rf"^XfrmInNoStates\s+{after['XfrmInNoStates']}$", text, re.M), text


def test_ok_case_still_comes_up(pair) -> None:
    """The same pair with a matching connection: the failures above left nothing behind."""
    west, east, topo = pair
    out = west.up("ok")
    assert "initiator established Child SA" in out
    topo.west.ns.wait_ping("192.1.2.23")


def test_mtu_too_big_packets_fail_loudly(pair) -> None:
    """The spec's MTU case: through the tunnel, a DF packet bigger than the path into it
    (the userspace plane's TUN device) is refused at once with the MTU to use - no black
    hole - while a packet that fits goes through."""
    west, east, topo = pair
    if not west.status_json("trafficstatus")["trafficstatus"]:
        west.up("ok")
    topo.west.ns.wait_ping("192.1.2.23")
    big = topo.west.ns.exec(["ping", "-n", "-c", "1", "-W", "2", "-M", "do", "-s", "1472",
                             "192.1.2.23"], check=False)
    text = big.stdout + big.stderr
    m = re.search(r"mtu[= ](\d+)", text)
    assert big.returncode != 0 and m, text
    fits = int(m.group(1)) - 28
    ok = topo.west.ns.exec(["ping", "-n", "-c", "2", "-W", "2", "-M", "do", "-s", str(fits),
                            "192.1.2.23"], check=False)
    assert ok.returncode == 0, ok.stdout


def test_routed_conn_has_its_mtu_before_any_sa(pair) -> None:
    """`ipsec auto --route` of a conn with mtu=: Libreswan's updown adds the route (with
    mtu) when the conn is routed, so it applies to the very first packet."""
    west, _, topo = pair

    def route() -> str:
        return topo.west.ns.exec(["ip", "route", "get", "192.0.3.1", "from", "192.0.1.254"],
                                 check=False).stdout

    assert "mtu 1280" not in route()
    west.ipsec("auto", "--route", "mtur", *west.paths())
    # the data plane's netlink work runs on its own thread: give it a moment
    wait(lambda: re.search(r"\bmtu 1280\b", route()), 5, "the routed conn's mtu route")
    west.ipsec("auto", "--unroute", "mtur", *west.paths())
    wait(lambda: "mtu 1280" not in route(), 5, "the route gone with the trap")


def test_conn_mtu_goes_on_the_tunnel_route(pair) -> None:
    """`mtu=1300` on west's conn: the route into the tunnel for eastnet carries mtu 1300,
    so a DF ping of 1428 bytes is refused locally with that MTU and one of 1228 passes
    (the TUN device alone would allow 1400)."""
    west, east, topo = pair
    out = west.up("mtu")
    assert "initiator established Child SA" in out, out
    topo.west.ns.wait_ping("192.0.2.254", src="192.0.1.254")
    route = topo.west.ns.exec(["ip", "route", "get", "192.0.2.254", "from", "192.0.1.254"])
    assert re.search(r"\bmtu 1300\b", route.stdout), route.stdout
    big = topo.west.ns.exec(["ping", "-n", "-c", "1", "-W", "2", "-M", "do", "-s", "1400",
                             "-I", "192.0.1.254", "192.0.2.254"], check=False)
    text = big.stdout + big.stderr
    print(f"{route.stdout}{text}")
    assert big.returncode != 0 and re.search(r"message too long|mtu[= ]1300", text), text
    assert "mtu=1300" in text or "mtu 1300" in text, text
    ok = topo.west.ns.exec(["ping", "-n", "-c", "2", "-W", "2", "-M", "do", "-s", "1200",
                            "-I", "192.0.1.254", "192.0.2.254"], check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # east has no mtu=: its route back is the TUN device's 1400
    back = topo.east.ns.exec(["ip", "route", "get", "192.0.1.254", "from", "192.0.2.254"])
    assert "mtu 1300" not in back.stdout, back.stdout
