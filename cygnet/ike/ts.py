"""Traffic selectors (RFC 7296 §3.13) and their narrowing (§2.9).

A selector is an address range plus an IP protocol and a port range; Libreswan
shows them as subnets (`192.0.1.0/24===192.0.2.0/24`). Narrowing follows
Libreswan: a responder accepts a proposal that lies inside its configured
selectors and answers with it; it narrows a wider proposal down to its own
selectors only with `narrowing=yes`. An initiator accepts back exactly what it
proposed, or anything inside it with `narrowing=yes`.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import (
    IPv4Address,
    IPv4Network,
    IPv6Address,
    IPv6Network,
    ip_address,
    ip_network,
    summarize_address_range,
)

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network


class TsUnacceptable(Exception):
    """The selectors cannot be reconciled: answer (or log) TS_UNACCEPTABLE."""


@dataclass(frozen=True, slots=True, order=True)
class TrafficSelector:
    start: Address
    end: Address
    protocol: int = 0  # 0 = any
    port_start: int = 0
    port_end: int = 65535

    def __post_init__(self) -> None:
        if self.start.version != self.end.version:
            raise ValueError("selector mixes IPv4 and IPv6")
        if self.start > self.end or self.port_start > self.port_end:
            raise ValueError("selector range is reversed")

    @classmethod
    def from_network(
        cls, net: Network | str, protocol: int = 0, port: int | None = None
    ) -> TrafficSelector:
        n = ip_network(net, strict=False) if isinstance(net, str) else net
        lo, hi = (0, 65535) if not port else (port, port)
        return cls(n.network_address, n.broadcast_address, protocol, lo, hi)

    @classmethod
    def host(cls, addr: Address | str) -> TrafficSelector:
        a = ip_address(addr) if isinstance(addr, str) else addr
        return cls(a, a)

    @property
    def version(self) -> int:
        return self.start.version

    def networks(self) -> list[Network]:
        return list(summarize_address_range(self.start, self.end))

    def contains(self, other: TrafficSelector) -> bool:
        return (
            self.version == other.version
            and self.start <= other.start
            and other.end <= self.end
            and self.protocol in (0, other.protocol)
            and self.port_start <= other.port_start
            and other.port_end <= self.port_end
        )

    def intersect(self, other: TrafficSelector) -> TrafficSelector | None:
        if self.version != other.version:
            return None
        if self.protocol and other.protocol and self.protocol != other.protocol:
            return None
        start, end = max(self.start, other.start), min(self.end, other.end)
        p_lo, p_hi = max(self.port_start, other.port_start), min(self.port_end, other.port_end)
        if start > end or p_lo > p_hi:
            return None
        return TrafficSelector(start, end, self.protocol or other.protocol, p_lo, p_hi)

    def __str__(self) -> str:
        nets = self.networks()
        addr = str(nets[0]) if len(nets) == 1 else f"{self.start}-{self.end}"
        if self.protocol == 0 and (self.port_start, self.port_end) == (0, 65535):
            return addr
        ports = (
            str(self.port_start)
            if self.port_start == self.port_end
            else f"{self.port_start}-{self.port_end}"
        )
        return f"{addr}/{self.protocol}/{ports}"


Selectors = tuple[TrafficSelector, ...]


def _covered(inner: Selectors, outer: Selectors) -> bool:
    return all(any(o.contains(i) for o in outer) for i in inner)


def _intersection(a: Selectors, b: Selectors) -> Selectors:
    out = [x for x in (p.intersect(q) for p in a for q in b) if x is not None]
    return tuple(sorted(set(out)))


def responder_narrow(proposed: Selectors, configured: Selectors, narrowing: bool) -> Selectors:
    """The selectors a responder answers with for one side, or TsUnacceptable."""
    if proposed and _covered(proposed, configured):
        return proposed
    if narrowing:
        result = _intersection(proposed, configured)
        if result:
            return result
    raise TsUnacceptable


def initiator_accepts(proposed: Selectors, answered: Selectors, narrowing: bool) -> bool:
    """Whether an initiator takes the responder's answer for one side."""
    if not answered or not _covered(answered, proposed):
        return False
    return narrowing or set(answered) == set(proposed)


def describe(local: Selectors, remote: Selectors) -> str:
    """Libreswan's `[192.0.1.0/24===192.0.2.0/24]` (several selectors joined by spaces)."""
    return "[" + " ".join(str(t) for t in local) + "===" + " ".join(str(t) for t in remote) + "]"
