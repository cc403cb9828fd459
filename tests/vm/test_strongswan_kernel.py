"""Cygnet <-> strongSwan 5.9.8 with kernel ESP on both sides (inside the VM).

charon runs with kernel-netlink (`Charon(..., kernel="netlink")`) on east,
Cygnet (`protostack=xfrm`) on west: a host-to-host PSK tunnel, brought up
from either side, with ping and iperf3 through the kernel's ESP.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cygnet.lab.netns import Lab, wait_for
from cygnet.lab.strongswan import Charon, SwanConn, strongswan_available
from cygnet.lab.topology import build_topology
from tests.daemon.keepup import PSK
from tests.vm.kit import (
    SECRET,
    capture,
    conn,
    iperf,
    kernel_sa_bytes,
    node_pair,
    only_esp,
    traffic,
    xfrm,
)

pytestmark = pytest.mark.skipif(not strongswan_available(), reason="strongSwan not installed")


@pytest.fixture(scope="module")
def peers(tmp_path_factory) -> Iterator[tuple]:
    tmp = tmp_path_factory.mktemp("swan-kernel")
    with Lab(tmp / "lab") as lab:
        topo = build_topology(lab, ["west", "east"])
        west, _ = node_pair(topo, tmp)
        charon = Charon(topo.east.ns, lab.workdir, "east", kernel="netlink")
        try:
            charon.configure([SwanConn("sw", local_addrs="192.1.2.23", remote_addrs="192.1.2.45",
                                       local_id="@east", remote_id="@west", psk=PSK,
                                       esp_proposals="aes128gcm16-modp2048,aes128gcm16")])
            charon.start(timeout=60)
            west.write_conn_file("sw.conf", conn("sw", "    esp=aes_gcm128\n"))
            west.write_secrets(SECRET)
            west.initnss()
            west.start()
            west.add("sw")
            yield west, charon, topo
        finally:
            west.stop()
            charon.stop()
            print(f"===== cygnet west =====\n{west.log()[-4000:]}")
            print(f"===== charon east =====\n{charon.log()[-4000:]}")


@pytest.mark.parametrize("initiator", ["cygnet", "strongswan"])
def test_psk_host_to_host(peers, initiator: str) -> None:
    west, charon, topo = peers
    if initiator == "cygnet":
        out = west.up("sw")
        assert "initiator established Child SA" in out, out
    else:
        charon.initiate(child="sw", timeout=60)
        wait_for(lambda: "sw" in traffic(west), timeout=20, what="Cygnet's Child SA")
    charon.wait_established(timeout=20)
    assert "rfc4106(gcm(aes))" in xfrm(topo.east.ns, "state")  # charon's SAs in the kernel
    with capture(topo.switches["swan12"], "west") as lines:
        assert topo.west.ns.ping("192.1.2.23", count=2)
        iperf(topo.west.ns, topo.east.ns, "192.1.2.23", seconds=1)
        iperf(topo.west.ns, topo.east.ns, "192.1.2.23", seconds=1, reverse=True)
    assert lines and not only_esp(lines), only_esp(lines)[:5]
    for ns in (topo.west.ns, topo.east.ns):
        assert all(b > 10_000 for b in kernel_sa_bytes(ns)), xfrm(ns, "state-stats")
    inb, outb = traffic(west)["sw"]
    assert inb > 10_000 and outb > 10_000
    west.ipsec("auto", "--down", "sw", *west.paths(), check=False)
    wait_for(lambda: "spi" not in xfrm(topo.east.ns, "state"), timeout=30,
             what="charon's SAs gone")
