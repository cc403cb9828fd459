"""Connections as pluto holds them: a `conn` from ipsec.conf, oriented, made into an IkePolicy.

Adding a connection resolves everything the engine needs (IDs, keys from the
NSS database or raw `0s` keys, the PSK from ipsec.secrets, proposals,
selectors), so negotiation never touches files. The manager also answers the
engine's responder questions (`PolicyLookup`): which connection fits an
IKE_SA_INIT from this address, and which one fits the peer's ID at IKE_AUTH.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from cygnet.config.conn import ConnSpec
from cygnet.config.errors import ConfigError
from cygnet.config.orient import OrientedConn, orient
from cygnet.config.secrets import Secrets
from cygnet.ike import proposals as props
from cygnet.ike import ts as tsmod
from cygnet.ike.natd import Endpoint
from cygnet.ike.payloads import Identity, TrafficSelector
from cygnet.ike.policy import AuthPolicy, IkePolicy
from cygnet.pki.ckaid import ckaid_of
from cygnet.pki.rawkey import pubkey_from_0s


class ConnError(Exception):
    """A conn that cannot be added; the message is pluto's wording."""


@dataclass
class Connection:
    """One added connection and what pluto tracks about it."""

    name: str
    spec: ConnSpec
    oriented: OrientedConn
    policy: IkePolicy
    serial: int
    routed: bool = False
    newest_ike: int = 0
    newest_child: int = 0
    up_wanted: bool = False  # auto=start or `ipsec auto --up`: keep it up (revive)
    children: set[int] = field(default_factory=set)

    @property
    def remote_host(self) -> str:
        return str(self.oriented.remote.host)

    @property
    def remote_is_any(self) -> bool:
        return self.remote_host in ("%any", "%any6", "%opportunistic", "%opportunisticgroup",
                                    "%group")

    def remote_endpoint(self) -> Endpoint:
        return Endpoint(ipaddress.ip_address(self.remote_host), 500)

    def local_endpoint(self) -> Endpoint:
        return Endpoint(ipaddress.ip_address(self.oriented.local_addr), 500)


def _identity(end_id: object, host: str | None) -> Identity | None:
    """Libreswan's default ID is the end's IP address; %any/%fromcert leave it open."""
    text = str(end_id) if end_id not in (None, "") else None
    if text in ("%any", "%fromcert", "%none") or (text is None and host in (None, "%any", "%any6")):
        return None
    if text is None:
        text = str(host)
    return Identity.from_libreswan(text)


