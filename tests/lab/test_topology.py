"""The lab topology: addressing, routing, NAT, isolation from the host, cleanup."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from cygnet.lab.netns import Lab, LabError, cleanup_stale, host_link_names, list_netns, run
from cygnet.lab.topology import build_topology

pytestmark = pytest.mark.netns


def test_west_pings_east_both_families(lab_topology) -> None:
    topo = lab_topology("west", "east")
    topo.west.ns.wait_ping(topo.east.addr)
    topo.east.ns.wait_ping(topo.west.addr)
    assert topo.west.addr == "192.1.2.45" and topo.east.addr == "192.1.2.23"
    assert topo.east.addr6 == "2001:db8:1:2::23"
    topo.west.ns.wait_ping("2001:db8:1:2::23")
    topo.east.ns.wait_ping("2001:db8:1:2::45")
    # The inside subnets exist, for leftsubnet=/local_ts.
    assert topo.west.subnets() == ["192.0.1.0/24"] and topo.east.subnets() == ["192.0.2.0/24"]
    assert topo.west.subnets(6) == ["2001:db8:0:1::/64"]
    assert topo.east.subnets(6) == ["2001:db8:0:2::/64"]


def test_road_reaches_east_through_nic_nat(lab_topology) -> None:
    topo = lab_topology("road", "east")
    assert "nic" in topo.hosts  # road pulls in its gateway
    topo.road.ns.wait_ping(topo.east.addr)
    entries = topo.nic.ns.exec(["conntrack", "-L", "-p", "icmp"]).stdout
    nat = [
        line
        for line in entries.splitlines()
        if "src=192.1.3.209 dst=192.1.2.23" in line and "src=192.1.2.23 dst=192.1.2.254" in line
    ]
    assert nat, f"no masqueraded flow in nic's conntrack:\n{entries}"
    # east only ever sees the nic's address.
    assert not topo.east.ns.ip("route", "get", "192.1.3.209").stdout.startswith("192.1.3.209 dev")


def test_westnet_to_eastnet_in_clear_via_nic(lab_topology) -> None:
    topo = lab_topology("west", "east", "nic")
    topo.west.ns.wait_ping(topo.east.inside, src=topo.west.inside)


def test_nothing_links_to_the_host(lab) -> None:
    before = host_link_names()
    topo = build_topology(lab, ["west", "east", "road", "north"])
    assert set(lab.namespaces) == {"sw12", "sw13", "west", "east", "nic", "road", "north"}
    assert lab.host_links_to_lab() == []
    assert host_link_names() == before
    # Every veth end sits in a lab namespace; the host's namespace has none of them.
    for host in topo.hosts.values():
        for link in host.ns.links():
            assert link["ifname"] in ("lo", "eth0", "eth1", "eth0p"), link["ifname"]


def test_cleanup_even_when_the_test_fails(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    lab = Lab(tmp_path / "lab")
    sleeper = None
    with pytest.raises(RuntimeError), lab:
        build_topology(lab, ["west", "east"])
        sleeper = lab["west"].spawn(["sleep", "300"], "sleep.out")
        assert sleeper.running()
        raise RuntimeError("test failed half way")
    assert lab.leftovers() == []
    assert sleeper is not None and not sleeper.running()


def test_prefixes_are_unique_and_stale_labs_are_reaped(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    with Lab(tmp_path / "a") as a, Lab(tmp_path / "b") as b:
        assert a.prefix != b.prefix and str(os.getpid()) in a.prefix
    # A namespace left by a run whose process is gone is removed.
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = f"cyg{dead.pid}n1-west"
    run(["ip", "netns", "add", stale])
    try:
        assert stale in cleanup_stale()
        assert stale not in list_netns()
    finally:
        run(["ip", "netns", "del", stale], check=False)


def test_unknown_host_is_an_error(lab) -> None:
    with pytest.raises(LabError, match="unknown lab host 'sunset'"):
        build_topology(lab, ["west", "sunset"])
