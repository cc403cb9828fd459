"""Typed parsers for ipsec.conf values.

Each parser takes the text after `=` and returns a Python value, or raises
`ValueError` with a message that names the value the way Libreswan's
diagnostics do (`'192.0.1.0/33' is not a valid subnet`); the caller adds
file, line and keyword. Values keep Libreswan's words: tri-states stay
strings (`"insist"`), durations become `timedelta`, addresses stay text
after validation so that `%any`/`%defaultroute` survive to orientation.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable
from datetime import timedelta

Parser = Callable[[str], object]

# ---------------------------------------------------------------- basic types

_YES = {"yes", "y", "true", "on"}
_NO = {"no", "n", "false", "off"}


def boolean(text: str) -> bool:
    """yes/no (Libreswan also takes y/n, true/false, on/off)."""
    t = text.lower()
    if t in _YES:
        return True
    if t in _NO:
        return False
    raise ValueError(f"'{text}' is not a valid boolean (yes or no)")


def number(text: str) -> int:
    """An unsigned decimal; `%forever` means 0 (keyingtries=%forever)."""
    if text == "%forever":
        return 0
    if not re.fullmatch(r"[0-9]+", text):
        raise ValueError(f"'{text}' is not a valid number")
    return int(text)


def signed_number(text: str) -> int:
    """A decimal that may be -1 (nhelpers=-1: one helper per CPU)."""
    if not re.fullmatch(r"-?[0-9]+", text):
        raise ValueError(f"'{text}' is not a valid number")
    return int(text)


_TIME_UNITS = {
    "ms": 0.001,
    "s": 1,
    "secs": 1,
    "sec": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
    "week": 604800,
    "weeks": 604800,
}


def _duration(text: str, plain_unit: float) -> timedelta:
    m = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)([a-z]*)", text.strip().lower())
    if m is None or (m.group(2) and m.group(2) not in _TIME_UNITS):
        raise ValueError(f"'{text}' is not a valid duration (like 30s, 1m, 8h, 1d)")
    unit = _TIME_UNITS[m.group(2)] if m.group(2) else plain_unit
    return timedelta(seconds=float(m.group(1)) * unit)


def duration(text: str) -> timedelta:
    """A duration whose plain number is seconds (ikelifetime=3600, 8h, 1d)."""
    if text == "%forever":
        return timedelta(0)
    return _duration(text, 1)


def duration_ms(text: str) -> timedelta:
    """A duration whose plain number is milliseconds (retransmit-interval=500)."""
    return _duration(text, 0.001)


def percent(text: str) -> int:
    """`100%` (rekeyfuzz)."""
    m = re.fullmatch(r"([0-9]+)%", text)
    if m is None:
        raise ValueError(f"'{text}' is not a valid percentage (like 100%)")
    return int(m.group(1))


def string(text: str) -> str:
    """Any text."""
    return text


def filename(text: str) -> str:
    """A file or folder name."""
    if not text:
        raise ValueError("empty file name")
    return text


_BINARY = {
    "": 1,
    "k": 1 << 10,
    "ki": 1 << 10,
    "m": 1 << 20,
    "mi": 1 << 20,
    "g": 1 << 30,
    "gi": 1 << 30,
    "t": 1 << 40,
    "ti": 1 << 40,
}


def binary_number(text: str) -> int:
    """A count with an optional binary multiplier (ipsec-max-bytes=1GiB); `2^N` too."""
    m = re.fullmatch(r"2\^([0-9]+)", text)
    if m:
        return 1 << int(m.group(1))
    m = re.fullmatch(r"([0-9]+)([a-zA-Z]*)", text)
    suffix = m.group(2).lower() if m else ""
    suffix = suffix[:-1] if suffix.endswith("b") else suffix
    if m is None or suffix not in _BINARY:
        raise ValueError(f"'{text}' is not a valid number")
    return int(m.group(1)) * _BINARY[suffix]


def enum(choices: dict[str, str], what: str) -> Parser:
    """One word of `choices` (accepted spelling -> canonical word)."""

    def parse(text: str) -> str:
        key = text.lower()
        if key not in choices:
            allowed = "|".join(sorted(set(choices)))
            raise ValueError(f"'{text}' is not a valid {what} ({allowed})")
        return choices[key]

    return parse


def enum_list(choices: dict[str, str], what: str) -> Parser:
    """A comma or space separated list of `choices` words (authby=rsasig,ecdsa)."""
    one = enum(choices, what)

    def parse(text: str) -> tuple[str, ...]:
        words = [w for w in re.split(r"[,\s]+", text) if w]
        if not words:
            raise ValueError(f"'{text}' is not a valid {what}")
        return tuple(one(w) for w in words)

    return parse


# ------------------------------------------------------------- the tri-states

#: ikev2=, ppk=, ... (Libreswan's "four valued" options)
FOURVALUED = {
    "never": "never",
    "no": "never",
    "permit": "permit",
    "propose": "propose",
    "yes": "propose",
    "insist": "insist",
    "always": "insist",
}
#: fragmentation=
YNF = {"never": "no", "no": "no", "yes": "yes", "insist": "force", "force": "force"}

# ------------------------------------------------------------------- addresses

#: the `%` words a host (left=, right=) may be
HOST_WORDS = {
    "%any",
    "%any4",
    "%any6",
    "%defaultroute",
    "%defaultroute4",
    "%defaultroute6",
    "%direct",
    "%opportunistic",
    "%opportunisticgroup",
    "%group",
}
_DNSNAME = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?"
)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def ip_address(text: str) -> str:
    """A literal IPv4 or IPv6 address."""
    if not _is_ip(text):
        raise ValueError(f"'{text}' is not a valid IP address")
    return str(ipaddress.ip_address(text))


def host(text: str) -> str:
    """left=/right=: an address, a DNS name, or %any/%defaultroute/%group/..."""
    if text.startswith("%"):
        if text.lower() not in HOST_WORDS:
            raise ValueError(
                f"'{text}' is not a valid host (an address, a DNS name, or one of {', '.join(sorted(HOST_WORDS))})"
            )
        return text.lower()
    if _is_ip(text):
        return str(ipaddress.ip_address(text))
    if re.fullmatch(r"[0-9.]+", text) or ":" in text or not _DNSNAME.fullmatch(text):
        raise ValueError(f"'{text}' is not a valid IP address or DNS name")
    return text


def nexthop(text: str) -> str:
    """leftnexthop=: an address, %direct or %defaultroute."""
    if text.lower() in ("%direct", "%defaultroute"):
        return text.lower()
    return ip_address(text)


def subnet(text: str) -> str:
    """A subnet `a.b.c.d/n` (or a bare address), or `vhost:`/`vnet:`/`%no`/`%priv`."""
    if text.startswith(("vhost:", "vnet:")):
        for part in text.split(":", 1)[1].split(","):
            if part not in ("%no", "%priv", "%all"):
                subnet(part)
        return text
    if text in ("%no", "%priv", "%all"):
        return text
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(f"'{text}' is not a valid subnet") from None
    if "/" not in text:
        return str(net)
    return str(net)


def subnets(text: str) -> tuple[str, ...]:
    """leftsubnets={a, b}: a comma or space separated list of subnets."""
    words = [w for w in re.split(r"[,\s]+", text.strip("{} ")) if w]
    if not words:
        raise ValueError(f"'{text}' is not a valid list of subnets")
    return tuple(subnet(w) for w in words)


def address_list(text: str) -> tuple[str, ...]:
    """modecfgdns="1.2.3.4, 5.6.7.8": a comma or space separated list of addresses."""
    words = [w for w in re.split(r"[,\s]+", text) if w]
    if not words:
        raise ValueError(f"'{text}' is not a valid list of IP addresses")
    return tuple(ip_address(w) for w in words)


def word_list(text: str) -> tuple[str, ...]:
    """modecfgdomains="internal.company.com, corp": a comma or space separated list."""
    return tuple(w for w in re.split(r"[,\s]+", text) if w)


def address_range(text: str) -> str:
    """leftaddresspool=: `first-last` (same family, first <= last) or a subnet."""
    if "-" in text:
        lo, _, hi = text.partition("-")
        try:
            a, b = ipaddress.ip_address(lo.strip()), ipaddress.ip_address(hi.strip())
        except ValueError:
            raise ValueError(f"'{text}' is not a valid address range") from None
        if a.version != b.version or a > b:
            raise ValueError(f"'{text}' is not a valid address range")
        return f"{a}-{b}"
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise ValueError(f"'{text}' is not a valid address range") from None


def sourceip(text: str) -> str:
    """leftsourceip=: an address (4.10 takes one)."""
    return ip_address(text)


def protoport(text: str) -> str:
    """leftprotoport=PROTO/PORT: `17/1701`, `udp/%any`, `tcp`, `6/0`."""
    m = re.fullmatch(r"([A-Za-z0-9-]+)(?:/([A-Za-z0-9-]+|%any))?", text)
    if m is None:
        raise ValueError(f"'{text}' is not a valid protoport (PROTOCOL/PORT)")
    port = m.group(2)
    if port and port != "%any" and not port.isdigit():
        raise ValueError(f"'{text}' is not a valid protoport (PROTOCOL/PORT)")
    if port and port.isdigit() and int(port) > 65535:
        raise ValueError(f"'{text}' is not a valid protoport (port above 65535)")
    return text


#: the leftrsasigkey=/leftpubkey= words
PUBKEY_WORDS = {"%cert", "%dns", "%dnsondemand", "%none"}


def pubkey(text: str) -> str:
    """leftrsasigkey=: `0s` base64 or `0x` hex (RFC 3110 key), or %cert/%dnsondemand/%none."""
    if text.lower() in PUBKEY_WORDS:
        return text.lower()
    if text.startswith("0s"):
        body = text[2:]
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"'{_short(text)}' is not a valid 0s (base64) public key") from None
        if not raw:
            raise ValueError("empty public key")
        return text
    if text.startswith("0x"):
        body = text[2:].replace("_", "")
        if not body or len(body) % 2 or not re.fullmatch(r"[0-9A-Fa-f]+", body):
            raise ValueError(f"'{_short(text)}' is not a valid 0x (hex) public key")
        return text
    raise ValueError(
        f"'{_short(text)}' is not a valid public key (0s..., 0x..., %cert, %dnsondemand or %none)"
    )


def _short(text: str) -> str:
    return text if len(text) <= 24 else text[:20] + "..."


def identity(text: str) -> str:
    """leftid=: @fqdn, @#hex, user@fqdn, an address, a DN, or %fromcert/%none/%null/%any."""
    if not text:
        raise ValueError("empty id")
    if text.startswith("%") and text.lower() not in (
        "%fromcert",
        "%none",
        "%null",
        "%any",
        "%myid",
    ):
        raise ValueError(f"'{text}' is not a valid id")
    return text


