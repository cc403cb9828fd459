"""Traffic-selector arithmetic (RFC 7296 §2.9) on the wire type `payloads.TrafficSelector`.

A selector is an address range plus an IP protocol and a port range; Libreswan
shows them as subnets (`192.0.1.0/24===192.0.2.0/24`). Narrowing follows
Libreswan: a responder accepts a proposal that lies inside its configured
selectors and answers with it; it narrows a wider proposal down to its own
selectors only with `narrowing=yes`. An initiator accepts back exactly what it
proposed, or anything inside it with `narrowing=yes`.
"""

from __future__ import annotations

from ipaddress import (
    IPv4Address,
    IPv4Network,
    IPv6Address,
    IPv6Network,
    ip_address,
    ip_network,
    summarize_address_range,
)

from cygnet.ike.payloads import AnyTrafficSelector, TrafficSelector

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network
Selectors = tuple[TrafficSelector, ...]


class TsUnacceptable(Exception):
    """The selectors cannot be reconciled: answer (or log) TS_UNACCEPTABLE."""


def from_network(net: Network | str, protocol: int = 0, port: int | None = None) -> TrafficSelector:
    """A selector covering a subnet (`leftsubnet=`), optionally one protocol/port (`leftprotoport=`)."""
    n = ip_network(net, strict=False) if isinstance(net, str) else net
    lo, hi = (0, 65535) if not port else (port, port)
    return TrafficSelector(n.network_address, n.broadcast_address, protocol, lo, hi)


def host(addr: Address | str) -> TrafficSelector:
    a = ip_address(addr) if isinstance(addr, str) else addr
    return TrafficSelector(a, a)


def validate(ts: TrafficSelector) -> None:
    """Raise ValueError for a selector no peer should send (mixed families, reversed ranges)."""
    if ts.start.version != ts.end.version:
        raise ValueError("selector mixes IPv4 and IPv6")
    if ts.start > ts.end or ts.start_port > ts.end_port:
        raise ValueError("selector range is reversed")


def contains(outer: TrafficSelector, inner: TrafficSelector) -> bool:
    return (
        outer.start.version == inner.start.version
        and outer.start <= inner.start
        and inner.end <= outer.end
        and outer.ip_protocol in (0, inner.ip_protocol)
        and outer.start_port <= inner.start_port
        and inner.end_port <= outer.end_port
    )


def intersect(a: TrafficSelector, b: TrafficSelector) -> TrafficSelector | None:
    if a.start.version != b.start.version:
        return None
    if a.ip_protocol and b.ip_protocol and a.ip_protocol != b.ip_protocol:
        return None
    start, end = max(a.start, b.start), min(a.end, b.end)
    lo, hi = max(a.start_port, b.start_port), min(a.end_port, b.end_port)
    if start > end or lo > hi:
        return None
    return TrafficSelector(start, end, a.ip_protocol or b.ip_protocol, lo, hi)


def to_str(ts: TrafficSelector) -> str:
    """`192.0.1.0/24`, `10.0.0.1-10.0.0.6`, `10.0.0.0/8/6/22` (proto/port when not "any")."""
    nets = list(summarize_address_range(ts.start, ts.end))
    addr = str(nets[0]) if len(nets) == 1 else f"{ts.start}-{ts.end}"
    if ts.ip_protocol == 0 and (ts.start_port, ts.end_port) == (0, 65535):
        return addr
    ports = str(ts.start_port) if ts.start_port == ts.end_port else f"{ts.start_port}-{ts.end_port}"
    return f"{addr}/{ts.ip_protocol}/{ports}"


def usable(received: tuple[AnyTrafficSelector, ...]) -> Selectors:
    """The address-range selectors of a TS payload (others, e.g. TS_SECLABEL, are not ours to match)."""
    out = tuple(t for t in received if isinstance(t, TrafficSelector))
    for t in out:
        validate(t)
    return out


def _covered(inner: Selectors, outer: Selectors) -> bool:
    return all(any(contains(o, i) for o in outer) for i in inner)


def _intersection(a: Selectors, b: Selectors) -> Selectors:
    found = {x for x in (intersect(p, q) for p in a for q in b) if x is not None}
    return tuple(sorted(found, key=lambda t: (t.start.version, t.start, t.end, t.ip_protocol)))


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
    return "[" + " ".join(map(to_str, local)) + "===" + " ".join(map(to_str, remote)) + "]"
