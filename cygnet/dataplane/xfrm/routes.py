"""Routes with a conn's `mtu=`, as Libreswan's `_updown.xfrm` installs them.

With XFRM the kernel's policies, not routes, put traffic into a tunnel, so pluto
installs no route for a conn - unless it has `mtu=` (or `leftsourceip=`). Then its
updown script's `doroute` runs, on route-client/route-host (the conn is routed:
established, or trapped by auto=route/ondemand), the equivalent of

    ip route replace <peer client> [via <nexthop>] mtu N dev <interface>

in the main table, and deletes it on unroute. The nexthop and interface are those
towards the peer; the peer client is each remote selector (its CIDRs). We do the
same, looking both up with `ip route get <peer>`.

pyroute2's synchronous IPRoute cannot run inside the daemon's asyncio loop, so the
changes go, in order, to one thread of their own; callers never wait for them.
"""

from __future__ import annotations

import logging
import socket
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, summarize_address_range
from typing import Any

from cygnet.ike.payloads import TrafficSelector

__all__ = ["MtuRoutes"]

log = logging.getLogger(__name__)

Network = IPv4Network | IPv6Network
IPAddress = IPv4Address | IPv6Address


def _default_ipr() -> Any:
    from pyroute2 import IPRoute

    return IPRoute()


def _log_failure(fut: Future) -> None:
    if fut.exception() is not None:
        log.warning("mtu= route: %s", fut.exception())


class MtuRoutes:
    """Main-table routes carrying `mtu=` for the remote selectors of the conns that set it.

    Owners (a Child SA serial, a trap) share a route; it goes with its last owner.
    """

    def __init__(self, ipr_factory: Callable[[], Any] = _default_ipr) -> None:
        self._factory = ipr_factory
        self._ipr: Any = None
        self._exec: ThreadPoolExecutor | None = None
        self._routes: Counter[Network] = Counter()
        self._mtu: dict[Network, int] = {}
        self._owners: dict[object, list[Network]] = {}

    # -- called on the daemon's loop: queue the work ---------------------------

    def add(self, owner: object, remote: tuple[TrafficSelector, ...], peer: IPAddress,
            mtu: int) -> None:
        self._submit(self.add_now, owner, remote, peer, mtu)

    def remove(self, owner: object) -> None:
        if self._exec is not None:  # something was added once
            self._submit(self.remove_now, owner)

    def close(self) -> None:
        """Delete every route we added (waits for the queue)."""
        if self._exec is None:
            return
        self._exec.submit(self.close_now).result(timeout=30)
        self._exec.shutdown(wait=True)
        self._exec = None

    def _submit(self, fn: Callable[..., None], *args: object) -> None:
        if self._exec is None:
            self._exec = ThreadPoolExecutor(1, thread_name_prefix="cygnet-xfrm-route")
        self._exec.submit(fn, *args).add_done_callback(_log_failure)

    # -- the work (the route thread; tests call these directly) ----------------

    @property
    def ipr(self) -> Any:
        if self._ipr is None:
            self._ipr = self._factory()
        return self._ipr

    def add_now(self, owner: object, remote: tuple[TrafficSelector, ...], peer: IPAddress,
                mtu: int) -> None:
        nets = [n for ts in remote for n in summarize_address_range(ts.start, ts.end)]  # type: ignore[arg-type]
        hop: dict[int, tuple[str | None, int | None]] = {}
        for net in nets:
            if self._routes[net] == 0 or self._mtu.get(net) != mtu:
                if net.version not in hop:
                    hop[net.version] = self._towards(peer, net.version)
                gateway, oif = hop[net.version]
                self._route("replace", net, gateway, oif, mtu)
                self._mtu[net] = mtu
            self._routes[net] += 1
        self._owners.setdefault(owner, []).extend(nets)

    def remove_now(self, owner: object) -> None:
        for net in self._owners.pop(owner, []):
            self._routes[net] -= 1
            if self._routes[net] <= 0:
                del self._routes[net]
                self._mtu.pop(net, None)
                self._route("del", net, None, None, None)

    def close_now(self) -> None:
        for net in list(self._routes):
            self._route("del", net, None, None, None)
        self._routes.clear()
        self._mtu.clear()
        self._owners.clear()
        if self._ipr is not None:
            self._ipr.close()
            self._ipr = None

    def _towards(self, peer: IPAddress, version: int) -> tuple[str | None, int | None]:
        """The nexthop (None when the peer is on-link) and interface towards the peer.

        A selector of the other family than the peer's address (6in4, 4in6) gets the
        interface but no nexthop, as `_updown.xfrm` uses PLUTO_NEXT_HOP only when the
        families agree."""
        try:
            msgs = self.ipr.route("get", dst=str(peer))
        except Exception as e:
            log.warning("mtu= route: no route to %s: %s", peer, e)
            return None, None
        if not msgs:
            return None, None
        gateway = msgs[0].get_attr("RTA_GATEWAY")
        oif = msgs[0].get_attr("RTA_OIF")
        return (gateway if version == peer.version else None), oif

    def _route(self, cmd: str, net: Network, gateway: str | None, oif: int | None,
               mtu: int | None) -> None:
        kw: dict[str, Any] = {"dst": str(net)}
        if net.version == 6:
            kw["family"] = socket.AF_INET6
        if cmd != "del":
            if gateway:
                kw["gateway"] = gateway
            if oif:
                kw["oif"] = oif
            if mtu:
                kw["metrics"] = {"mtu": mtu}
        try:
            self.ipr.route(cmd, **kw)
        except Exception as e:
            log.warning("mtu= route %s %s: %s", cmd, net, e)
