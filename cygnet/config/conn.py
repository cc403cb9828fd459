"""The effective connections: `also=` and `conn %default` merged, defaults filled.

Precedence is Libreswan's: a conn's own settings win, then those of the
conns it names with `also=` (in order, depth first, each with its own
`also=`), then `conn %default`, then the built-in default. The result is a
frozen `ConnSpec` per conn, with its two `End`s, every value typed, and for
each value where it came from (a `file:line`, or "default").

`ConnSpec.ike`/`ConnSpec.esp` stay strings whose alphabet is checked: the
proposal parser (`cygnet.ike.proposals`) owns their meaning.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType

from cygnet.config import keywords as K
from cygnet.config import values
from cygnet.config.errors import ConfigError
from cygnet.config.ipsecconf import ParsedFile, Section, Setting, parse_file, parse_text

DEFAULT = "default"


def _frozen(d: dict[str, object]) -> Mapping[str, object]:
    return MappingProxyType(dict(d))


@dataclass(frozen=True)
class End:
    """One end of a conn (Libreswan's left or right): its `leftX=` values without the prefix.

    `options[""]` is the host (`left=`); `options["subnet"]` is `leftsubnet=`.
    """

    side: str
    options: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))
    origins: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def get(self, key: str, default: object = None) -> object:
        return self.options.get(key, default)

    host = property(lambda self: self.options.get(""), doc="left=: address, DNS name or %word")
    id = property(lambda self: self.options.get("id"), doc="leftid=")
    subnet = property(lambda self: self.options.get("subnet"), doc="leftsubnet=")
    subnets = property(lambda self: self.options.get("subnets", ()), doc="leftsubnets=")
    nexthop = property(lambda self: self.options.get("nexthop"), doc="leftnexthop=")
    cert = property(lambda self: self.options.get("cert"), doc="leftcert= (NSS nickname)")
    ca = property(lambda self: self.options.get("ca"), doc="leftca=")
    ckaid = property(lambda self: self.options.get("ckaid"), doc="leftckaid=")
    sendcert = property(lambda self: self.options.get("sendcert"), doc="leftsendcert=")
    sourceip = property(lambda self: self.options.get("sourceip"), doc="leftsourceip=")
    updown = property(lambda self: self.options.get("updown"), doc="leftupdown=")
    protoport = property(lambda self: self.options.get("protoport"), doc="leftprotoport=")
    addresspool = property(lambda self: self.options.get("addresspool"), doc="leftaddresspool=")
    modecfgserver = property(lambda self: self.options.get("modecfgserver"))
    modecfgclient = property(lambda self: self.options.get("modecfgclient"))
    xauthserver = property(lambda self: self.options.get("xauthserver"))
    xauthclient = property(lambda self: self.options.get("xauthclient"))
    auth = property(lambda self: self.options.get("auth"), doc="leftauth=")

    @property
    def pubkey(self) -> str | None:
        """leftrsasigkey=/leftecdsakey=/leftpubkey=, whichever is set."""
        for key in ("pubkey", "rsasigkey", "ecdsakey"):
            if key in self.options:
                return str(self.options[key])
        return None


@dataclass(frozen=True)
class ConnSpec:
    """One effective `conn NAME` with every keyword typed (defaults included)."""

    name: str
    file: str
    line: int
    left: End
    right: End
    options: Mapping[str, object]
    origins: Mapping[str, str]

    def get(self, key: str, default: object = None) -> object:
        """A conn keyword's value by its canonical name (`ikelifetime`, `dpddelay`...)."""
        return self.options.get(key, default)

    def is_default(self, key: str) -> bool:
        """True when `key` holds Libreswan's built-in default, not a value from a file."""
        return self.origins.get(key) == DEFAULT

    @property
    def ends(self) -> tuple[End, End]:
        return self.left, self.right

    auto = property(lambda self: self.options["auto"], doc="add|start|ondemand|ignore|keep")
    type = property(
        lambda self: self.options["type"], doc="tunnel|transport|passthrough|drop|reject"
    )
    authby = property(lambda self: self.options["authby"], doc="tuple of authby= words")
    ikev2 = property(lambda self: self.options["ikev2"], doc="never|permit|propose|insist")
    ike = property(lambda self: self.options.get("ike"), doc="ike= as written (None: defaults)")
    esp = property(lambda self: self.options.get("esp"), doc="esp=/phase2alg= as written")
    pfs = property(lambda self: self.options["pfs"])
    ikelifetime = property(lambda self: self.options["ikelifetime"])
    salifetime = property(lambda self: self.options["salifetime"])
    rekeymargin = property(lambda self: self.options["rekeymargin"])
    rekeyfuzz = property(lambda self: self.options["rekeyfuzz"])
    keyingtries = property(lambda self: self.options["keyingtries"])
    rekey = property(lambda self: self.options["rekey"])
    dpddelay = property(lambda self: self.options.get("dpddelay"))
    dpdtimeout = property(lambda self: self.options.get("dpdtimeout"))
    dpdaction = property(lambda self: self.options["dpdaction"])
    retransmit_timeout = property(lambda self: self.options["retransmit-timeout"])
    retransmit_interval = property(lambda self: self.options["retransmit-interval"])
    narrowing = property(lambda self: self.options["narrowing"])
    mobike = property(lambda self: self.options["mobike"])
    fragmentation = property(lambda self: self.options["fragmentation"])
    encapsulation = property(lambda self: self.options["encapsulation"])
    nat_keepalive = property(lambda self: self.options["nat-keepalive"])
    failureshunt = property(lambda self: self.options["failureshunt"])
    negotiationshunt = property(lambda self: self.options["negotiationshunt"])
    ppk = property(lambda self: self.options["ppk"])
    enable_tcp = property(lambda self: self.options["enable-tcp"])
    tcp_remoteport = property(lambda self: self.options.get("tcp-remoteport"))
    nic_offload = property(lambda self: self.options["nic-offload"])
    mtu = property(lambda self: self.options.get("mtu"))
    replay_window = property(lambda self: self.options["replay-window"])


@dataclass(frozen=True)
class SetupConfig:
    """`config setup` with every keyword typed (defaults included)."""

    options: Mapping[str, object]
    origins: Mapping[str, str]

    def get(self, key: str, default: object = None) -> object:
        return self.options.get(key, default)

    def is_default(self, key: str) -> bool:
        return self.origins.get(key) == DEFAULT

    protostack = property(lambda self: self.options.get("protostack") or "xfrm")
    listen = property(lambda self: self.options.get("listen"))
    listen_tcp = property(lambda self: self.options["listen-tcp"])
    listen_udp = property(lambda self: self.options["listen-udp"])
    logfile = property(lambda self: self.options.get("logfile"))
    plutodebug = property(lambda self: self.options.get("plutodebug", ()))
    uniqueids = property(lambda self: self.options["uniqueids"])
    keep_alive = property(lambda self: self.options.get("keep-alive") or 20)
    virtual_private = property(lambda self: self.options.get("virtual-private", ()))
    ikev1_policy = property(lambda self: self.options["ikev1-policy"])


@dataclass(frozen=True)
class Config:
    """A loaded ipsec.conf: `config setup`, the conns in file order, the warnings."""

    setup: SetupConfig
    conns: Mapping[str, ConnSpec]
    warnings: tuple[str, ...] = ()
    files: tuple[str, ...] = ()


# ------------------------------------------------------------------ the builder


def _merge_conn(parsed: ParsedFile, sec: Section) -> dict[str, Setting]:
    """Settings of `sec` after also= and %default, first-set wins."""
    merged: dict[str, Setting] = {}

    def take(s: Section) -> None:
        for name, setting in s.settings.items():
            merged.setdefault(name, setting)

    def walk(s: Section, path: list[str]) -> None:
        take(s)
        for also in s.also:
            target = str(also.value)
            if target in path:
                chain = " -> ".join([*path, target])
                raise ConfigError(
                    f'conn "{path[0]}" includes itself through also= ({chain})',
                    file=also.file,
                    line=also.line,
                    keyword="also",
                )
            other = parsed.conns.get(target)
            if other is None:
                raise ConfigError(
                    f"cannot find conn '{target}' needed by conn '{s.name}'",
                    file=also.file,
                    line=also.line,
                    keyword="also",
                )
            walk(other, [*path, target])

    walk(sec, [sec.name])
    for d in reversed(parsed.defaults):
        take(d)
    return merged


def _check(sec: Section, merged: dict[str, Setting]) -> None:
    """The cross-keyword checks Libreswan makes while reading a conn."""
    for side in ("left", "right"):
        if f"{side}subnet" in merged and f"{side}subnets" in merged:
            s = merged[f"{side}subnets"]
            raise ConfigError(
                f"{side}subnet= and {side}subnets= cannot both be set",
                file=s.file,
                line=s.line,
                keyword=f"{side}subnets",
            )
    hosts = [merged.get("left"), merged.get("right")]
    fams = []
    for s in hosts:
        try:
            fams.append(ipaddress.ip_address(str(s.value)).version if s else None)
        except ValueError:
            fams.append(None)
    if fams[0] and fams[1] and fams[0] != fams[1]:
        s = hosts[1]
        assert s is not None
        raise ConfigError(
            f"'{s.text}' is not the same address family as left='{hosts[0].text}'",  # type: ignore[union-attr]
            file=s.file,
            line=s.line,
            keyword="right",
        )


def build_conn(parsed: ParsedFile, sec: Section) -> ConnSpec:
    """The effective ConnSpec of one conn section."""
    merged = _merge_conn(parsed, sec)
    _check(sec, merged)
    opts: dict[str, object] = {}
    origins: dict[str, str] = {}
    ends: dict[str, tuple[dict[str, object], dict[str, str]]] = {
        "left": ({}, {}),
        "right": ({}, {}),
    }
    for kw in K.CONN_KEYWORDS.values():
        if kw.alias_of or kw.obsolete or kw.repeatable:
            continue
        s = merged.get(kw.name)
        if s is not None:
            opts[kw.name], origins[kw.name] = s.value, s.where
        elif kw.default is not None:
            opts[kw.name], origins[kw.name] = kw.default, DEFAULT
    for kw in K.END_KEYWORDS.values():
        if kw.alias_of or kw.obsolete:
            continue
        for side, (eo, eg) in ends.items():
            s = merged.get(f"{side}{kw.name}")
            if s is not None:
                eo[kw.name], eg[kw.name] = s.value, s.where
            elif kw.default is not None:
                eo[kw.name], eg[kw.name] = kw.default, DEFAULT
    left = End("left", _frozen(ends["left"][0]), _frozen(ends["left"][1]))  # type: ignore[arg-type]
    right = End("right", _frozen(ends["right"][0]), _frozen(ends["right"][1]))  # type: ignore[arg-type]
    return ConnSpec(sec.name, sec.file, sec.line, left, right, _frozen(opts), _frozen(origins))  # type: ignore[arg-type]


def build_setup(parsed: ParsedFile) -> SetupConfig:
    """`config setup` with Libreswan's defaults filled in."""
    opts: dict[str, object] = {}
    origins: dict[str, str] = {}
    for name in K.SETUP_ORDER:
        kw = K.SETUP_KEYWORDS[name]
        s = parsed.setup.settings.get(name)
        if s is not None:
            opts[name], origins[name] = s.value, s.where
        elif kw.default is not None:
            opts[name], origins[name] = kw.default, DEFAULT
    return SetupConfig(_frozen(opts), _frozen(origins))  # type: ignore[arg-type]


def build_config(parsed: ParsedFile) -> Config:
    """Turn a parsed file into the Config the daemon uses."""
    conns = {name: build_conn(parsed, sec) for name, sec in parsed.conns.items()}
    return Config(
        build_setup(parsed), MappingProxyType(conns), tuple(parsed.warnings), tuple(parsed.files)
    )


def load_config(path: str) -> Config:
    """Read ipsec.conf at `path` (with its includes); raise ConfigError on the first error."""
    return build_config(parse_file(path))


def loads_config(text: str, path: str = "<string>") -> Config:
    """Like `load_config`, from text."""
    return build_config(parse_text(text, path))


def format_value(value: object) -> str:
    """A typed value written back in ipsec.conf syntax (8h, yes, a,b)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, timedelta):
        ms = round(value.total_seconds() * 1000)
        for unit, size in (("d", 86400000), ("h", 3600000), ("m", 60000), ("s", 1000)):
            if ms and ms % size == 0:
                return f"{ms // size}{unit}"
        return f"{ms}ms"
    if isinstance(value, tuple):
        return ",".join(format_value(x) for x in value)
    return str(value)


def format_setting(key: str, value: object) -> str:
    """`format_value`, plus the `%` a percentage keyword (rekeyfuzz) needs to parse again."""
    found = K.lookup_conn(key) or (K.lookup_setup(key), None)
    kw = found[0]
    if kw is not None and kw.parse is values.percent:
        return f"{value}%"
    return format_value(value)


def json_value(value: object) -> object:
    """A typed value as JSON: durations in seconds, lists as arrays."""
    if isinstance(value, timedelta):
        secs = value.total_seconds()
        return int(secs) if secs == int(secs) else secs
    if isinstance(value, tuple):
        return [json_value(x) for x in value]
    return value
