"""Libreswan's test topology (west/east/road/nic/north) in network namespaces.

Libreswan's own test suite uses these names and addresses, so reference
outputs, conn files and log lines from it read the same here::

    westnet 192.0.1.0/24          eastnet 192.0.2.0/24
         |  (dummy eth0)               |  (dummy eth0)
       west .45 ----- swan12 192.1.2.0/24 ----- .23 east
                             |
                           .254 nic (nftables masquerade of 192.1.3.0/24)
                           .254
                             |
       road .209 ---- swan13 192.1.3.0/24 ----- .33 north

Each LAN is a bridge in its own "switch" namespace; every host is a
namespace joined to it by a veth. Nothing connects to the host's network.
Build only what a test needs: ``build_topology(lab, ["west", "east"])``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

from cygnet.lab.netns import Lab, LabError, Namespace


@dataclass(frozen=True)
class LanSpec:
    name: str
    v4: str  # prefix
    v6: str | None


@dataclass(frozen=True)
class IfaceSpec:
    ifname: str
    lan: str | None  # None: a dummy interface carrying the host's inside subnet
    addrs: tuple[str, ...]  # with prefix length


@dataclass(frozen=True)
class HostSpec:
    name: str
    ifaces: tuple[IfaceSpec, ...]
    gateway4: str | None = None  # default route, used when the gateway host is built
    gateway_host: str | None = None
    forwarding: bool = False
    needs: tuple[str, ...] = ()  # hosts that must exist for this one to be reachable


LANS: dict[str, LanSpec] = {
    "swan12": LanSpec("swan12", "192.1.2.0/24", "2001:db8:1:2::/64"),
    "swan13": LanSpec("swan13", "192.1.3.0/24", None),
}

HOSTS: dict[str, HostSpec] = {
    "west": HostSpec(
        "west",
        (
            IfaceSpec("eth1", "swan12", ("192.1.2.45/24", "2001:db8:1:2::45/64")),
            IfaceSpec("eth0", None, ("192.0.1.254/24", "2001:db8:0:1::254/64")),
        ),
        gateway4="192.1.2.254",
        gateway_host="nic",
    ),
    "east": HostSpec(
        "east",
        (
            IfaceSpec("eth1", "swan12", ("192.1.2.23/24", "2001:db8:1:2::23/64")),
            IfaceSpec("eth0", None, ("192.0.2.254/24", "2001:db8:0:2::254/64")),
        ),
        gateway4="192.1.2.254",
        gateway_host="nic",
    ),
    "nic": HostSpec(
        "nic",
        (
            IfaceSpec("eth1", "swan12", ("192.1.2.254/24",)),
            IfaceSpec("eth0", "swan13", ("192.1.3.254/24",)),
        ),
        forwarding=True,
    ),
    "road": HostSpec(
        "road",
        (IfaceSpec("eth0", "swan13", ("192.1.3.209/24",)),),
        gateway4="192.1.3.254",
        gateway_host="nic",
        needs=("nic",),
    ),
    "north": HostSpec(
        "north",
        (IfaceSpec("eth1", "swan13", ("192.1.3.33/24",)),),
        gateway4="192.1.3.254",
        gateway_host="nic",
        needs=("nic",),
    ),
}

# The nic masquerades everything from the road side leaving towards swan12,
# as Libreswan's testing nic does for road.
NIC_NFT_RULESET = """\
table ip cygnet_lab_nat {
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        ip saddr 192.1.3.0/24 oifname "eth1" masquerade
    }
}
"""


@dataclass
class Host:
    """A built host: its namespace and its addresses by role."""

    name: str
    ns: Namespace
    spec: HostSpec

    def addrs(self, family: int = 4, lan_only: bool = True) -> list[str]:
        out = []
        for iface in self.spec.ifaces:
            if lan_only and iface.lan is None:
                continue
            for a in iface.addrs:
                if (":" in a) == (family == 6):
                    out.append(a.split("/")[0])
        return out

    @property
    def addr(self) -> str:
        """The host's public IPv4 address (192.1.x.y)."""
        return self.addrs(4)[0]

    @property
    def addr6(self) -> str | None:
        a = self.addrs(6)
        return a[0] if a else None

    @property
    def inside(self) -> str | None:
        """The host's address on its inside subnet (westnet/eastnet), if any."""
        a = [x for x in self.addrs(4, lan_only=False) if x not in self.addrs(4)]
        return a[0] if a else None

    def subnets(self, family: int = 4) -> list[str]:
        """Inside subnets (e.g. 192.0.1.0/24), for leftsubnet=/local_ts."""
        return [
            str(ipaddress.ip_interface(a).network)
            for i in self.spec.ifaces
            if i.lan is None
            for a in i.addrs
            if (":" in a) == (family == 6)
        ]


