"""Two in-memory IKE engines (west and east) and a lossy wire between them.

No sockets: datagrams the engines emit are queued and delivered by `run()`,
which can drop or duplicate chosen ones and advances a fake clock through
retransmission timers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from cygnet.ike import proposals as props
from cygnet.ike import ts
from cygnet.ike.engine import IkeEngine
from cygnet.ike.events import Event, InstallChildSa, LogLine, SendDatagram
from cygnet.ike.message import peek_header
from cygnet.ike.natd import Endpoint
from cygnet.ike.payloads import Identity
from cygnet.ike.policy import AuthPolicy, IkePolicy
from cygnet.ike.sa import IkeSa

WEST = Endpoint.parse("192.1.2.45", 500)
EAST = Endpoint.parse("192.1.2.23", 500)

_KEYS: dict[tuple[str, str], object] = {}


def rsa_key(name: str) -> rsa.RSAPrivateKey:
    if ("rsa", name) not in _KEYS:
        _KEYS["rsa", name] = rsa.generate_private_key(65537, 2048)
    return _KEYS["rsa", name]  # type: ignore[return-value]


def ec_key(name: str) -> ec.EllipticCurvePrivateKey:
    if ("ec", name) not in _KEYS:
        _KEYS["ec", name] = ec.generate_private_key(ec.SECP256R1())
    return _KEYS["ec", name]  # type: ignore[return-value]


def policy(
    side: str,
    *,
    authby: str = "secret",
    psk: bytes = b"a very secret and long pre-shared key",
    peer_psk: bytes | None = None,
    ike: str | None = None,
    esp: str | None = None,
    pfs: bool = True,
    subnets: tuple[str, str] | None = None,
    name: str = "westnet-eastnet",
    **kw: object,
) -> IkePolicy:
    """A conn as Libreswan would orient it on `side` ('west' or 'east')."""
    me, peer = ("west", "east") if side == "west" else ("east", "west")
    addrs = {"west": WEST, "east": EAST}
    nets = subnets or (str(addrs[me].ip) + "/32", str(addrs[peer].ip) + "/32")
    local_auth = remote_auth = AuthPolicy(authby, psk=psk)
    if authby in ("rsasig", "rsa-sha1", "rsa-sha2"):
        local_auth = AuthPolicy(authby, private_key=rsa_key(me))
        remote_auth = AuthPolicy(authby, public_key=rsa_key(peer).public_key())
    elif authby == "ecdsa":
        local_auth = AuthPolicy(authby, private_key=ec_key(me))
        remote_auth = AuthPolicy(authby, public_key=ec_key(peer).public_key())
    elif authby == "secret" and peer_psk is not None:
        remote_auth = AuthPolicy(authby, psk=peer_psk)
    ike_p = tuple(props.parse_ike(ike) if ike else props.default_ike_proposals())
    esp_p = tuple(props.set_ke(props.parse_esp(esp) if esp else props.default_esp_proposals(), ()))
    groups = tuple(g for g in [props.first_ke(ike_p)] if g is not None) if pfs else ()
    ident = Identity.from_libreswan("%null") if authby == "null" else Identity.from_libreswan(f"@{me}")
    peer_id = None if authby == "null" else Identity.from_libreswan(f"@{peer}")
    return IkePolicy(
        name=name, local_id=ident, remote_id=peer_id, local_auth=local_auth,
        remote_auth=remote_auth, ike_proposals=ike_p, esp_proposals=esp_p,
        local_ts=(ts.from_network(nets[0]),), remote_ts=(ts.from_network(nets[1]),),
        pfs_groups=groups, **kw,  # type: ignore[arg-type]
    )


@dataclass
class OneConn:
    """A PolicyLookup with one connection, as a responder's config would hold."""

    policy: IkePolicy

    def for_ike_sa_init(self, local: Endpoint, remote: Endpoint) -> IkePolicy | None:
        return self.policy

    def for_ike_auth(self, current: IkePolicy, local: Endpoint, remote: Endpoint,
                     peer_id: Identity, our_id: Identity | None) -> IkePolicy | None:
        if current.remote_id is not None and peer_id != current.remote_id:
            return None
        return current


@dataclass
class Wire:
    """Delivers datagrams between the two engines; `drop`/`dup` pick victims by index."""

    west: IkeEngine
    east: IkeEngine
    now: float = 0.0
    sent: list[tuple[str, bytes]] = field(default_factory=list)
    logs: dict[str, list[str]] = field(default_factory=lambda: {"west": [], "east": []})
    events: dict[str, list[Event]] = field(default_factory=lambda: {"west": [], "east": []})
    drop: Callable[[int, str, bytes], bool] = lambda i, src, d: False
    dup: Callable[[int, str, bytes], bool] = lambda i, src, d: False
    _queue: list[tuple[str, SendDatagram]] = field(default_factory=list)

    def feed(self, side: str, events: list[Event]) -> None:
        for ev in events:
            self.events[side].append(ev)
            if isinstance(ev, LogLine):
                self.logs[side].append(ev.text)
            elif isinstance(ev, SendDatagram):
                self._queue.append((side, ev))

    def run(self, until: float = 120.0, max_steps: int = 500) -> None:
        """Deliver until quiet, firing timers (fake clock) while anything is pending."""
        for _ in range(max_steps):
            if self._queue:
                src, ev = self._queue.pop(0)
                i = len(self.sent)
                self.sent.append((src, ev.data))
                if self.drop(i, src, ev.data):
                    continue
                dst = self.east if src == "west" else self.west
                name = "east" if src == "west" else "west"
                copies = 2 if self.dup(i, src, ev.data) else 1
                for _ in range(copies):
                    self.feed(name, dst.receive(ev.data, ev.remote, ev.local, self.now))
                continue
            timers = [t for t in (self.west.get_timer(), self.east.get_timer()) if t is not None]
            if not timers or min(timers) > until:
                return
            self.now = max(self.now, min(timers))
            self.feed("west", self.west.handle_timer(self.now))
            self.feed("east", self.east.handle_timer(self.now))
        raise AssertionError("the exchange did not settle")

    def installed(self, side: str) -> list[InstallChildSa]:
        return [e for e in self.events[side] if isinstance(e, InstallChildSa)]


def pair(west_policy: IkePolicy, east_policy: IkePolicy, **engine_kw: object) -> tuple[Wire, IkeSa]:
    """Engines for both hosts with west initiating; returns the wire and west's IKE SA."""
    west = IkeEngine(OneConn(west_policy), now=0.0, **engine_kw)  # type: ignore[arg-type]
    east = IkeEngine(OneConn(east_policy), now=0.0, **engine_kw)  # type: ignore[arg-type]
    wire = Wire(west, east)
    sa, events = west.initiate(west_policy, WEST, EAST, 0.0)
    wire.feed("west", events)
    return wire, sa


def exchange_of(data: bytes) -> int:
    return peek_header(data).exchange


def with_name(p: IkePolicy, name: str) -> IkePolicy:
    return replace(p, name=name)
