"""Cygnet ↔ Cygnet in namespaces: the spec's §4.3 and §4.4 procedures, with traffic.

Two plutos (west 192.1.2.45, east 192.1.2.23 — the spec's file puts @west at
.23; we keep its text and only swap in our addresses), each with its own
config, secrets and NSS database, the userspace data plane, and real packets.
"""

from __future__ import annotations

import re
import subprocess
import time

import pytest

from cygnet.lab.netns import is_root, netns_available
from cygnet.lab.node import CygnetNode

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(not (is_root() and netns_available()), reason="needs root and netns"),
]

SECRET = "@west @east : PSK \"a-test-secret-that-is-long-enough-for-fips\"\n"


def psk_conn(extra: str = "") -> str:
    return (
        "conn westnet-eastnet\n"
        "    authby=secret\n"
        "    left=192.1.2.45\n    leftid=@west\n"
        "    right=192.1.2.23\n    rightid=@east\n" + extra
    )


def both(west: CygnetNode, east: CygnetNode, conn_text: str, secrets: str = SECRET) -> None:
    for n in (west, east):
        n.write_conn_file("test.conf", conn_text)
        n.write_secrets(secrets)
        n.initnss()
        n.start()


def tcpdump(ns, iface: str, seconds: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["ip", "netns", "exec", ns.name, "timeout", str(seconds), "tcpdump", "-n", "-l", "-i",
         iface, "-c", "200", "not arp and not icmp6"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )


def test_psk_host_to_host_carries_traffic(we) -> None:
    west, east, topo = we
    both(west, east, psk_conn())
    east.add("westnet-eastnet")
    west.add("westnet-eastnet")
    out = west.up("westnet-eastnet")
    assert re.search(r'"westnet-eastnet" #1: initiator established IKE SA; authenticated peer '
                     r"using authby=secret and ID_FQDN '@east'", out), out
    assert re.search(r'#2: initiator established Child SA using #1; IPsec tunnel '
                     r"\[192\.1\.2\.45/32===192\.1\.2\.23/32\]", out), out
    dump = tcpdump(topo.west.ns, "eth1", 6)
    time.sleep(0.5)
    assert topo.west.ns.ping("192.1.2.23", count=3)
    lines = [x for x in dump.communicate()[0].splitlines() if x.strip()]
    clear = [x for x in lines if not ("ESP" in x or "isakmp" in x.lower() or ".4500" in x)]
    assert lines and not clear, clear
    traffic = west.trafficstatus()
    m = re.search(r'006 #2: "westnet-eastnet", type=ESP, add_time=\d+, inBytes=(\d+), '
                  r"outBytes=(\d+), maxBytes=2\^63B, id='@east'", traffic)
    assert m and int(m.group(1)) > 0 and int(m.group(2)) > 0, traffic


def test_spec_4_3_raw_rsa_keys_and_4_4_site_to_site(we) -> None:
    """newhostkey on each host, keys pasted from showhostkey into one shared file."""
    west, east, topo = we
    for n in (west, east):
        n.initnss()
    left = west.showhostkey("left", west.newhostkey("--bits", "2192"))
    right = east.showhostkey("right", east.newhostkey("--bits", "2192"))
    text = (
        "conn mytunnel\n"
        "    leftid=@west\n    left=192.1.2.45\n"
        f"    leftrsasigkey={left}\n"
        "    rightid=@east\n    right=192.1.2.23\n"
        f"    rightrsasigkey={right}\n"
        "    authby=rsasig\n"
        "\n"
        "conn mysubnet\n     also=mytunnel\n     leftsubnet=192.0.1.0/24\n"
        "     rightsubnet=192.0.2.0/24\n     auto=start\n"
        "\n"
        "conn mysubnet6\n     also=mytunnel\n     leftsubnet=2001:db8:0:1::/64\n"
        "     rightsubnet=2001:db8:0:2::/64\n     auto=start\n"
    )
    for n in (west, east):
        n.write_conn_file("my_host-to-host.conf", text)
        n.start()
    # mysubnet is auto=start: pluto brings it up by itself
    wait = time.monotonic() + 30
    while time.monotonic() < wait and not all(
            f'"{c}",' in west.trafficstatus() for c in ("mysubnet", "mysubnet6")):
        time.sleep(0.3)
    assert '"mysubnet",' in west.trafficstatus(), west.log()
    assert '"mysubnet6",' in west.trafficstatus(), west.log()
    assert "authenticated peer '2192-bit RSASSA-PSS with SHA2_512' signature" in west.log()
    assert topo.west.ns.ping(topo.east.inside, src=topo.west.inside, count=2)
    # §4.4's mysubnet6: IPv6 subnets through the same hosts
    assert topo.west.ns.ping("2001:db8:0:2::254", src="2001:db8:0:1::254", count=2)


def test_wrong_psk_fails_like_libreswan(we) -> None:
    west, east, _ = we
    both(west, east, psk_conn())
    east.write_secrets("@west @east : PSK \"a-different-secret-of-the-same-kind\"\n")
    east.ipsec("rereadsecrets", *east.paths())
    east.add("westnet-eastnet")
    west.add("westnet-eastnet")
    out = west.up("westnet-eastnet", check=False)
    assert "IKE SA authentication request rejected by peer: AUTHENTICATION_FAILED" in out, out


def test_iperf3_through_the_tunnel(we) -> None:
    west, east, topo = we
    both(west, east, psk_conn("    ike=aes_gcm128-sha2_256;dh19\n    esp=aes_gcm128\n"))
    east.add("westnet-eastnet")
    west.add("westnet-eastnet")
    west.up("westnet-eastnet")
    topo.west.ns.wait_ping("192.1.2.23", timeout=10)
    server = topo.east.ns.spawn(["iperf3", "-s", "-1", "-B", "192.1.2.23"], "iperf3.log")
    time.sleep(0.5)
    r = topo.west.ns.exec(["iperf3", "-c", "192.1.2.23", "-t", "2", "-J"], timeout=30)
    server.stop()
    import json

    received = json.loads(r.stdout)["end"]["sum_received"]["bytes"]
    assert received > 1_000_000
    m = re.search(r"inBytes=(\d+), outBytes=(\d+)", west.trafficstatus())
    assert m and int(m.group(2)) > received  # ESP overhead on top of the TCP payload


def test_null_authentication(we) -> None:
    """RFC 7619 (authby=null): encryption without authentication, IDs are ID_NULL."""
    west, east, topo = we
    both(west, east, (
        "conn clear-null\n    authby=null\n    leftid=%null\n    rightid=%null\n"
        "    left=192.1.2.45\n    right=192.1.2.23\n"), secrets="")
    east.add("clear-null")
    west.add("clear-null")
    out = west.up("clear-null")
    assert "authenticated peer using authby=null and ID_NULL 'ID_NULL'" in out, out
    assert topo.west.ns.ping("192.1.2.23", count=2)
