"""Which end of a conn is this host (Libreswan's "orientation").

One ipsec.conf serves both hosts: an end is ours when its `left=`/`right=`
is one of this host's addresses, or `%defaultroute` (the address the default
route leaves from). Exactly one end must match; otherwise Libreswan refuses
the conn with "we cannot identify ourselves with either end of this
connection" (neither) or "two interfaces match" (both). The result names the
ends `local`/`remote` (Libreswan's "this"/"that"), the words the IKE engine
uses.

`orient()` is a pure function of the conn and the host's addresses;
`local_addresses()` gathers those with pyroute2 for the daemon.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

from cygnet.config.conn import ConnSpec, End
from cygnet.config.errors import ConfigError

#: hosts that can only be the remote end (templates and groups)
_REMOTE_ONLY = {"%any", "%any4", "%any6", "%group", "%opportunistic", "%opportunisticgroup"}


@dataclass(frozen=True)
class OrientedConn:
    """A conn with its ends decided: `local` is this host, `remote` the peer."""

    conn: ConnSpec
    local: End
    remote: End
    #: the address this host uses for the conn (`%defaultroute` resolved)
    local_addr: str

    @property
    def name(self) -> str:
        return self.conn.name

    @property
    def local_is_left(self) -> bool:
        return self.local.side == "left"


def _norm(addr: object) -> str | None:
    try:
        return str(ipaddress.ip_address(str(addr)))
    except ValueError:
        return None


def _match(end: End, local: set[str], default_route_addr: str | None) -> str | None:
    """The local address `end` stands for, or None when it is not this host."""
    host = end.host
    if host is None or host in _REMOTE_ONLY:
        return None
    if host in ("%defaultroute", "%defaultroute4", "%defaultroute6"):
        return default_route_addr
    addr = _norm(host)
    return addr if addr is not None and addr in local else None


def orient(
    conn: ConnSpec, local_addrs: Iterable[str], default_route_addr: str | None = None
) -> OrientedConn:
    """Decide which end is this host; raise ConfigError the way Libreswan words it."""
    for end in conn.ends:
        if end.host is None:
            raise ConfigError(
                f'conn "{conn.name}": {end.side}= is not set',
                file=conn.file,
                line=conn.line,
                keyword=end.side,
            )
    local = {a for a in (_norm(x) for x in local_addrs) if a}
    dra = _norm(default_route_addr) if default_route_addr else None
    lm = _match(conn.left, local, dra)
    rm = _match(conn.right, local, dra)
    if lm and rm:
        raise ConfigError(
            f'two interfaces match "{conn.name}" ({lm}, {rm})', file=conn.file, line=conn.line
        )
    if lm:
        return OrientedConn(conn, conn.left, conn.right, lm)
    if rm:
        return OrientedConn(conn, conn.right, conn.left, rm)
    raise ConfigError(
        f'"{conn.name}": we cannot identify ourselves with either end of this connection.  '
        f"{conn.left.host} or {conn.right.host} are not usable",
        file=conn.file,
        line=conn.line,
    )


def local_addresses() -> tuple[set[str], str | None]:
    """This host's addresses and the source address of its default route (pyroute2).

    The default route's preferred source, or else the first address on its
    outgoing interface: what Libreswan means by `%defaultroute`.
    """
    from pyroute2 import IPRoute

    addrs: set[str] = set()
    by_link: dict[int, list[str]] = {}
    default: str | None = None
    with IPRoute() as ipr:
        for msg in ipr.get_addr():
            a = msg.get_attr("IFA_ADDRESS") or msg.get_attr("IFA_LOCAL")
            if a:
                text = str(ipaddress.ip_address(a.split("%")[0]))
                addrs.add(text)
                by_link.setdefault(msg["index"], []).append(text)
        for family in (socket.AF_INET, socket.AF_INET6):
            for r in ipr.get_default_routes(family=family):
                src = r.get_attr("RTA_PREFSRC")
                oif = r.get_attr("RTA_OIF")
                default = default or src or (by_link.get(oif) or [None])[0]
    return addrs, default
