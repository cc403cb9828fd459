"""The one interface both data planes implement (kernel XFRM, userspace ESP over TUN).

The daemon calls these from its asyncio loop; every method returns quickly
(no blocking I/O on the loop). What the data plane notices on its own -
a packet with no SA for an on-demand route (ACQUIRE), a lifetime running
out (EXPIRE), an IKE datagram arriving on a socket the data plane owns -
comes back through the callbacks in `DataplaneEvents`, called on the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from cygnet.ike.events import ChildSaKeys
from cygnet.ike.natd import Endpoint
from cygnet.ike.payloads import IPAddress, TrafficSelector


@dataclass(frozen=True, slots=True)
class SaCounters:
    """Traffic through one Child SA, for `ipsec trafficstatus` (inBytes/outBytes)."""

    in_bytes: int = 0
    out_bytes: int = 0
    in_packets: int = 0
    out_packets: int = 0
    last_in: float | None = None  # monotonic time of the last inbound packet (liveness)


@dataclass(frozen=True, slots=True)
class SaLifetime:
    """Soft and hard limits for one SA (Libreswan: salifetime, ipsec-max-bytes/-packets).

    0 means "no limit". Crossing a soft limit raises `on_expire(serial, hard=False)`
    once; a hard limit raises `on_expire(serial, hard=True)` and the SA stops passing
    traffic.
    """

    soft_bytes: int = 0
    hard_bytes: int = 0
    soft_packets: int = 0
    hard_packets: int = 0
    soft_seconds: float = 0.0
    hard_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class ChildSaPlacement:
    """Where a Child SA's packets go: the outer addresses (ports matter with UDP encapsulation)."""

    local: Endpoint
    remote: Endpoint
    replay_window: int = 128  # Libreswan's default replay-window
    mtu: int | None = None  # Libreswan `mtu=`: the MTU of the routes to the remote selectors
    mark: int | None = None
    lifetime: SaLifetime = field(default_factory=SaLifetime)


@dataclass
class DataplaneEvents:
    """Callbacks into the daemon (all called on the asyncio loop)."""

    #: traffic matched a `route()`d policy with no SA: (route id, packet's selectors)
    on_acquire: Callable[[int, TrafficSelector, TrafficSelector], None] = lambda r, s, d: None
    #: an SA crossed a soft (rekey now) or hard (gone) limit
    on_expire: Callable[[int, bool], None] = lambda serial, hard: None
    #: an IKE datagram that arrived on a socket the data plane owns (UDP 4500, non-ESP marker
    #: already removed): (data, local, remote)
    on_ike: Callable[[bytes, Endpoint, Endpoint], None] = lambda data, local, remote: None


class Dataplane(Protocol):
    """A backend that carries Child SAs' traffic."""

    name: str  # "xfrm" or "userspace", as `ipsec addconn --liststack` / status show it

    async def start(self, events: DataplaneEvents) -> None:
        """Acquire what the backend needs (netlink sockets, TUN device, workers)."""

    async def stop(self) -> None:
        """Remove everything this backend installed and release its resources."""

    def install(self, child: ChildSaKeys, where: ChildSaPlacement, replaces: int | None = None) -> None:
        """Install both directions of a Child SA and the policies for its selectors.

        With `replaces`, the new SA takes over outbound traffic at once and the
        old one keeps accepting inbound packets until `remove(replaces)`
        (make-before-break rekeying).
        """

    def remove(self, serial: int) -> None:
        """Remove a Child SA (both directions); its policies go with the last SA using them."""

    def counters(self, serial: int) -> SaCounters:
        """Current counters of a Child SA (zeros if unknown)."""

    def route(self, route_id: int, local: TrafficSelector, remote: TrafficSelector, *,
              mtu: int | None = None, peer: IPAddress | None = None) -> None:
        """An on-demand ("trap") policy: matching traffic raises `on_acquire` (auto=ondemand/route).

        With `mtu` (the conn's `mtu=`), the route into the tunnel carries it from the start,
        as Libreswan's updown adds it on route; `peer` is the remote host (its next hop)."""

    def unroute(self, route_id: int) -> None:
        """Remove an on-demand policy."""

    def send_ike(self, data: bytes, local: Endpoint, remote: Endpoint) -> bool:
        """Send an IKE datagram from a socket the data plane owns (False: not ours, use your own)."""