def ckaid(text: str) -> str:
    """leftckaid=: the key's CKAID, hex."""
    if not re.fullmatch(r"[0-9A-Fa-f]+", text):
        raise ValueError(f"'{text}' is not a valid CKAID (hex digits)")
    return text.lower()


def mark(text: str) -> str:
    """mark=VALUE[/MASK], -1 for a unique mark per SA."""
    if not re.fullmatch(r"(-1|(0x[0-9A-Fa-f]+|[0-9]+))(/(0x[0-9A-Fa-f]+|[0-9]+))?", text):
        raise ValueError(f"'{text}' is not a valid mark (VALUE/MASK)")
    return text


_ALG = re.compile(r"[A-Za-z0-9_+\-;,.]+")


def algorithms(text: str) -> str:
    """ike=/esp=/ah=: checked for the proposal alphabet only; the engine parses it."""
    if not _ALG.fullmatch(text):
        raise ValueError(f"'{text}' is not a valid algorithm proposal list")
    return text


def ipsec_interface(text: str) -> str:
    """ipsec-interface=yes|no|NUMBER."""
    t = text.lower()
    if t in _YES or t in _NO or t.isdigit():
        return t
    raise ValueError(f"'{text}' is not a valid ipsec-interface (yes, no or a number)")


def listen(text: str) -> str:
    """listen=: one address."""
    return ip_address(text)


def virtual_private(text: str) -> tuple[str, ...]:
    """virtual-private=%v4:10.0.0.0/8,%v6:fd00::/8,%v4:!192.168.1.0/24."""
    out = []
    for word in (w for w in re.split(r"[,\s]+", text) if w):
        m = re.fullmatch(r"%v([46]):(!?)(.+)", word)
        if m is None:
            raise ValueError(
                f"'{word}' is not a valid virtual-private entry (%v4:SUBNET or %v6:SUBNET)"
            )
        net = subnet(m.group(3))
        if ipaddress.ip_network(net).version != int(m.group(1)):
            raise ValueError(f"'{word}' mixes address families")
        out.append(word)
    return tuple(out)
