"""Every ipsec.conf block of the user's spec parses, and so does the Libreswan run's file.

The blocks are extracted at test time from
`shared/spec/rhel9-configuring-a-vpn-with-ipsec.txt`. The spec elides
content in two ways, and only those elisions are replaced: a `[...]` inside
a `leftrsasigkey=`/`rightrsasigkey=` value becomes a real RFC 3110 `0s` key
made with `cryptography`, and lines that are just `...` or `…` are dropped.
The mesh block mixes tabs and spaces and is parsed as printed. Keyword
snippets the spec tells the reader to add to a section (`listen-tcp=yes` in
`config setup`, `enable-tcp=`/`tcp-remoteport=`/`auto=start`/`ppk=`/`mtu=`/
`nic-offload=` in a conn, `plutodebug=all`/`logfile=` in `config setup`) are
checked inside the section the spec names.
"""

from __future__ import annotations

import re

import pytest

from cygnet.config import loads_config, orient
from tests.config.spec_blocks import REFERENCE, SPEC, extract_blocks, fill_elisions

pytestmark = pytest.mark.skipif(not SPEC.exists(), reason=f"the spec is not at {SPEC}")


def _blocks() -> list[tuple[int, str]]:
    return extract_blocks(SPEC.read_text()) if SPEC.exists() else []


EXPECTED_CONNS = [
    ["mytunnel"],
    ["mysubnet", "mysubnet6", "mytunnel"],
    ["roadwarriors"],
    ["to-vpn-server"],
    ["clear", "private", "private-or-clear"],
    ["example"],
    ["MyExample"],
    ["myvpn"],
]


def test_all_blocks_found() -> None:
    blocks = _blocks()
    names = [re.findall(r"^conn (\S+)", b, re.M) for _, b in blocks]
    assert names == EXPECTED_CONNS


@pytest.mark.parametrize("index", range(len(EXPECTED_CONNS)))
def test_block_parses(index: int) -> None:
    line, block = _blocks()[index]
    cfg = loads_config(fill_elisions(block), f"{SPEC.name}:{line}")
    assert list(cfg.conns) == EXPECTED_CONNS[index]
    assert cfg.warnings == ()


def test_spec_values_are_typed() -> None:
    blocks = {tuple(re.findall(r"^conn (\S+)", b, re.M)): b for _, b in _blocks()}
    s2s = loads_config(fill_elisions(blocks[("mysubnet", "mysubnet6", "mytunnel")])).conns
    assert s2s["mysubnet6"].left.subnet == "2001:db8:0:1::/64"
    assert s2s["mysubnet6"].left.host == "192.1.2.23"  # via also=mytunnel
    assert s2s["mysubnet"].authby == ("rsasig",)
    assert s2s["mytunnel"].left.pubkey.startswith("0sAw")
    rw = loads_config(fill_elisions(blocks[("roadwarriors",)])).conns["roadwarriors"]
    assert rw.right.ca == "%same" and rw.left.id == "%fromcert" and rw.right.modecfgclient is True
    mesh = loads_config(fill_elisions(blocks[("clear", "private", "private-or-clear")])).conns
    assert mesh["private"].left.pubkey == "%cert"  # the space-indented line inside the tab block
    assert mesh["private-or-clear"].failureshunt == "passthrough"
    assert mesh["clear"].type == "passthrough" and mesh["clear"].authby == ("never",)
    my = loads_config(fill_elisions(blocks[("MyExample",)])).conns["MyExample"]
    assert (my.ikev2, my.ike, my.esp) == (
        "never",
        "aes-sha2,aes-sha1;modp2048",
        "aes_gcm,aes-sha2,aes-sha1",
    )


def test_host_to_host_orients_on_both_hosts() -> None:
    block = fill_elisions(_blocks()[0][1])
    c = loads_config(block).conns["mytunnel"]
    assert orient(c, {"192.1.2.23"}, None).local.id == "@west"
    assert orient(c, {"192.1.2.45"}, None).local.id == "@east"


def test_road_warrior_client_orients_by_default_route() -> None:
    c = loads_config(fill_elisions(_blocks()[3][1])).conns["to-vpn-server"]
    o = orient(c, {"192.168.1.7"}, "192.168.1.7")
    assert o.local.side == "left" and o.remote.host == "1.2.3.4"


SNIPPETS = [
    "config setup\n\tlisten-tcp=yes\n",
    "config setup\n\tplutodebug=all\n",
    "config setup\n\tlogfile=/var/log/pluto.log\n",
    "conn c\n\tenable-tcp=fallback\n\ttcp-remoteport=4500\n",
    "conn c\n\tenable-tcp=yes\n\ttcp-remoteport=4500\n",
    "conn c\n\tauto=start\n",
    "conn c\n\tppk=yes\n",
    "conn c\n\tppk=insist\n",
    "conn c\n\tmtu=1400\n",
    "conn c\n\tnic-offload=yes\n",
]


@pytest.mark.parametrize("text", SNIPPETS)
def test_spec_snippets_parse(text: str) -> None:
    for line in text.splitlines()[1:]:
        assert line.strip() in SPEC.read_text()
    assert loads_config(text).warnings == ()


def test_crypto_policies_include_line() -> None:
    """`include /etc/crypto-policies/back-ends/libreswan.config` (4.12): parsed; absent here, so it warns."""
    line = "include /etc/crypto-policies/back-ends/libreswan.config"
    assert line in SPEC.read_text()
    cfg = loads_config(line + "\n", "/etc/ipsec.conf")
    assert all("could not open include filename" in w for w in cfg.warnings)


@pytest.mark.skipif(
    not (REFERENCE / "ipsec.conf.used").exists(), reason="no Libreswan reference run"
)
def test_libreswan_run_config_parses() -> None:
    cfg = loads_config((REFERENCE / "ipsec.conf.used").read_text(), "ipsec.conf.used")
    plab = cfg.conns["plab"]
    assert (plab.left.host, plab.left.id, plab.right.id) == ("192.1.2.45", "@west", "@east")
    assert plab.ike == "aes128-sha2_256;modp2048" and plab.auto == "add"
    assert cfg.setup.logfile == "/run/lab/west/pluto.log"
    assert cfg.setup.get("plutodebug") == ("none",)
