"""Opportunistic-IPsec policy groups: ``/etc/ipsec.d/policies/*``.

Each group file (``private``, ``private-or-clear``, ``clear-or-private``,
``clear``, ``block``) lists remote networks, one per line, as Libreswan 4.10's
``foodgroups.c`` reads them: ``CIDR`` or a bare address (``/32``, ``/128``),
optionally followed by ``PROTOCOL SOURCE_PORT DEST_PORT``; ``#`` comments and
blank lines are ignored; a missing file is an empty group.  Host bits set in a
CIDR are an error in 4.10 ("improper subnet, host-part bits on").

A destination belongs to the group holding its most specific entry (longest
prefix, then protocol/port-specific entries before plain ones), because each
entry becomes a trap policy and the kernel prefers the more specific one.
Libreswan refuses a second copy of an entry that another group already holds
("already ...") and keeps the group it read first - the most recently added
group connection.  Cygnet reads the groups in `precedence` order, by default
most restrictive first, so a network listed both in ``private`` and in
``clear`` stays private; the duplicate is reported on `PolicyGroups.warnings`.

``portexcludes.conf`` (read by Libreswan's ``ipsec _portexcludes``) is parsed
too: ``DIRECTION PROTOCOL SOURCE DEST PRIORITY`` per line.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass

from cygnet.config.errors import FileLineError
from cygnet.config.secrets import Token, tokenize

__all__ = [
    "DEFAULT_PRECEDENCE",
    "GROUP_NAMES",
    "PORTEXCLUDES_FILE",
    "PolicyEntry",
    "PolicyError",
    "PolicyGroups",
    "PortExclude",
    "load_policy_groups",
]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

GROUP_NAMES = ("private", "private-or-clear", "clear-or-private", "clear", "block")
DEFAULT_PRECEDENCE = ("block", "private", "private-or-clear", "clear-or-private", "clear")
PORTEXCLUDES_FILE = "portexcludes.conf"


class PolicyError(FileLineError):
    """A problem in a policy-group file, located as ``FILE:LINE: message``."""


@dataclass(frozen=True)
class PolicyEntry:
    """One line of a group file; protocol/ports 0 mean "any"."""

    group: str
    network: Network
    protocol: int
    sport: int
    dport: int
    file: str
    line: int

    def matches(self, address: Address, protocol: int, sport: int, dport: int) -> bool:
        """Whether a packet to `address` with these protocol/ports falls under this entry."""
        if address.version != self.network.version or address not in self.network:
            return False
        if self.protocol and self.protocol != protocol:
            return False
        if self.sport and self.sport != sport:
            return False
        return not (self.dport and self.dport != dport)

    def specificity(self) -> tuple[int, int]:
        return (self.network.prefixlen, bool(self.protocol) + bool(self.sport) + bool(self.dport))


@dataclass(frozen=True)
class PortExclude:
    """One ``portexcludes.conf`` rule: traffic to let through in the clear.

    A network of None means "any address of either family"; port 0 is any.
    """

    direction: str  # in, out, both
    protocol: int
    source: Network | None
    sport: int
    dest: Network | None
    dport: int
    priority: int
    file: str
    line: int


class PolicyGroups:
    """The group files of one policies directory, and the lookup over them."""

    def __init__(
        self,
        directory: str,
        entries: tuple[PolicyEntry, ...],
        *,
        names: tuple[str, ...] = GROUP_NAMES,
        precedence: tuple[str, ...] = DEFAULT_PRECEDENCE,
        portexcludes: tuple[PortExclude, ...] = (),
        warnings: tuple[str, ...] = (),
        errors: tuple[str, ...] = (),
    ) -> None:
        self.directory = directory
        self.entries = entries
        self.precedence = precedence
        self.portexcludes = portexcludes
        self.warnings = warnings
        self.errors = errors
        groups: dict[str, list[Network]] = {name: [] for name in names}
        for e in entries:
            groups.setdefault(e.group, []).append(e.network)
        self.groups: dict[str, tuple[Network, ...]] = {k: tuple(v) for k, v in groups.items()}

    def __repr__(self) -> str:
        return f"PolicyGroups({self.directory!r}, {len(self.entries)} entries)"

    def entry_for(
        self, address: str | Address, *, protocol: int = 0, sport: int = 0, dport: int = 0
    ) -> PolicyEntry | None:
        """The most specific entry covering `address` (and protocol/ports), if any."""
        addr = ipaddress.ip_address(address) if isinstance(address, str) else address
        rank = {name: i for i, name in enumerate(self.precedence)}
        best: PolicyEntry | None = None
        best_key: tuple[tuple[int, int], int] | None = None
        for e in self.entries:
            if not e.matches(addr, protocol, sport, dport):
                continue
            key = (e.specificity(), -rank.get(e.group, len(rank)))
            if best_key is None or key > best_key:
                best, best_key = e, key
        return best

    def group_for(
        self, address: str | Address, *, protocol: int = 0, sport: int = 0, dport: int = 0
    ) -> str | None:
        """The group name governing traffic to `address`, or None when no group lists it."""
        entry = self.entry_for(address, protocol=protocol, sport=sport, dport=dport)
        return None if entry is None else entry.group


class _GroupReader:
    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.warnings: list[str] = []
        self.errors: list[str] = []

    def problem(self, file: str, line: int | None, message: str) -> None:
        err = PolicyError(file, line, message)
        if self.strict:
            raise err
        self.errors.append(str(err))

    def read(self, path: str) -> str | None:
        try:
            with open(path, "rb") as f:
                return f.read().decode("latin-1")
        except FileNotFoundError:
            return None
        except OSError as e:
            self.problem(path, None, f"could not open: {e.strerror}")
            return None

    def group(self, path: str, name: str) -> list[PolicyEntry]:
        text = self.read(path)
        if text is None:
            return []
        entries: list[PolicyEntry] = []
        for rec in tokenize(text, lambda line, msg: self.problem(path, line, msg)):
            try:
                entries.append(self.entry(path, name, rec.line, rec.tokens))
            except PolicyError as e:
                if self.strict:
                    raise
                self.errors.append(str(e))
        return entries

    def entry(self, path: str, name: str, line: int, toks: list[Token]) -> PolicyEntry:
        network = _network(path, line, toks[0].text)
        protocol = sport = dport = 0
        if len(toks) > 1:
            protocol = _protocol(path, line, toks[1].text)
            if len(toks) < 3:
                raise PolicyError(
                    path,
                    line,
                    "missing source_port: either only specify CIDR, or specify CIDR protocol source_port dest_port",
                )
            sport = _port(path, line, toks[2].text, "source")
            if len(toks) < 4:
                raise PolicyError(
                    path,
                    line,
                    "missing dest_port: either only specify CIDR, or specify CIDR protocol source_port dest_port",
                )
            dport = _port(path, line, toks[3].text, "destination")
            if len(toks) > 4:
                raise PolicyError(
                    path,
                    line,
                    f"garbage '{toks[4].text}' at end of line: either only specify CIDR, or specify CIDR protocol source_port dest_port",
                )
        return PolicyEntry(name, network, protocol, sport, dport, path, line)

    def portexcludes(self, path: str) -> list[PortExclude]:
        text = self.read(path)
        if text is None:
            return []
        rules: list[PortExclude] = []
        for lineno, raw in enumerate(text.split("\n"), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            try:
                rules.append(_portexclude(path, lineno, line))
            except PolicyError as e:
                if self.strict:
                    raise
                self.errors.append(str(e))
        return rules


def _network(path: str, line: int, tok: str) -> Network:
    if "%" in tok:
        raise PolicyError(path, line, f"'{tok}' is not a subnet: scoped addresses are not allowed")
    if "/" not in tok:
        try:
            return ipaddress.ip_network(ipaddress.ip_address(tok))
        except ValueError:
            raise PolicyError(path, line, f"'{tok}' is not an address") from None
    # Like Libreswan, the family follows from the text: a ':' means IPv6.
    family = ipaddress.IPv6Network if ":" in tok else ipaddress.IPv4Network
    try:
        return family(tok, strict=True)
    except ValueError as e:
        try:
            loose = family(tok, strict=False)
        except ValueError:
            raise PolicyError(path, line, f"'{tok}' is not a subnet: {e}") from None
        raise PolicyError(
            path,
            line,
            f"'{tok}' is not a subnet: improper subnet, host-part bits on (did you mean {loose}?)",
        ) from None


def _protocol(path: str, line: int, tok: str) -> int:
    try:
        proto = int(tok) if tok.isdigit() else socket.getprotobyname(tok)
    except OSError:
        raise PolicyError(path, line, f"protocol '{tok}' invalid: unknown protocol name") from None
    if not 0 <= proto <= 255:
        raise PolicyError(path, line, f"protocol '{tok}' invalid: out of range")
    if proto in (0, socket.IPPROTO_ESP, socket.IPPROTO_AH):
        raise PolicyError(
            path,
            line,
            f"invalid protocol '{tok}' - mistakenly defined to be 0 or 50(esp) or 51(ah)",
        )
    return proto


def _port(path: str, line: int, tok: str, which: str) -> int:
    try:
        port = int(tok) if tok.isdigit() else socket.getservbyname(tok)
    except OSError:
        raise PolicyError(
            path, line, f"{which} port '{tok}' invalid: unknown service name"
        ) from None
    if not 0 <= port <= 65535:
        raise PolicyError(path, line, f"{which} port '{tok}' invalid: out of range")
    return port


def _endpoint(path: str, line: int, tok: str, which: str) -> tuple[Network | None, int]:
    """portexcludes address forms: any, any4, any6, PORT, CIDR, CIDR@PORT."""
    if tok == "any":
        return None, 0
    if tok == "any4":
        return ipaddress.IPv4Network("0.0.0.0/0"), 0
    if tok == "any6":
        return ipaddress.IPv6Network("::/0"), 0
    if tok.isdigit():
        return None, _port(path, line, tok, which)
    net, _, port = tok.partition("@")
    return _network(path, line, net), (_port(path, line, port, which) if port else 0)


def _portexclude(path: str, line: int, text: str) -> PortExclude:
    fields = text.split()
    if len(fields) != 5:
        raise PolicyError(
            path, line, "broken line: expected DIRECTION PROTOCOL SOURCE DEST PRIORITY"
        )
    direction, proto, source, dest, prio = fields
    if direction not in ("in", "out", "both"):
        raise PolicyError(path, line, f"direction '{direction}' invalid: expected in, out or both")
    protocol = _protocol(path, line, proto)
    snet, sport = _endpoint(path, line, source, "source")
    dnet, dport = _endpoint(path, line, dest, "destination")
    if snet is not None and dnet is not None and snet.version != dnet.version:
        raise PolicyError(path, line, "cannot mix ipv4 and ipv6")
    if snet is None and dnet is None and source == "any" and dest == "any":
        raise PolicyError(path, line, "rule for any to any would cover ALL traffic")
    if not prio.isdigit():
        raise PolicyError(path, line, f"priority '{prio}' invalid")
    return PortExclude(direction, protocol, snet, sport, dnet, dport, int(prio), path, line)


def load_policy_groups(
    directory: str,
    *,
    names: tuple[str, ...] = GROUP_NAMES,
    precedence: tuple[str, ...] | None = None,
    strict: bool = True,
) -> PolicyGroups:
    """Read the group files in `directory` (normally /etc/ipsec.d/policies).

    `names` are the groups to read (Libreswan reads one file per group
    connection); `precedence` decides which group keeps an entry listed in
    several (first wins; names missing from it come last).  With `strict` the
    first bad line raises `PolicyError`; otherwise, as pluto does, bad lines
    are skipped and described on `PolicyGroups.errors`.
    """
    order = tuple(precedence) if precedence is not None else DEFAULT_PRECEDENCE
    ranked = sorted(names, key=lambda n: order.index(n) if n in order else len(order))
    reader = _GroupReader(strict)
    kept: dict[tuple[Network, int, int, int], PolicyEntry] = {}
    per_group: dict[str, list[PolicyEntry]] = {}
    for name in ranked:
        for e in reader.group(os.path.join(directory, name), name):
            key = (e.network, e.protocol, e.sport, e.dport)
            if key in kept:
                reader.warnings.append(
                    f'{e.file}:{e.line}: subnet "{e.network}", proto {e.protocol}, sport {e.sport} '
                    f'dport {e.dport}, already "{kept[key].group}"; ignored'
                )
                continue
            kept[key] = e
            per_group.setdefault(name, []).append(e)
    # Report entries grouped by name in `names` order, file order within a group.
    entries = tuple(e for name in names for e in per_group.get(name, ()))
    excludes = tuple(reader.portexcludes(os.path.join(directory, PORTEXCLUDES_FILE)))
    return PolicyGroups(
        directory,
        entries,
        names=tuple(names),
        precedence=order,
        portexcludes=excludes,
        warnings=tuple(reader.warnings),
        errors=tuple(reader.errors),
    )
