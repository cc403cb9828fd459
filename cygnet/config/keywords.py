"""The ipsec.conf keyword table, after Libreswan 4.10.

Names, sections, value types and defaults follow Libreswan 4.10's
`lib/libipsecconf/keywords.c` (the table) and `confread.c` (the defaults),
and the ipsec.conf(5) man page of that release. A keyword is either a
`config setup` keyword or a `conn` keyword; a conn keyword marked
`leftright` exists only as `leftX=`/`rightX=` (the bare `left=`/`right=` are
the `host` of each end). Obsolete keywords are still recognised so that they
warn and are ignored, the way Libreswan does; anything not here is an error.

Defaults are typed values. They are Libreswan 4.10's built-in defaults
(`ipsec addconn --configsetup` prints the `config setup` ones, see
`reference/libreswan-4.10-outputs/A-addconn-configsetup.txt`); a keyword
whose default is `None` is simply unset unless the file sets it. The conn
defaults were checked against what 4.10's pluto reports for a conn that
sets none of them (`reference/libreswan-4.10-outputs/A-whack-status-loaded.txt`:
ike_life 28800s, ipsec_life 28800s, replay_window 128, rekey_margin 540s,
rekey_fuzz 100%, keyingtries 0, retransmit-interval 500ms,
retransmit-timeout 60s, ESN_NO+ESN_YES, metric 0, vti-routing no,
nic-offload auto, iketcp-port 4500, dpdaction hold, encaps auto).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from cygnet.config import values as v

SETUP = "config setup"
CONN = "conn"


@dataclass(frozen=True)
class Keyword:
    """One keyword: where it may appear, how its value parses, its default."""

    name: str
    section: str
    parse: v.Parser = field(compare=False, repr=False)
    default: object = None
    leftright: bool = False
    #: the canonical keyword this spelling stands for (keylife -> salifetime)
    alias_of: str | None = None
    #: recognised but ignored, with Libreswan's warning
    obsolete: bool = False
    #: `also=` may be repeated; every other keyword only once per section
    repeatable: bool = False
    #: what `--configsetup` prints for the value, when it differs from str()
    export: str | None = None


_TABLE: list[Keyword] = []


def _k(
    name: str, section: str, parse: v.Parser = v.string, default: object = None, **kw: object
) -> None:
    _TABLE.append(Keyword(name, section, parse, default, **kw))  # type: ignore[arg-type]


def _alias(name: str, target: str) -> None:
    base = next(k for k in _TABLE if k.name == target)
    _TABLE.append(
        Keyword(name, base.section, base.parse, base.default, base.leftright, alias_of=target)
    )


def _obsolete(name: str, section: str, leftright: bool = False) -> None:
    _TABLE.append(Keyword(name, section, v.string, None, leftright, obsolete=True))


def _enum(*words: str, **aliases: str) -> dict[str, str]:
    d = {w: w for w in words}
    d.update({k.replace("_", "-"): val for k, val in aliases.items()})
    return d


# ------------------------------------------------------------------ config setup
# Listed in Libreswan 4.10's table order: `ipsec addconn --configsetup` prints
# in this order (A-addconn-configsetup.txt).

_IKEV1_POLICY = {"accept": "accept", "reject": "reject", "drop": "drop"}
_DDOS = {"auto": "auto", "busy": "busy", "unlimited": "unlimited"}
_PLUTODEBUG_WORDS = {
    w: w
    for w in (
        "none",
        "all",
        "base",
        "cpu-usage",
        "crypt",
        "tmi",
        "private",
        "proposal-parser",
        "details",
        "raw",
        "parsing",
        "emitting",
        "control",
        "lifecycle",
        "kernel",
        "dns",
        "oppo",
        "oppoinfo",
        "controlmore",
        "x509",
        "dpd",
        "natt",
        "nattraversal",
        "xauth",
        "retransmits",
        "oppo",
        "whackwatch",
        "responder",
        "routing",
        "helper",
        "ike",
        "updown",
    )
}

_k("ikev1-policy", SETUP, v.enum(_IKEV1_POLICY, "ikev1-policy"), "drop")
_k("curl-iface", SETUP)
_k("curl-timeout", SETUP, v.duration)
_k("myvendorid", SETUP)
_k("syslog", SETUP)
_k("plutodebug", SETUP, v.enum_list(_PLUTODEBUG_WORDS, "plutodebug"))
_k("logfile", SETUP, v.filename)
_alias("plutostderrlog", "logfile")
_k("logtime", SETUP, v.boolean, True)
_alias("plutostderrlogtime", "logtime")
_k("logappend", SETUP, v.boolean, True)
_k("logip", SETUP, v.boolean, True)
_k("audit-log", SETUP, v.boolean, True)
_k("dnssec-enable", SETUP, v.boolean, True)
_k("dnssec-rootkey-file", SETUP, v.filename, "/usr/share/dns/root.key")
_k("dnssec-anchors", SETUP, v.filename)
_k("dumpdir", SETUP, v.filename, "/run/pluto")
_k("ipsecdir", SETUP, v.filename, "/etc/ipsec.d")
_k("nssdir", SETUP, v.filename, "/var/lib/ipsec/nss")
_k("secretsfile", SETUP, v.filename, "/etc/ipsec.secrets")
_k("statsbin", SETUP, v.filename)
_k("uniqueids", SETUP, v.boolean, True)
_k("shuntlifetime", SETUP, v.duration, timedelta(minutes=15))
_k("crl-strict", SETUP, v.boolean, False)
_alias("strictcrlpolicy", "crl-strict")
_k("crlcheckinterval", SETUP, v.duration)
_k("ocsp-strict", SETUP, v.boolean, False)
_k("ocsp-enable", SETUP, v.boolean, False)
_k("ocsp-uri", SETUP)
_k("ocsp-timeout", SETUP, v.number, 2)
_k("ocsp-trustname", SETUP)
_k("ocsp-cache-size", SETUP, v.number, 1000)
_k("ocsp-cache-min-age", SETUP, v.duration, timedelta(hours=1))
_k("ocsp-cache-max-age", SETUP, v.duration, timedelta(days=1))
_k("ocsp-method", SETUP, v.enum({"get": "get", "post": "post"}, "ocsp-method"))
_k("ddos-mode", SETUP, v.enum(_DDOS, "ddos-mode"), "auto")
_k("ddos-ike-threshold", SETUP, v.number, 25000)
_k("max-halfopen-ike", SETUP, v.number, 50000)
_k("ike-socket-bufsize", SETUP, v.number)
_k("ike-socket-errqueue", SETUP, v.boolean, True)
_k("nflog-all", SETUP, v.number)
_k("xfrmlifetime", SETUP, v.number, 30)
_k("virtual-private", SETUP, v.virtual_private)
_alias("virtual_private", "virtual-private")
_k("seedbits", SETUP, v.number)
_k("keep-alive", SETUP, v.number)
_alias("keep_alive", "keep-alive")
_k("listen", SETUP, v.listen)
_k("listen-tcp", SETUP, v.boolean, False)
_k("listen-udp", SETUP, v.boolean, True)
_k(
    "protostack",
    SETUP,
    v.enum(
        _enum("xfrm", "netkey", "native", "auto", "none", "bsd", "kame", "bsdkame", "userspace"),
        "protostack"
    ),
)
_k("nhelpers", SETUP, v.signed_number, -1)
_k("drop-oppo-null", SETUP, v.boolean, False)
_k("expire-shunt-interval", SETUP, v.duration)
_k("global-redirect", SETUP, v.enum(_enum("yes", "no", "auto"), "global-redirect"))
_k("global-redirect-to", SETUP)
_k("ikebuf", SETUP, v.number)
_k("ikev1-secctx-attr-type", SETUP, v.number, 32001)
_alias("secctx-attr-type", "ikev1-secctx-attr-type")
_k("seccomp", SETUP, v.enum(_enum("enabled", "disabled", "tolerant"), "seccomp"))
_k("ikeport", SETUP, v.number)
_k("nat-ikeport", SETUP, v.number)
_k("myid", SETUP)
# Obsolete in 4.10: accepted, warned about, ignored.
for _name in (
    "interfaces",
    "klipsdebug",
    "plutofork",
    "plutorestartoncrash",
    "perpeerlog",
    "perpeerlogdir",
    "fragicmp",
    "hidetos",
    "overridemtu",
    "oe",
    "nat_traversal",
    "disable_port_floating",
    "force_keepalive",
    "force-busy",
    "force_busy",
    "plutostderrlogappend",
):
    _obsolete(_name, SETUP)

# ------------------------------------------------------------------------- conn

_TYPE = _enum("tunnel", "transport", "passthrough", "drop", "reject")
_TYPE["pass"] = "passthrough"
_AUTO = _enum("add", "start", "ondemand", "ignore", "keep", route="ondemand", up="start")
_AUTHBY = _enum(
    "secret",
    "rsasig",
    "ecdsa",
    "rsa-sha1",
    "rsa-sha2",
    "rsa-sha2_256",
    "rsa-sha2_384",
    "rsa-sha2_512",
    "ecdsa-sha2",
    "ecdsa-sha2_256",
    "ecdsa-sha2_384",
    "ecdsa-sha2_512",
    "null",
    "never",
    "eddsa",
)
_AUTH = _enum("secret", "rsasig", "ecdsa", "null", "eap", "never", "eddsa")
_SHUNT = _enum("passthrough", "drop", "reject", "none", hold="drop")
_NEGSHUNT = _enum("passthrough", "drop", hold="drop")
_DPDACTION = _enum("hold", "clear", "restart", restart_by_peer="restart")
_SENDCERT = _enum("never", "sendifasked", "always", alwayssend="always", ifasked="sendifasked")
_SENDCA = _enum("none", "issuer", "all")
_YNA = _enum("yes", "no", "auto")
_TCP = _enum("no", "yes", "fallback")
_OFFLOAD = _enum("no", "yes", "auto", "packet", "crypto")
_XAUTHBY = _enum("file", "pam", "alwaysok")
_XAUTHFAIL = _enum("hard", "soft")
_PHASE2 = _enum("esp", "ah", "ah+esp", default="esp")
_AF = _enum("ipv4", "ipv6", "auto")
_ESN = _enum("yes", "no", "either")
_NATMETHOD = _enum("both", "rfc", "drafts")
_KEYEXCHANGE = _enum("ike", "ikev1", "ikev2")
_SAREF = _enum("yes", "no", "conntrack")

FOUR = v.enum(v.FOURVALUED, "value")

_k("also", CONN, v.string, repeatable=True)
_k("type", CONN, v.enum(_TYPE, "type"), "tunnel")
_k("auto", CONN, v.enum(_AUTO, "auto"), "ignore")
_k("authby", CONN, v.enum_list(_AUTHBY, "authby"), ("rsasig", "ecdsa"))
_k("keyexchange", CONN, v.enum(_KEYEXCHANGE, "keyexchange"))
_k("ikev2", CONN, FOUR, "propose")
_k("ike", CONN, v.algorithms)
_k("esp", CONN, v.algorithms)
_alias("phase2alg", "esp")
_k("ah", CONN, v.algorithms)
_k("phase2", CONN, v.enum(_PHASE2, "phase2"), "esp")
_k("pfs", CONN, v.boolean, True)
_k("ikelifetime", CONN, v.duration, timedelta(hours=8))
_alias("ike-lifetime", "ikelifetime")
_k("salifetime", CONN, v.duration, timedelta(hours=8))
_alias("keylife", "salifetime")
_alias("lifetime", "salifetime")
_alias("ipsec-lifetime", "salifetime")
_k("ipsec-max-bytes", CONN, v.binary_number, 1 << 63)
_k("ipsec-max-packets", CONN, v.binary_number, 1 << 63)
_k("rekey", CONN, v.boolean, True)
_k("reauth", CONN, v.boolean, False)
_k("rekeymargin", CONN, v.duration, timedelta(minutes=9))
_k("rekeyfuzz", CONN, v.percent, 100)
_k("keyingtries", CONN, v.number, 0)
_k("replay-window", CONN, v.number, 128)
_k("dpddelay", CONN, v.duration)
_k("dpdtimeout", CONN, v.duration)
_k("dpdaction", CONN, v.enum(_DPDACTION, "dpdaction"), "hold")
_k("retransmit-timeout", CONN, v.duration, timedelta(seconds=60))
_k("retransmit-interval", CONN, v.duration_ms, timedelta(milliseconds=500))
_k("narrowing", CONN, v.boolean, False)
_k("mobike", CONN, v.boolean, False)
_k("fragmentation", CONN, v.enum(v.YNF, "fragmentation"), "yes")
_alias("ike-frag", "fragmentation")
_k("encapsulation", CONN, v.enum(_YNA, "encapsulation"), "auto")
_alias("forceencaps", "encapsulation")
_k("nat-keepalive", CONN, v.boolean, True)
_k("nat-ikev1-method", CONN, v.enum(_NATMETHOD, "nat-ikev1-method"), "both")
_k("failureshunt", CONN, v.enum(_SHUNT, "failureshunt"), "none")
_k("negotiationshunt", CONN, v.enum(_NEGSHUNT, "negotiationshunt"), "drop")
_k("ppk", CONN, FOUR, "never")
_k("ppk-ids", CONN, v.word_list)
_k("enable-tcp", CONN, v.enum(_TCP, "enable-tcp"), "no")
_k("tcp-remoteport", CONN, v.number, 4500)
_k("nic-offload", CONN, v.enum(_OFFLOAD, "nic-offload"), "auto")
_k("mtu", CONN, v.number)
_k("modecfgdns", CONN, v.address_list)
_alias("modecfgdns1", "modecfgdns")
_alias("modecfgdns2", "modecfgdns")
_k("modecfgdomains", CONN, v.word_list)
_alias("modecfgdomain", "modecfgdomains")
_k("modecfgbanner", CONN)
_k("modecfgpull", CONN, v.boolean, False)
_k("aggressive", CONN, v.boolean, False)
_alias("aggrmode", "aggressive")
_k("xauthby", CONN, v.enum(_XAUTHBY, "xauthby"), "file")
_k("xauthfail", CONN, v.enum(_XAUTHFAIL, "xauthfail"), "hard")
_k("ipsec-interface", CONN, v.ipsec_interface)
_k("mark", CONN, v.mark)
_k("mark-in", CONN, v.mark)
_k("mark-out", CONN, v.mark)
_k("vti-interface", CONN)
_k("vti-routing", CONN, v.boolean, False)
_k("vti-shared", CONN, v.boolean, False)
_k("pam-authorize", CONN, v.boolean, False)
_k("sec-label", CONN)
_alias("policy-label", "sec-label")
_k("labeled-ipsec", CONN, v.boolean, False)
_k("compress", CONN, v.boolean, False)
_k("metric", CONN, v.number, 0)
_k("priority", CONN, v.number)  # unset: pluto computes it ("sa_prio:auto")
_k("reqid", CONN, v.number)
_k("tfc", CONN, v.number)
_k("send-no-esp-tfc", CONN, v.boolean, False)
_k("esn", CONN, v.enum(_ESN, "esn"), "either")
_k("decap-dscp", CONN, v.boolean, False)
_k("encap-dscp", CONN, v.boolean, True)
_k("nopmtudisc", CONN, v.boolean, False)
_k("sha2-truncbug", CONN, v.boolean, False)
_alias("sha2_truncbug", "sha2-truncbug")
_k("ms-dh-downgrade", CONN, v.boolean, False)
_k("require-id-on-certificate", CONN, v.boolean, True)
_k("dns-match-id", CONN, v.boolean, False)
_k("ignore-peer-dns", CONN, v.boolean, False)
_k("initial-contact", CONN, v.boolean, False)
_k("cisco-unity", CONN, v.boolean, False)
_k("fake-strongswan", CONN, v.boolean, False)
_k("send-vendorid", CONN, v.boolean, False)
_k("sendca", CONN, v.enum(_SENDCA, "sendca"), "issuer")
_k("overlapip", CONN, v.boolean, False)
_k("remote-peer-type", CONN, v.enum(_enum("cisco", "ietf"), "remote-peer-type"), "ietf")
_alias("remote_peer_type", "remote-peer-type")
_k("nm-configured", CONN, v.boolean, False)
_k("hostaddrfamily", CONN, v.enum(_AF, "hostaddrfamily"))
_k("clientaddrfamily", CONN, v.enum(_AF, "clientaddrfamily"))
_alias("connaddrfamily", "clientaddrfamily")
_k("connalias", CONN)
_k("accept-redirect", CONN, v.boolean, False)
_k("accept-redirect-to", CONN)
_k("send-redirect", CONN, v.enum(_YNA, "send-redirect"), "auto")
_k("redirect-to", CONN)
_k("ikepad", CONN, v.boolean, True)
_k("nflog-group", CONN, v.number)
_k("debug", CONN, v.enum_list(_PLUTODEBUG_WORDS, "debug"))
_k("intermediate", CONN, v.boolean, False)
_k("ikev1-natt", CONN, v.enum(_NATMETHOD, "ikev1-natt"))
_k("sareftrack", CONN, v.enum(_SAREF, "sareftrack"))
_k("dpdaction-on-failure", CONN)
_k("conn-mark", CONN)

# the two ends: leftX= / rightX=
_k("", CONN, v.host, leftright=True)  # left= / right=: the host
_k("id", CONN, v.identity, leftright=True)
_k("subnet", CONN, v.subnet, leftright=True)
_k("subnets", CONN, v.subnets, leftright=True)
_k("nexthop", CONN, v.nexthop, leftright=True)
_k("rsasigkey", CONN, v.pubkey, leftright=True)
_k("ecdsakey", CONN, v.pubkey, leftright=True)
_k("pubkey", CONN, v.pubkey, leftright=True)
_k("ckaid", CONN, v.ckaid, leftright=True)
_k("cert", CONN, v.string, leftright=True)
_k("ca", CONN, v.string, leftright=True)
_k("sendcert", CONN, v.enum(_SENDCERT, "sendcert"), "sendifasked", leftright=True)
_k("sourceip", CONN, v.sourceip, leftright=True)
_k("updown", CONN, v.string, leftright=True)
_k("protoport", CONN, v.protoport, leftright=True)
_k("addresspool", CONN, v.address_range, leftright=True)
_k("modecfgserver", CONN, v.boolean, False, leftright=True)
_k("modecfgclient", CONN, v.boolean, False, leftright=True)
_k("xauthserver", CONN, v.boolean, False, leftright=True)
_k("xauthclient", CONN, v.boolean, False, leftright=True)
_k("username", CONN, v.string, leftright=True)
_alias("xauthusername", "username")
_k("auth", CONN, v.enum(_AUTH, "auth"), leftright=True)
_k("autheap", CONN, v.enum(_enum("none", "tls"), "autheap"), leftright=True)
_k("vti", CONN, v.subnet, leftright=True)
_k("interface-ip", CONN, v.subnet, leftright=True)
_k("ikeport", CONN, v.number, leftright=True)
_k("cat", CONN, v.boolean, False, leftright=True)
_k("groundhog", CONN, v.boolean, False, leftright=True)
# Obsolete conn keywords in 4.10.
for _name in ("dpdaction-restart", "modecfgwins1", "modecfgwins2", "rekeymargin-percent"):
    _obsolete(_name, CONN)
_obsolete("firewall", CONN, leftright=True)
_obsolete("spibase", CONN)
_obsolete("spi", CONN)

#: name -> Keyword, for `config setup`
SETUP_KEYWORDS: dict[str, Keyword] = {k.name: k for k in _TABLE if k.section == SETUP}
#: name -> Keyword for conn keywords that are not left/right
CONN_KEYWORDS: dict[str, Keyword] = {
    k.name: k for k in _TABLE if k.section == CONN and not k.leftright
}
#: name -> Keyword for the left/right keywords ("" is the host itself)
END_KEYWORDS: dict[str, Keyword] = {k.name: k for k in _TABLE if k.section == CONN and k.leftright}
#: the order `--configsetup` prints in
SETUP_ORDER: list[str] = [
    k.name for k in _TABLE if k.section == SETUP and not k.alias_of and not k.obsolete
]


def lookup_conn(name: str) -> tuple[Keyword, str | None] | None:
    """Find a conn keyword; return it and its side ("left"/"right"/None)."""
    kw = CONN_KEYWORDS.get(name)
    if kw is not None:
        return kw, None
    for side in ("left", "right"):
        if name.startswith(side):
            kw = END_KEYWORDS.get(name[len(side) :])
            if kw is not None:
                return kw, side
    return None


def lookup_setup(name: str) -> Keyword | None:
    """Find a `config setup` keyword."""
    return SETUP_KEYWORDS.get(name)


def canonical(kw: Keyword) -> str:
    """The keyword an alias stands for."""
    return kw.alias_of or kw.name


def spelled(kw: Keyword, side: str | None) -> str:
    """The keyword as a user writes it (`leftsubnet`, `left`, `ikelifetime`)."""
    return f"{side}{canonical(kw)}" if side else canonical(kw)
