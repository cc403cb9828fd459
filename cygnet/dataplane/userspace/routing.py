"""Routes into the TUN device and the fwmark policy rule that keeps our own packets out of it.

strongSwan's approach (kernel-netlink `fwmark = !0x42`): the routes for remote
selectors live in a separate table, consulted through a rule "not fwmark M
lookup T". Sockets carrying IKE and ESP set SO_MARK M, so they skip the rule
and leave through the main table; for host-to-host SAs (remote selector = the
peer's own address) that is what stops the tunnel from swallowing its own
outer packets.

A conn's `mtu=` goes on its routes (RTAX_MTU), as Libreswan's updown script adds
`mtu N` to the route it installs: traffic into the tunnel for that conn is sized
(and refused with "message too long" when DF is set) to N rather than the TUN
device's MTU.
"""

from __future__ import annotations

import logging
import socket
from collections import Counter
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, summarize_address_range

from pyroute2 import IPRoute

from cygnet.ike.payloads import TrafficSelector

__all__ = ["Router", "ts_networks"]

log = logging.getLogger(__name__)

FIB_RULE_INVERT = 0x2

Network = IPv4Network | IPv6Network


def ts_networks(ts: TrafficSelector) -> list[Network]:
    """The CIDR blocks that exactly cover a selector's address range."""
    return list(summarize_address_range(ts.start, ts.end))  # type: ignore[arg-type]


class Router:
    """Owns one routing table, its "not fwmark" rules (IPv4 and IPv6) and routes to one link.

    Blocking netlink calls: pyroute2's synchronous IPRoute refuses to run inside
    an asyncio loop, so the data plane keeps a Router in a thread of its own.
    """

    def __init__(self, ifname: str, table: int, mark: int, priority: int) -> None:
        self.ifname = ifname
        self.table = table
        self.mark = mark
        self.priority = priority
        self._ipr = IPRoute()
        self._routes: Counter[tuple[Network, str | None]] = Counter()
        self._mtu: dict[tuple[Network, str | None], int | None] = {}  # what each route carries
        self._rules: list[int] = []
        self._owners: dict[object, list[tuple[Network, str | None]]] = {}
        self.index = 0

    def link_up(self, mtu: int, txqlen: int = 1000) -> None:
        """Bring the TUN up. A longer queue than TUN's 500 rides out the moments a worker is
        descheduled, where TCP would otherwise see drops and halve its window."""
        idx = self._ipr.link_lookup(ifname=self.ifname)
        if not idx:
            raise OSError(f"no link {self.ifname}")
        self.index = idx[0]
        self._ipr.link("set", index=self.index, mtu=mtu, txqlen=txqlen, state="up")

    def add_rules(self) -> None:
        for fam in (socket.AF_INET, socket.AF_INET6):
            try:
                self._drop_stale_rules(fam)
                self._ipr.rule("add", table=self.table, priority=self.priority, fwmark=self.mark,
                               fwmask=0xFFFFFFFF, flags=FIB_RULE_INVERT, family=fam)
                self._rules.append(fam)
            except Exception as e:  # IPv6 may be disabled; IPv4 failing is fatal below
                if fam == socket.AF_INET:
                    raise
                log.debug("no IPv6 policy rule: %s", e)

    def _drop_stale_rules(self, fam: int) -> None:
        """Our rule left behind by a data plane that was killed (SIGKILL, OOM): its TUN
        and routes went with the process, the rule did not. Same table and priority
        means it was ours; a second copy would only grow the rule list on every crash."""
        for r in self._ipr.get_rules(family=fam):
            if r.get_attr("FRA_TABLE") == self.table and r.get_attr("FRA_PRIORITY") == self.priority:
                log.info("removing a stale policy rule for table %d (a previous data plane "
                         "did not shut down)", self.table)
                self._ipr.rule("del", table=self.table, priority=self.priority, fwmark=self.mark,
                               fwmask=0xFFFFFFFF, flags=FIB_RULE_INVERT, family=fam)

    def local_source(self, local: tuple[TrafficSelector, ...]) -> dict[int, str]:
        """A local address inside our selectors per family: the routes' preferred source,
        so locally generated packets into the tunnel carry an address the peer accepts."""
        found: dict[int, str] = {}
        for msg in self._ipr.get_addr():
            addr = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
            if not addr:
                continue
            a: IPv4Address | IPv6Address
            a = IPv4Address(addr) if msg["family"] == socket.AF_INET else IPv6Address(addr)
            if a.is_loopback or a.is_link_local:
                continue
            for ts in local:
                if ts.start.version == a.version and ts.start <= a <= ts.end:
                    found.setdefault(a.version, str(a))
        return found

    def add(self, owner: object, remote: tuple[TrafficSelector, ...],
            local: tuple[TrafficSelector, ...], mtu: int | None = None) -> None:
        """Route each remote selector's CIDRs into the link, on behalf of `owner`; with
        `mtu`, the routes carry that MTU (a route shared by owners carries the latest's)."""
        src = self.local_source(local)
        keys = []
        for ts in remote:
            for net in ts_networks(ts):
                key = (net, src.get(net.version))
                if self._routes[key] == 0 or self._mtu.get(key) != mtu:
                    self._route("replace", net, key[1], mtu)
                    self._mtu[key] = mtu
                self._routes[key] += 1
                keys.append(key)
        self._owners.setdefault(owner, []).extend(keys)

    def remove(self, owner: object) -> None:
        """Drop `owner`'s routes (a route stays while another owner needs it)."""
        for key in self._owners.pop(owner, []):
            self._routes[key] -= 1
            if self._routes[key] <= 0:
                del self._routes[key]
                self._mtu.pop(key, None)
                self._route("del", key[0], key[1])

    def _route(self, cmd: str, net: Network, src: str | None, mtu: int | None = None) -> None:
        kw: dict = {"dst": str(net), "oif": self.index, "table": self.table}
        if src and cmd != "del":
            kw["prefsrc"] = src
        if mtu and cmd != "del":
            kw["metrics"] = {"mtu": mtu}
        if net.version == 6:
            kw["family"] = socket.AF_INET6
        try:
            self._ipr.route(cmd, **kw)
        except Exception as e:
            log.warning("route %s %s table %d: %s", cmd, net, self.table, e)

    def close(self) -> None:
        """Remove every route and rule we added (the link goes with the TUN fd)."""
        for net, src in list(self._routes):
            self._route("del", net, src)
        self._routes.clear()
        self._mtu.clear()
        for fam in self._rules:
            try:
                self._ipr.rule("del", table=self.table, priority=self.priority, fwmark=self.mark,
                               fwmask=0xFFFFFFFF, flags=FIB_RULE_INVERT, family=fam)
            except Exception as e:
                log.warning("rule del: %s", e)
        self._rules.clear()
        self._ipr.close()
