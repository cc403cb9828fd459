"""Cygnet <-> Cygnet with the XFRM back end and the kernel's ESP (inside the VM).

One pair of plutos (west, east; `protostack=xfrm`) serves the whole module;
each test adds its conn on both, brings it up from west, checks traffic,
the kernel's SAs/policies and counters, then deletes it again.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from cygnet.lab.netns import wait_for
from tests.vm.kit import (
    capture,
    conn,
    iperf,
    kernel_pair,
    kernel_sa_bytes,
    only_esp,
    traffic,
    xfrm,
)

V6 = (
    "    left=2001:db8:1:2::45\n    right=2001:db8:1:2::23\n"
)

CONNS = {
    "h2h": conn("h2h", "    esp=aes_gcm128\n"),
    "s2s4": conn("s2s4", "    esp=aes128-sha2_256\n"
                 "    leftsubnet=192.0.1.0/24\n    rightsubnet=192.0.2.0/24\n"),
    "s2s6": conn("s2s6", "    esp=aes_gcm256\n"
                 "    leftsubnet=2001:db8:0:1::/64\n    rightsubnet=2001:db8:0:2::/64\n"
                 ).replace("    left=192.1.2.45\n", "    left=2001:db8:1:2::45\n")
                  .replace("    right=192.1.2.23\n", "    right=2001:db8:1:2::23\n"),
    "tra": conn("tra", "    type=transport\n    esp=aes256-sha2_512\n"),
    "od": conn("od", "    esp=aes_gcm128\n    auto=ondemand\n"),
    "rk": conn("rk", "    esp=aes128-sha2_256\n    ipsec-max-bytes=40000\n    rekeyfuzz=0%\n"),
    "nt": conn("nt", "    esp=aes_gcm128\n    encapsulation=yes\n"),
    "off": conn("off", "    esp=aes_gcm128\n    nic-offload=yes\n"),
    "mtu": conn("mtu", "    esp=aes_gcm128\n    mtu=1300\n"
                "    leftsubnet=192.0.1.0/24\n    rightsubnet=192.0.2.0/24\n"),
}


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> Iterator[tuple]:
    tmp = tmp_path_factory.mktemp("cygnet-kernel")
    with kernel_pair(tmp, "\n".join(CONNS.values()).replace("    auto=ondemand\n", "")) as p:
        yield p


@pytest.fixture
def up(pair):
    """up("name") adds the conn on both sides and brings it up from west; deleted after."""
    west, east, topo = pair
    names: list[str] = []

    def bring_up(name: str, initiate: bool = True) -> str:
        names.append(name)
        east.add(name)
        west.add(name)
        return west.up(name) if initiate else ""

    yield bring_up
    for name in names:
        for n in (west, east):
            n.ipsec("auto", "--delete", name, *n.paths(), check=False)
    wait_for(lambda: "spi" not in xfrm(topo.west.ns, "state"), timeout=30,
             what="west's SAs gone")


def link(topo):
    return topo.switches["swan12"], "west"  # west's cable, seen from the switch


def test_host_to_host_gcm_ping_iperf_counters(pair, up) -> None:
    west, east, topo = pair
    out = up("h2h")
    assert re.search(r"#\d+: initiator established Child SA using #\d+; IPsec tunnel "
                     r"\[192\.1\.2\.45/32===192\.1\.2\.23/32\] .*xfrm=AES_GCM_16_128", out), out
    state = xfrm(topo.west.ns, "state")
    assert state.count("proto esp") == 2 and "rfc4106(gcm(aes))" in state, state
    assert xfrm(topo.west.ns, "policy").count("tmpl src 192.1.2.") == 3  # out, in, fwd
    sw, port = link(topo)
    with capture(sw, port) as lines:
        assert topo.west.ns.ping("192.1.2.23", count=3)
        iperf(topo.west.ns, topo.east.ns, "192.1.2.23", seconds=2)
        iperf(topo.west.ns, topo.east.ns, "192.1.2.23", seconds=2, reverse=True)
    assert lines and not only_esp(lines), only_esp(lines)[:5]
    assert any("ESP(spi=" in x for x in lines)
    sa_bytes = kernel_sa_bytes(topo.west.ns)
    assert len(sa_bytes) == 2 and all(b > 100_000 for b in sa_bytes), sa_bytes
    inb, outb = traffic(west)["h2h"]
    assert inb > 100_000 and outb > 100_000, west.trafficstatus()
    assert traffic(east)["h2h"][0] > 0


def test_site_to_site_ipv4_cbc_hmac_and_ipv6_gcm(pair, up) -> None:
    west, east, topo = pair
    out4 = up("s2s4")
    assert "192.0.1.0/24===192.0.2.0/24" in out4 and "AES_CBC_128-HMAC_SHA2_256_128" in out4, out4
    out6 = up("s2s6")
    assert "2001:db8:0:1::/64===2001:db8:0:2::/64" in out6, out6
    state = xfrm(topo.west.ns, "state")
    assert "cbc(aes)" in state and "hmac(sha256)" in state and "rfc4106(gcm(aes))" in state
    assert "mode tunnel" in state and "src 2001:db8:1:2::45 dst 2001:db8:1:2::23" in state, state
    sw, port = link(topo)
    with capture(sw, port) as lines:
        assert topo.west.ns.ping("192.0.2.254", src="192.0.1.254", count=2)
        assert topo.west.ns.ping("2001:db8:0:2::254", src="2001:db8:0:1::254", count=2)
    assert lines and not only_esp(lines), only_esp(lines)[:5]
    t = traffic(west)
    assert t["s2s4"][0] > 0 and t["s2s6"][0] > 0, west.trafficstatus()
    policies = xfrm(topo.west.ns, "policy")
    assert "dir fwd" in policies and "src 192.0.2.0/24 dst 192.0.1.0/24" in policies


def test_transport_mode(pair, up) -> None:
    west, east, topo = pair
    out = up("tra")
    assert "IPsec transport mode" in out or "transport" in out, out
    state = xfrm(topo.west.ns, "state")
    assert state.count("mode transport") == 2 and "hmac(sha512)" in state, state
    dirs = re.findall(r"src 192\.1\.2\.\d+/32 dst 192\.1\.2\.\d+/32 \n\tdir (\w+)",
                      xfrm(topo.west.ns, "policy"))
    assert sorted(dirs) == ["in", "out"], dirs  # transport mode: no fwd policy
    sw, port = link(topo)
    with capture(sw, port) as lines:
        assert topo.west.ns.ping("192.1.2.23", count=2)
    assert lines and not only_esp(lines), only_esp(lines)[:5]
    assert all(b > 0 for b in kernel_sa_bytes(topo.west.ns))


def test_route_ondemand_acquire(pair, up) -> None:
    west, east, topo = pair
    up("od", initiate=False)
    west.ipsec("auto", "--route", "od", *west.paths())
    pol = xfrm(topo.west.ns, "policy")
    assert "src 192.1.2.45/32 dst 192.1.2.23/32" in pol and "reqid 0 mode transport" in pol, pol
    assert "spi" not in xfrm(topo.west.ns, "state")
    # the first packet hits the trap: the kernel sends ACQUIRE, pluto initiates
    topo.west.ns.ping("192.1.2.23", count=1, timeout=1)
    topo.west.ns.wait_ping("192.1.2.23", timeout=60)
    assert "initiating on demand (acquire)" in west.log()
    assert traffic(west)["od"][1] > 0, west.trafficstatus()


def test_rekey_on_kernel_soft_byte_expire(pair, up) -> None:
    west, east, topo = pair
    out = up("rk")
    first = int(re.search(r"#(\d+): initiator established Child SA", out).group(1))
    lt = xfrm(topo.west.ns, "state-stats")
    assert re.search(r"soft (\d+)\(bytes\), hard 40000\(bytes\)", lt), lt

    def rekeyed() -> bool:
        # 3 x 1428 bytes each way; the soft limit (< 20000 bytes) comes after a few rounds
        topo.west.ns.exec(["ping", "-q", "-c", "3", "-i", "0.2", "-s", "1400", "192.1.2.23"],
                          check=False)
        serials = {int(s) for s in re.findall(r'#(\d+): "rk"', west.trafficstatus())}
        return bool(serials) and max(serials) > first

    wait_for(rekeyed, timeout=120, interval=0.0, what="a rekeyed Child SA")
    topo.west.ns.exec(["ping", "-c", "1", "-s", "1000", "192.1.2.23"], check=False)
    assert topo.west.ns.ping("192.1.2.23", count=2)
    log = west.log()
    assert re.search(r"rekey|CREATE_CHILD_SA", log, re.I), log[-3000:]


def test_nat_t_kernel_udp_encapsulation(pair, up) -> None:
    west, east, topo = pair
    out = up("nt")
    assert "established Child SA" in out, out
    state = xfrm(topo.west.ns, "state")
    assert state.count("encap type espinudp sport 4500 dport 4500") == 2, state
    sw, port = link(topo)
    with capture(sw, port) as lines:
        assert topo.west.ns.ping("192.1.2.23", count=3)
    esp_in_udp = [x for x in lines if "UDP-encap" in x and "ESP(spi=" in x]
    assert esp_in_udp and not only_esp(lines), lines[:10]
    assert all(b > 0 for b in kernel_sa_bytes(topo.west.ns))
    assert traffic(west)["nt"][0] > 0


def test_mtu_route_like_libreswans_updown(pair, up) -> None:
    """mtu=1300: the route Libreswan's _updown.xfrm adds (`ip route replace 192.0.2.0/24
    mtu 1300 dev eth1`), capping the XFRM bundle's MTU; it goes with the conn."""
    west, east, topo = pair
    out = up("mtu")
    assert "192.0.1.0/24===192.0.2.0/24" in out, out
    # the route is added off the daemon's loop (pyroute2 in a thread): wait for it
    wait_for(lambda: "mtu 1300" in topo.west.ns.ip("route", "show", "192.0.2.0/24").stdout,
             timeout=30, what="the mtu= route")
    route = topo.west.ns.ip("route", "get", "192.0.2.254", "from", "192.0.1.254").stdout
    assert re.search(r"\bmtu 1300\b", route), route
    shown = topo.west.ns.ip("route", "show", "192.0.2.0/24").stdout
    assert "dev eth1" in shown and "mtu 1300" in shown, shown
    big = topo.west.ns.exec(["ping", "-n", "-c", "1", "-W", "2", "-M", "do", "-s", "1400",
                             "-I", "192.0.1.254", "192.0.2.254"], check=False)
    text = big.stdout + big.stderr
    assert big.returncode != 0 and re.search(r"mtu[= ]1[23]\d\d", text), text
    assert topo.west.ns.exec(["ping", "-n", "-c", "2", "-W", "2", "-M", "do", "-s", "1200",
                              "-I", "192.0.1.254", "192.0.2.254"], check=False).returncode == 0
    west.ipsec("auto", "--delete", "mtu", *west.paths())
    wait_for(lambda: "192.0.2.0/24" not in topo.west.ns.ip("route", "show").stdout,
             timeout=10, what="mtu route removed with the conn")


del time


def test_nic_offload_yes_on_a_device_without_it(pair, up) -> None:
    """RHEL §4.11's nic-offload=yes on a veth: like Libreswan 4.10 on Debian's 6.1 kernel,
    the SAs are installed (the kernel carries them in software, no offload attribute
    appears) and the tunnel works."""
    west, east, topo = pair
    out = up("off")
    assert "initiator established Child SA" in out, out
    state = xfrm(topo.west.ns, "state")
    assert state.count("proto esp") == 2 and "crypto offload" not in state, state
    assert topo.west.ns.ping("192.1.2.23", count=2)