def _selectors(end: Any, host: str | None) -> tuple[TrafficSelector, ...]:
    proto, port = 0, None
    pp = end.protoport
    if pp:
        proto_s, _, port_s = str(pp).partition("/")
        names = {"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58, "sctp": 132, "gre": 47}
        proto = names.get(proto_s.lower(), int(proto_s) if proto_s.isdigit() else 0)
        port = int(port_s) if port_s.isdigit() else None
    nets = [end.subnet] if end.subnet else list(end.subnets or ())
    if not nets:
        if host is None or host.startswith("%"):
            return ()
        a = ipaddress.ip_address(host)
        nets = [f"{a}/{a.max_prefixlen}"]
    return tuple(tsmod.from_network(str(n), proto, port) for n in nets)


def _seconds(v: object, default: float) -> float:
    if v is None:
        return default
    return float(v.total_seconds()) if hasattr(v, "total_seconds") else float(v)  # type: ignore[arg-type]


class ConnectionManager:
    """Added connections, keyed by name, and the engine's `PolicyLookup`."""

    def __init__(
        self,
        *,
        local_addresses: Callable[[], tuple[set[str], str | None]],
        secrets: Callable[[], Secrets | None],
        nss: Callable[[], Any],
        fips: bool = False,
    ) -> None:
        self._local_addresses = local_addresses
        self._secrets = secrets
        self._nss = nss
        self._fips = fips
        self.conns: dict[str, Connection] = {}
        self._serial = 0

    # ------------------------------------------------------------------ add/delete

    def add(self, spec: ConnSpec) -> Connection:
        """Orient and resolve a conn; raises ConnError in pluto's words."""
        addrs, default = self._local_addresses()
        try:
            oriented = orient(spec, addrs, default)
        except ConfigError as e:
            raise ConnError(f'"{spec.name}": failed to add connection: {e.message}') from e
        if spec.ikev2 == "never":
            raise ConnError(f'"{spec.name}": failed to add connection: IKEv1 is not '
                                   "supported (ikev2=never)")
        policy = self._policy(spec, oriented)
        self._serial += 1
        old = self.conns.get(spec.name)
        conn = Connection(spec.name, spec, oriented, policy, self._serial)
        if old is not None:
            conn.up_wanted = old.up_wanted
        self.conns[spec.name] = conn
        return conn

    def refresh_secrets(self) -> None:
        """Rebuild policies after `ipsec rereadsecrets` (PSKs may have changed)."""
        for c in self.conns.values():
            c.policy = self._policy(c.spec, c.oriented)

    def _auth(self, spec: ConnSpec, o: OrientedConn, local_id: Identity | None,
              remote_id: Identity | None) -> tuple[AuthPolicy, AuthPolicy]:
        authby = spec.authby[0] if spec.authby else "rsasig"
        local_auth = str(o.local.auth or authby)
        remote_auth = str(o.remote.auth or authby)
        if local_auth == "rsa":
            local_auth = "rsasig"
        if remote_auth == "rsa":
            remote_auth = "rsasig"
        if "secret" in (local_auth, remote_auth):
            secrets = self._secrets()
            lid = str(local_id) if local_id else str(o.local_addr)
            rid = str(remote_id) if remote_id else "%any"
            secret = secrets.find_psk(lid, rid) if secrets is not None else None
            psk = secret.value if secret is not None else None
            return (AuthPolicy("secret", psk=psk) if local_auth == "secret" else self._key_auth(local_auth, o, spec, local=True),
                    AuthPolicy("secret", psk=psk) if remote_auth == "secret" else self._key_auth(remote_auth, o, spec, local=False))
        return (self._key_auth(local_auth, o, spec, local=True),
                self._key_auth(remote_auth, o, spec, local=False))

    def _key_auth(self, authby: str, o: OrientedConn, spec: ConnSpec, *, local: bool) -> AuthPolicy:
        if authby in ("null", "never"):
            return AuthPolicy("null")
        kind = "ecdsa" if authby == "ecdsa" else "rsa"
        authby = authby if authby in ("rsasig", "rsa-sha1", "rsa-sha2", "ecdsa") else "rsasig"
        end = o.local if local else o.remote
        pub_text = end.pubkey
        public = None
        if pub_text and pub_text.startswith(("0s", "0x")):
            try:
                public = pubkey_from_0s(pub_text, kind)
            except ValueError as e:
                raise ConnError(f'"{spec.name}": failed to add connection: '
                                       f"{end.side}{kind}sigkey= is not a valid key: {e}") from e
        if not local:
            return AuthPolicy(authby, public_key=public)
        private = None
        db = self._nss()
        if db is not None:
            try:
                if end.cert:
                    private = db.private_key_for_cert(str(end.cert))
                elif end.ckaid:
                    private = db.private_key(str(end.ckaid))
                elif public is not None:
                    private = db.private_key(ckaid_of(public))
            except Exception as e:  # NssKeyNotFound, NssError: pluto refuses the conn
                raise ConnError(
                    f'"{spec.name}": failed to add connection: private key for '
                    f"{end.side}{'cert' if end.cert else kind + 'sigkey'} not found in the NSS "
                    f"database: {e}") from e
        return AuthPolicy(authby, private_key=private)

    def _policy(self, spec: ConnSpec, o: OrientedConn) -> IkePolicy:
        remote_host = str(o.remote.host) if o.remote.host is not None else None
        local_id = _identity(o.local.id, o.local_addr)
        remote_id = _identity(o.remote.id, remote_host)
        if local_id is None:
            local_id = Identity.from_libreswan(o.local_addr)
        local_auth, remote_auth = self._auth(spec, o, local_id, remote_id)
        if local_auth.authby == "null":
            local_id = Identity.from_libreswan("%null")
        try:
            ike = tuple(props.parse_ike(spec.ike, fips=self._fips)) if spec.ike else tuple(
                props.default_ike_proposals(fips=self._fips))
            first = props.first_ke(ike)
            esp_all = props.parse_esp(spec.esp, pfs=bool(spec.pfs), ike_ke=first, fips=self._fips) \
                if spec.esp else props.default_esp_proposals(first if spec.pfs else None,
                                                             fips=self._fips)
        except props.ProposalError as e:
            raise ConnError(f'"{spec.name}": failed to add connection: {e.whack_message}') from e
        pfs_groups = tuple(dict.fromkeys(
            g for p in esp_all for g in [props.ke_of(p)] if g is not None)) if spec.pfs else ()
        esp = tuple(props.set_ke(esp_all, ()))
        return IkePolicy(
            name=spec.name,
            local_id=local_id,
            remote_id=remote_id,
            local_auth=local_auth,
            remote_auth=remote_auth,
            ike_proposals=ike,
            esp_proposals=esp,
            local_ts=_selectors(o.local, o.local_addr),
            remote_ts=_selectors(o.remote, remote_host),
            pfs_groups=pfs_groups,  # type: ignore[arg-type]
            transport=spec.type == "transport",
            narrowing=bool(spec.narrowing),
            retransmit_interval=_seconds(spec.retransmit_interval, 0.5),
            retransmit_timeout=_seconds(spec.retransmit_timeout, 60.0),
            dpd_delay=_seconds(spec.dpddelay, 0.0),
            # Libreswan 4.10 sends INITIAL_CONTACT only with initial-contact=yes: a peer
            # receiving it drops every other IKE SA with us (RFC 7296 §2.4).
            send_initial_contact=bool(spec.get("initial-contact", False)),
            encapsulation=str(spec.encapsulation or "auto"),
        )

    def delete(self, name: str) -> Connection | None:
        return self.conns.pop(name, None)

    # ------------------------------------------------------------------ PolicyLookup

    def _candidates(self, local: Endpoint, remote: Endpoint) -> list[Connection]:
        out = []
        for c in self.conns.values():
            if str(local.ip) != c.oriented.local_addr:
                continue
            if c.remote_is_any or c.remote_host == str(remote.ip):
                out.append(c)
        # exact peers before %any templates, as pluto prefers the most specific match
        out.sort(key=lambda c: c.remote_is_any)
        return out

    def for_ike_sa_init(self, local: Endpoint, remote: Endpoint) -> IkePolicy | None:
        found = self._candidates(local, remote)
        return found[0].policy if found else None

    def for_ike_auth(self, current: IkePolicy, local: Endpoint, remote: Endpoint,
                     peer_id: Identity, our_id: Identity | None) -> IkePolicy | None:
        best: IkePolicy | None = None
        for c in self._candidates(local, remote):
            p = c.policy
            if our_id is not None and our_id != p.local_id:
                continue
            if p.remote_id is not None and p.remote_id == peer_id:
                return p
            if p.remote_id is None and best is None:
                best = replace(p)
        return best

    def alternatives(self, current: IkePolicy) -> list[IkePolicy]:
        """Other connections with the same ends and IDs, in file order: a responder picks the
        one a Child SA's selectors fit (mytunnel, mysubnet, mysubnet6 in the spec's §4.4)."""
        base = self.conns.get(current.name)
        if base is None:
            return []
        out = []
        for c in self.conns.values():
            if c is base or c.oriented.local_addr != base.oriented.local_addr:
                continue
            if c.remote_host != base.remote_host:
                continue
            p = c.policy
            if p.local_id == current.local_id and p.remote_id == current.remote_id:
                out.append(p)
        return out

    def by_policy(self, policy: IkePolicy) -> Connection | None:
        return self.conns.get(policy.name)
