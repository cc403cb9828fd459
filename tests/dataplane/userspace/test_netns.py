"""Two userspace ESP planes in network namespaces (west/east), static keys, real traffic.

Each test builds its own namespaces (`cyg-usp-<pid>-...`) and deletes them
afterwards, also on failure. Nothing is linked to the host's network.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from cygnet.dataplane.userspace.nslab import (
    EAST,
    EASTNET,
    EASTNET_HOST,
    WEST,
    WESTNET,
    WESTNET_HOST,
    NsPair,
    netns_available,
    sh,
    static_sa_pair,
)
from cygnet.lab.netns import wait_for

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(not netns_available(), reason="needs root, ip netns and /dev/net/tun"),
]

H2H = dict(west_ts=[f"{WEST}/32"], east_ts=[f"{EAST}/32"])
S2S = dict(west_ts=[WESTNET], east_ts=[EASTNET])


@pytest.fixture
def lab(request: pytest.FixtureRequest) -> Iterator[NsPair]:
    p = NsPair(request.node.name[-6:].replace("[", "").replace("]", ""))
    try:
        yield p
    finally:
        p.close()


def ping(ns: str, dst: str, src: str | None = None, count: int = 3) -> bool:
    return received(ns, dst, src, count) > 0


def received(ns: str, dst: str, src: str | None = None, count: int = 3) -> int:
    """How many of `count` echo requests were answered."""
    args = ["ping", "-c", str(count), "-i", "0.2", "-W", "1"]
    if src:
        args += ["-I", src]
    out = sh(*args, dst, ns=ns, check=False).stdout
    m = re.search(r"(\d+) received", out)
    return int(m.group(1)) if m else 0


class Capture:
    """tcpdump on west's veth while a block of traffic runs."""

    def __init__(self, ns: str) -> None:
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, "tcpdump", "-i", "veth-w", "-n", "-l", "-p", "ip"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        assert self.proc.stderr is not None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # wait for "listening on veth-w"
            if "listening" in self.proc.stderr.readline():
                break

    def lines(self) -> list[str]:
        time.sleep(0.3)
        self.proc.send_signal(signal.SIGINT)
        out, _ = self.proc.communicate(timeout=10)
        return [x for x in out.splitlines() if x.strip()]


def two_sas(lab: NsPair, **kw: object):
    w1, e1 = static_sa_pair(1, **S2S, **kw)  # type: ignore[arg-type]
    w2, e2 = static_sa_pair(2, **H2H, **kw)  # type: ignore[arg-type]
    return lab.start({"tun": "ipsec0", "sas": [w1, w2]}, {"tun": "ipsec0", "sas": [e1, e2]})


@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="tcpdump missing")
def test_ping_both_ways_raw_esp_only_esp_on_the_wire(lab: NsPair) -> None:
    aw, ae = two_sas(lab)
    cap = Capture(lab.west)
    assert ping(lab.west, EASTNET_HOST, WESTNET_HOST)  # subnet-to-subnet
    assert ping(lab.east, WESTNET_HOST, EASTNET_HOST)
    assert ping(lab.west, EAST)  # host-to-host: the peer's own address through the tunnel
    assert ping(lab.east, WEST)
    lines = cap.lines()
    assert lines and all("ESP(spi=" in x for x in lines), lines[:5]
    for serial in (1, 2):
        c = aw.cmd(f"counters {serial}")
        assert c["out_packets"] >= 6 and c["in_packets"] >= 6 and c["in_bytes"] >= 6 * 84
        assert c["last_in"] is not None
    stat = ae.cmd("stat")
    assert stat["XfrmInStateProtoError"] == 0 and stat["XfrmInNoStates"] == 0


@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="tcpdump missing")
def test_udp_encap_shares_port_4500_with_ike(lab: NsPair) -> None:
    aw, ae = two_sas(lab, udp_encap=True, esn=True)
    cap = Capture(lab.west)
    assert ping(lab.west, EASTNET_HOST, WESTNET_HOST)
    assert ping(lab.east, WEST)
    # IKE from the daemon's side of the plane: the non-ESP marker is added and removed
    assert aw.cmd(f"send_ike 0102aabb {WEST} {EAST}") == {"ok": True}
    # a NAT-keepalive and a stray IKE datagram from an ordinary socket in east
    sh("python3", "-c",
       "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM);"
       f"s.sendto(b'\\xff', ('{WEST}', 4500)); s.sendto(b'\\0\\0\\0\\0hello', ('{WEST}', 4500))",
       ns=lab.east)
    ae.cmd("sleep 0.3")
    aw.cmd("sleep 0.3")
    lines = cap.lines()
    assert lines and all("4500" in x and ("UDP" in x or "ESP" in x or "isakmp" in x.lower()
                                          or "NONESP" in x) for x in lines), lines[:5]
    assert not any("ICMP" in x for x in lines)
    assert [e["ike"] for e in ae.events if "ike" in e] == ["0102aabb"]
    assert ae.events[0]["remote"] == f"{WEST}:4500" and ae.events[0]["local"] == f"{EAST}:4500"
    assert [e["ike"] for e in aw.events if "ike" in e] == [b"hello".hex()]
    assert aw.cmd("stat")["CygInKeepalive"] == 1


@pytest.mark.parametrize("offload,udp_encap", [(True, True), (False, False)],
                         ids=["gso-gro-vnet-udp", "plain-raw"])
