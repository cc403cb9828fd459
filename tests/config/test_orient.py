"""Which end is this host: Libreswan's orientation, as a pure function."""

from __future__ import annotations

import pytest

from cygnet.config import ConfigError, loads_config, orient

MYTUNNEL = "conn mytunnel\n\tleftid=@west\n\tleft=192.1.2.23\n\trightid=@east\n\tright=192.1.2.45\n"


def conn(text: str = MYTUNNEL, name: str = "mytunnel"):
    return loads_config(text, "t.conf").conns[name]


def test_one_file_serves_both_hosts() -> None:
    on_left = orient(conn(), {"192.1.2.23", "127.0.0.1"}, None)
    assert on_left.local.side == "left" and on_left.remote.host == "192.1.2.45"
    assert on_left.local_addr == "192.1.2.23" and on_left.local_is_left
    on_right = orient(conn(), ["192.1.2.45"], None)
    assert on_right.local.side == "right" and on_right.remote.id == "@west"


def test_defaultroute_is_local() -> None:
    c = conn("conn r\n\tleft=%defaultroute\n\tright=1.2.3.4\n", "r")
    o = orient(c, {"10.0.0.5"}, "10.0.0.5")
    assert (o.local.side, o.local_addr) == ("left", "10.0.0.5")


def test_any_and_group_are_remote_only() -> None:
    c = conn("conn g\n\tleft=%defaultroute\n\tright=%opportunisticgroup\n", "g")
    assert orient(c, {"10.0.0.5"}, "10.0.0.5").remote.host == "%opportunisticgroup"
    c = conn("conn s\n\tleft=%any\n\tright=1.2.3.4\n", "s")
    assert orient(c, {"1.2.3.4"}, None).local.side == "right"


def test_ipv6_addresses_compare_normalised() -> None:
    c = conn("conn v6\n\tleft=2001:db8:1:2::45\n\tright=2001:db8:1:2::23\n", "v6")
    assert orient(c, {"2001:db8:1:2:0:0:0:23"}, None).local.side == "right"


def test_neither_end() -> None:
    with pytest.raises(ConfigError) as e:
        orient(conn(), {"10.9.9.9"}, "10.9.9.9")
    assert str(e.value) == (
        't.conf:1: "mytunnel": we cannot identify ourselves with either end of this connection.  '
        "192.1.2.23 or 192.1.2.45 are not usable"
    )


def test_both_ends() -> None:
    with pytest.raises(ConfigError) as e:
        orient(conn(), {"192.1.2.23", "192.1.2.45"}, None)
    assert str(e.value) == 't.conf:1: two interfaces match "mytunnel" (192.1.2.23, 192.1.2.45)'


def test_host_not_set() -> None:
    with pytest.raises(ConfigError) as e:
        orient(conn("conn x\n\tleft=1.2.3.4\n", "x"), {"1.2.3.4"}, None)
    assert str(e.value) == 't.conf:1: right: conn "x": right= is not set'
