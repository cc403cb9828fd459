"""Selector matching for the userspace SPD (RFC 4301 §4.4.1) and packet flow extraction.

Traffic selectors arrive as IKEv2 address ranges (`TrafficSelector`); here they
become integer ranges so a lookup is a handful of comparisons. The outbound
SPD is an ordered list (newest SA first, on-demand traps last) in front of a
small cache keyed by the packet's addresses (and protocol/ports when any
installed selector looks at them), so a steady flow costs one dict lookup.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import Any

from cygnet.ike.payloads import TrafficSelector

__all__ = ["Flow", "Selector", "Spd", "flow_of", "selector_of", "flow_selectors"]

_PORT_PROTOS = frozenset((6, 17, 132, 136))  # TCP, UDP, SCTP, UDP-Lite
_V6_EXT = frozenset((0, 43, 60))  # hop-by-hop, routing, destination options

#: (version, src, dst, protocol, src port, dst port); ports are -1 when the packet has none
Flow = tuple[int, int, int, int, int, int]


def flow_of(pkt: bytes) -> Flow | None:
    """The selector fields of an IP packet, or None when it is not a parsable IPv4/IPv6 packet.

    RFC 4301 §7: a non-initial fragment has no ports (OPAQUE); we report -1.
    """
    n = len(pkt)
    if n < 20:
        return None
    v = pkt[0] >> 4
    if v == 4:
        ihl = (pkt[0] & 15) * 4
        proto = pkt[9]
        src = int.from_bytes(pkt[12:16], "big")
        dst = int.from_bytes(pkt[16:20], "big")
        if proto in _PORT_PROTOS and not (pkt[6] & 0x1F or pkt[7]) and n >= ihl + 4:
            return 4, src, dst, proto, (pkt[ihl] << 8) | pkt[ihl + 1], (pkt[ihl + 2] << 8) | pkt[ihl + 3]
        return 4, src, dst, proto, -1, -1
    if v == 6 and n >= 40:
        src = int.from_bytes(pkt[8:24], "big")
        dst = int.from_bytes(pkt[24:40], "big")
        nh = pkt[6]
        off = 40
        while nh in _V6_EXT and n >= off + 8:
            nh, off = pkt[off], off + 8 + pkt[off + 1] * 8
        if nh == 44 and n >= off + 8:  # fragment header: ports only in the first fragment
            first = not ((pkt[off + 2] << 8 | pkt[off + 3]) & 0xFFF8)
            nh, off = pkt[off], off + 8
            if not first:
                return 6, src, dst, nh, -1, -1
        if nh in _PORT_PROTOS and n >= off + 4:
            return 6, src, dst, nh, (pkt[off] << 8) | pkt[off + 1], (pkt[off + 2] << 8) | pkt[off + 3]
        return 6, src, dst, nh, -1, -1
    return None


@dataclass(frozen=True, slots=True)
class Selector:
    """One traffic selector as integers: address range, protocol (0 any), port range."""

    version: int
    start: int
    end: int
    proto: int = 0
    port_lo: int = 0
    port_hi: int = 65535

    @property
    def any_port(self) -> bool:
        return self.port_lo == 0 and self.port_hi == 65535

    def match(self, version: int, addr: int, proto: int, port: int) -> bool:
        if version != self.version or not self.start <= addr <= self.end:
            return False
        if self.proto and proto != self.proto:
            return False
        if self.any_port:
            return True
        # RFC 4301 §4.4.1.1: a packet without ports (OPAQUE) does not match a port range
        return self.port_lo <= port <= self.port_hi

    def to_ts(self) -> TrafficSelector:
        mk = IPv4Address if self.version == 4 else IPv6Address
        return TrafficSelector(mk(self.start), mk(self.end), self.proto, self.port_lo, self.port_hi)


def selector_of(ts: TrafficSelector) -> Selector:
    return Selector(ts.start.version, int(ts.start), int(ts.end), ts.ip_protocol, ts.start_port,
                    ts.end_port)


def flow_selectors(flow: Flow) -> tuple[TrafficSelector, TrafficSelector]:
    """The narrowest (source, destination) selectors for a packet: what ACQUIRE reports."""
    v, src, dst, proto, sp, dp = flow
    mk = IPv4Address if v == 4 else IPv6Address
    sp_lo, sp_hi = (sp, sp) if sp >= 0 else (0, 65535)
    dp_lo, dp_hi = (dp, dp) if dp >= 0 else (0, 65535)
    return (TrafficSelector(mk(src), mk(src), proto, sp_lo, sp_hi),
            TrafficSelector(mk(dst), mk(dst), proto, dp_lo, dp_hi))


def matches(local: Iterable[Selector], remote: Iterable[Selector], flow: Flow, outbound: bool) -> bool:
    """RFC 4301 §5.1/§5.2: outbound source in local and destination in remote; inbound swapped."""
    v, src, dst, proto, sp, dp = flow
    if outbound:
        lo_addr, lo_port, re_addr, re_port = src, sp, dst, dp
    else:
        lo_addr, lo_port, re_addr, re_port = dst, dp, src, sp
    return any(s.match(v, lo_addr, proto, lo_port) for s in local) and any(
        s.match(v, re_addr, proto, re_port) for s in remote
    )


class Spd:
    """The outbound policy list: entries (local, remote, target), first match wins."""

    __slots__ = ("_entries", "cache", "fine")

    CACHE_MAX = 4096

    def __init__(self) -> None:
        self._entries: list[tuple[Any, tuple[Selector, ...], tuple[Selector, ...], Any]] = []
        self.cache: dict[Any, Any] = {}
        self.fine = False  # True once a selector restricts protocol or ports

    def add(self, key: Any, local: tuple[Selector, ...], remote: tuple[Selector, ...], target: Any,
            first: bool = True) -> None:
        entry = (key, local, remote, target)
        if first:
            self._entries.insert(0, entry)
        else:
            self._entries.append(entry)
        self._changed()

    def remove(self, key: Any) -> None:
        self._entries = [e for e in self._entries if e[0] != key]
        self._changed()

    def _changed(self) -> None:
        self.cache.clear()
        self.fine = any(
            s.proto or not s.any_port for e in self._entries for s in (*e[1], *e[2])
        )

    def lookup(self, pkt: bytes) -> tuple[Any, Flow | None]:
        """(target or None, flow) for an outbound packet; flow is None on a cache hit."""
        if pkt[0] >> 4 == 4:
            key: Any = pkt[12:20]
        else:
            key = pkt[8:40]
        if self.fine:
            flow = flow_of(pkt)
            key = flow
            hit = self.cache.get(key, self)
            if hit is not self:
                return hit, flow
        else:
            hit = self.cache.get(key, self)
            if hit is not self:
                return hit, None
            flow = flow_of(pkt)
        target = None
        if flow is not None:
            for _, local, remote, t in self._entries:
                if matches(local, remote, flow, True):
                    target = t
                    break
        if len(self.cache) >= self.CACHE_MAX:
            self.cache.clear()
        self.cache[key] = target
        return target, flow
