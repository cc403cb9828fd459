"""Effective conns: also= and %default precedence, defaults, frozen results."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from cygnet.config import ConnSpec, loads_config

TEXT = """\
conn %default
	ikelifetime=1h
	keyingtries=3
	leftid=@default

conn base
	left=192.1.2.45
	right=192.1.2.23
	leftid=@base
	rightid=@east
	authby=secret
	also=crypto

conn crypto
	ike=aes128-sha2_256;modp2048
	esp=aes128-sha2_256
	leftid=@crypto
	salifetime=2h

conn west
	also=base
	leftid=@west
	auto=start
"""


def test_precedence_own_then_also_then_default() -> None:
    cfg = loads_config(TEXT, "t.conf")
    west = cfg.conns["west"]
    assert west.left.id == "@west"  # own
    assert west.right.id == "@east"  # from also=base
    assert west.ike == "aes128-sha2_256;modp2048"  # also=base -> also=crypto
    assert west.salifetime == timedelta(hours=2)
    assert west.ikelifetime == timedelta(hours=1)  # %default
    assert west.keyingtries == 3
    assert west.auto == "start"
    base = cfg.conns["base"]
    assert base.left.id == "@base"
    assert cfg.conns["crypto"].right.id is None
    assert list(cfg.conns) == ["base", "crypto", "west"]  # %default is not a conn


def test_origins_and_defaults() -> None:
    west = loads_config(TEXT, "t.conf").conns["west"]
    assert west.origins["auto"] == "t.conf:23"
    assert west.origins["ikelifetime"] == "t.conf:2"
    assert west.is_default("rekeymargin")
    assert west.left.origins["id"] == "t.conf:22"
    assert west.left.origins["sendcert"] == "default"


def test_libreswan_4_10_defaults() -> None:
    c = loads_config("conn a\n\tleft=1.2.3.4\n\tright=1.2.3.5\n").conns["a"]
    assert c.type == "tunnel"
    assert c.auto == "ignore"
    assert c.authby == ("rsasig", "ecdsa")
    assert c.ikev2 == "propose"
    assert c.pfs is True
    assert c.ikelifetime == timedelta(hours=8)
    assert c.salifetime == timedelta(hours=8)
    assert c.rekeymargin == timedelta(minutes=9)
    assert c.rekeyfuzz == 100
    assert c.keyingtries == 0
    assert c.retransmit_timeout == timedelta(seconds=60)
    assert c.retransmit_interval == timedelta(milliseconds=500)
    assert c.dpddelay is None and c.dpdtimeout is None
    assert c.encapsulation == "auto"
    assert c.fragmentation == "yes"
    assert c.nat_keepalive is True
    assert c.ike is None and c.esp is None
    assert c.left.sendcert == "sendifasked"


def test_frozen() -> None:
    c = loads_config("conn a\n\tleft=1.2.3.4\n\tright=1.2.3.5\n").conns["a"]
    assert isinstance(c, ConnSpec)
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.name = "b"  # type: ignore[misc]
    with pytest.raises(TypeError):
        c.options["auto"] = "start"  # type: ignore[index]


def test_typed_values_from_the_spec_roadwarrior() -> None:
    text = (
        "conn rw\n\tleft=1.2.3.4\n\tright=%any\n\trightaddresspool=100.64.13.100-100.64.13.254\n"
        '\tmodecfgdns="1.2.3.4, 5.6.7.8"\n\tmodecfgdomains="internal.company.com, corp"\n'
        "\tdpddelay=1m\n\tdpdtimeout=5m\n\tdpdaction=clear\n\tikev2=insist\n\tauthby=rsasig\n"
        "\tenable-tcp=fallback\n\ttcp-remoteport=4500\n\tnic-offload=yes\n\tmtu=1400\n\tppk=insist\n"
    )
    c = loads_config(text).conns["rw"]
    assert c.right.addresspool == "100.64.13.100-100.64.13.254"
    assert c.get("modecfgdns") == ("1.2.3.4", "5.6.7.8")
    assert c.get("modecfgdomains") == ("internal.company.com", "corp")
    assert c.dpddelay == timedelta(minutes=1) and c.dpdtimeout == timedelta(minutes=5)
    assert (c.dpdaction, c.ikev2, c.authby) == ("clear", "insist", ("rsasig",))
    assert (c.enable_tcp, c.tcp_remoteport, c.nic_offload, c.mtu, c.ppk) == (
        "fallback",
        4500,
        "yes",
        1400,
        "insist",
    )


def test_auto_route_is_ondemand_and_pubkey() -> None:
    c = loads_config("conn a\n\tauto=route\n\tleftrsasigkey=%cert\n").conns["a"]
    assert c.auto == "ondemand"
    assert c.left.pubkey == "%cert"
    assert c.right.pubkey is None