def test_iperf3_tcp_through_the_tunnel(lab: NsPair, offload: bool, udp_encap: bool) -> None:
    if shutil.which("iperf3") is None:
        pytest.skip("iperf3 missing")
    w, e = static_sa_pair(1, udp_encap=udp_encap, **S2S)
    lab.start({"tun": "ipsec0", "sas": [w], "offload": offload},
              {"tun": "ipsec0", "sas": [e], "offload": offload})
    srv = subprocess.Popen(["ip", "netns", "exec", lab.east, "iperf3", "-s", "-1", "-B",
                            EASTNET_HOST], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        r = sh("iperf3", "-c", EASTNET_HOST, "-B", WESTNET_HOST, "-t", "2", "-J", ns=lab.west,
               check=False, timeout=20)
        assert r.returncode == 0, r.stdout[-500:]
        import json

        res = json.loads(r.stdout)
        assert res["end"]["sum_received"]["bytes"] > 1_000_000
    finally:
        srv.kill()
        srv.wait()


def test_transport_mode_host_to_host(lab: NsPair) -> None:
    w, e = static_sa_pair(3, mode="transport", encr_id=12, bits=128, integ_id=12, integ_key=32,
                          **H2H)
    aw, _ = lab.start({"tun": "ipsec0", "sas": [w]}, {"tun": "ipsec0", "sas": [e]})
    replies = received(lab.west, EAST)  # each came in on the SA
    requests = received(lab.east, WEST)  # each answered one came in on the SA
    assert replies and requests
    # the workers publish counters after each batch: allow them that moment
    wait_for(lambda: aw.cmd("counters 3")["in_packets"] >= replies + requests, timeout=5,
             what="west's inbound counter")


def test_remove_stops_traffic_and_stop_cleans_up(lab: NsPair) -> None:
    aw, ae = two_sas(lab)
    assert ping(lab.west, EASTNET_HOST, WESTNET_HOST, count=1)
    aw.cmd("remove 1")
    aw.cmd("sleep 0.2")
    assert not ping(lab.west, EASTNET_HOST, WESTNET_HOST, count=2)
    assert aw.cmd("counters 1")["out_packets"] == 0  # unknown serial → zeros
    assert ping(lab.west, EAST, count=1)  # the other SA still works
    aw.stop()
    ae.stop()
    for ns in (lab.west, lab.east):
        assert "ipsec0" not in sh("ip", "link", ns=ns).stdout
        assert "4500" not in sh("ip", "rule", ns=ns).stdout
        assert "4500" not in sh("ip", "-6", "rule", ns=ns, check=False).stdout
        assert sh("ip", "route", "show", "table", "4500", ns=ns, check=False).stdout.strip() == ""
    # without the planes the veth carries plain traffic again (no leftovers in the way)
    assert ping(lab.west, EAST, count=1)


def test_on_demand_trap_raises_acquire_once(lab: NsPair) -> None:
    aw, _ = lab.start({"tun": "ipsec0", "routes": [{"id": 7, "local": WESTNET, "remote": EASTNET}]},
                      {"tun": "ipsec0"})
    aw.cmd("route 7")
    aw.cmd("sleep 0.2")
    assert not ping(lab.west, EASTNET_HOST, WESTNET_HOST, count=3)  # negotiationshunt=drop
    aw.cmd("sleep 0.2")
    acq = [e for e in aw.events if "acquire" in e]
    assert acq == [{"acquire": 7, "src": WESTNET_HOST, "dst": EASTNET_HOST}]
    assert aw.cmd("stat")["XfrmOutNoStates"] >= 3


def test_wrong_keys_are_counted_not_delivered(lab: NsPair) -> None:
    w, e = static_sa_pair(1, **S2S)
    e = dict(e, key_in_encr="00" * 20)
    aw, ae = lab.start({"tun": "ipsec0", "sas": [w]}, {"tun": "ipsec0", "sas": [e]})
    assert not ping(lab.west, EASTNET_HOST, WESTNET_HOST, count=2)
    ae.cmd("sleep 0.2")
    assert ae.cmd("stat")["XfrmInStateProtoError"] >= 2
    assert ae.cmd("counters 1")["in_packets"] == 0


def test_packet_lifetimes_raise_soft_then_hard_expire(lab: NsPair) -> None:
    w, e = static_sa_pair(1, **S2S)
    w = dict(w, lifetime={"soft_packets": 3, "hard_packets": 6})
    aw, _ = lab.start({"tun": "ipsec0", "sas": [w]}, {"tun": "ipsec0", "sas": [e]})
    ping(lab.west, EASTNET_HOST, WESTNET_HOST, count=4)
    aw.cmd("sleep 1.2")  # the daemon side polls the shared counters every 0.5 s
    assert [x for x in aw.events if "expire" in x] == [{"expire": 1, "hard": False}]
    r = sh("ping", "-c", "4", "-i", "0.2", "-W", "1", "-I", WESTNET_HOST, EASTNET_HOST,
           ns=lab.west, check=False)
    assert "2 received" in r.stdout  # packets 5 and 6; then the hard limit stops the SA
    aw.cmd("sleep 1.2")
    assert [x for x in aw.events if "expire" in x][-1] == {"expire": 1, "hard": True}
    c = aw.cmd("counters 1")
    assert c["out_packets"] == 6 and c["in_packets"] <= 6