@dataclass
class Topology:
    lab: Lab
    hosts: dict[str, Host] = field(default_factory=dict)
    switches: dict[str, Namespace] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    def __getattr__(self, name: str) -> Host:
        hosts = self.__dict__.get("hosts", {})
        if name in hosts:
            return hosts[name]
        raise AttributeError(name)


def _closure(names: Iterable[str]) -> list[str]:
    wanted: list[str] = []
    todo = list(names)
    while todo:
        n = todo.pop(0)
        if n not in HOSTS:
            raise LabError(f"unknown lab host {n!r}; known: {', '.join(HOSTS)}")
        if n in wanted:
            continue
        wanted.append(n)
        todo.extend(HOSTS[n].needs)
    return [n for n in HOSTS if n in wanted]  # canonical order


def _add_dummy(ns: Namespace, ifname: str) -> None:
    """An always-up interface for an inside subnet.

    A `dummy` if the kernel has it; otherwise (as on our build machines) a
    veth pair with both ends in the same namespace, which behaves the same
    for addressing and routing and still links nowhere.
    """
    if ns.ip("link", "add", ifname, "type", "dummy", check=False).returncode != 0:
        ns.ip("link", "add", ifname, "type", "veth", "peer", "name", ifname + "p")
        ns.ip("link", "set", ifname + "p", "up")
    ns.ip("link", "set", ifname, "up")


def build_topology(lab: Lab, hosts: Iterable[str] = ("west", "east")) -> Topology:
    """Create the named hosts (plus what they need: road/north pull in nic)."""
    names = _closure(hosts)
    topo = Topology(lab)
    lans = {i.lan for n in names for i in HOSTS[n].ifaces if i.lan}
    for lan in sorted(lans):
        sw = lab.add_namespace("sw" + lan[-2:])
        sw.ip("link", "add", "br0", "type", "bridge")
        sw.ip("link", "set", "br0", "up")
        topo.switches[lan] = sw
    for n in names:
        spec = HOSTS[n]
        ns = lab.add_namespace(n)
        for iface in spec.ifaces:
            if iface.lan is None:
                _add_dummy(ns, iface.ifname)
            else:
                sw = topo.switches[iface.lan]
                lab.add_veth(sw, n, ns, iface.ifname)
                sw.ip("link", "set", n, "master", "br0")
            for a in iface.addrs:
                extra = ["nodad"] if ":" in a else []
                ns.ip("addr", "add", a, "dev", iface.ifname, *extra)
        if spec.forwarding:
            ns.sysctl("net.ipv4.ip_forward", "1")
            ns.sysctl("net.ipv6.conf.all.forwarding", "1")
        topo.hosts[n] = Host(n, ns, spec)
    for n in names:
        spec = HOSTS[n]
        if spec.gateway4 and spec.gateway_host in topo.hosts:
            topo.hosts[n].ns.ip("route", "add", "default", "via", spec.gateway4)
    if "nic" in topo.hosts:
        # Like Libreswan's nic: inside subnets are routable in the clear.
        for n in ("west", "east"):
            if n in topo.hosts:
                for subnet in topo.hosts[n].subnets(4):
                    topo.hosts["nic"].ns.ip("route", "add", subnet, "via", topo.hosts[n].addr)
        topo.hosts["nic"].ns.exec(["nft", "-f", "-"], input=NIC_NFT_RULESET)
    return topo
