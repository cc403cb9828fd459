"""Typed value parsers: what Libreswan accepts, and the wording of refusals."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cygnet.config import values as v


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1m", 60),
        ("8h", 28800),
        ("30s", 30),
        ("1d", 86400),
        ("3600", 3600),
        ("%forever", 0),
        ("1.5h", 5400),
    ],
)
def test_duration(text: str, expected: int) -> None:
    assert v.duration(text) == timedelta(seconds=expected)


def test_duration_ms_plain_numbers_are_milliseconds() -> None:
    assert v.duration_ms("500") == timedelta(milliseconds=500)
    assert v.duration_ms("2s") == timedelta(seconds=2)


@pytest.mark.parametrize("text", ["10x", "h", "-1", "1 m"])
def test_bad_duration(text: str) -> None:
    with pytest.raises(ValueError, match="is not a valid duration"):
        v.duration(text)


def test_percent() -> None:
    assert v.percent("100%") == 100
    with pytest.raises(ValueError, match="'100' is not a valid percentage"):
        v.percent("100")


def test_boolean() -> None:
    assert v.boolean("yes") is True and v.boolean("no") is False
    with pytest.raises(ValueError, match="'maybe' is not a valid boolean"):
        v.boolean("maybe")


def test_fourvalued_and_enums() -> None:
    four = v.enum(v.FOURVALUED, "value")
    assert [four(x) for x in ("yes", "no", "insist", "always", "permit")] == [
        "propose",
        "never",
        "insist",
        "insist",
        "permit",
    ]
    authby = v.enum_list({"rsasig": "rsasig", "ecdsa": "ecdsa"}, "authby")
    assert authby("rsasig,ecdsa") == ("rsasig", "ecdsa")
    with pytest.raises(ValueError, match="'psk' is not a valid authby"):
        authby("psk")


@pytest.mark.parametrize(
    "text",
    [
        "192.1.2.45",
        "2001:db8::1",
        "%any",
        "%defaultroute",
        "%group",
        "%opportunisticgroup",
        "vpn.example.com",
        "%ANY6",
    ],
)
def test_host_good(text: str) -> None:
    v.host(text)


@pytest.mark.parametrize("text", ["192.1.2.256", "%anything", "1.2.3", "bad_host!", "::g"])
def test_host_bad(text: str) -> None:
    with pytest.raises(ValueError):
        v.host(text)


@pytest.mark.parametrize(
    "text",
    ["192.0.1.0/24", "2001:db8:0:1::/64", "0.0.0.0/0", "10.1.1.1", "vhost:%no,%priv", "vnet:%priv"],
)
def test_subnet_good(text: str) -> None:
    v.subnet(text)


def test_subnet_bad() -> None:
    with pytest.raises(ValueError) as e:
        v.subnet("192.0.1.0/33")
    assert str(e.value) == "'192.0.1.0/33' is not a valid subnet"


def test_subnets_braced_or_commas() -> None:
    assert v.subnets("192.0.1.0/24, 192.0.3.0/24") == ("192.0.1.0/24", "192.0.3.0/24")


def test_address_range() -> None:
    assert v.address_range("100.64.13.100-100.64.13.254") == "100.64.13.100-100.64.13.254"
    assert v.address_range("100.64.0.0/16") == "100.64.0.0/16"
    for bad in ("100.64.13.254-100.64.13.100", "1.2.3.4-::1", "1.2.3.4-x"):
        with pytest.raises(ValueError, match="is not a valid address range"):
            v.address_range(bad)


def test_address_list() -> None:
    assert v.address_list("1.2.3.4, 5.6.7.8") == ("1.2.3.4", "5.6.7.8")
    with pytest.raises(ValueError, match="'5.6.7' is not a valid IP address"):
        v.address_list("1.2.3.4, 5.6.7")


def test_pubkey() -> None:
    assert v.pubkey("0sAQOrlo+hOafUZDlC") == "0sAQOrlo+hOafUZDlC"
    assert v.pubkey("0x0103abcd") == "0x0103abcd"
    assert v.pubkey("%cert") == "%cert"
    with pytest.raises(ValueError, match="not a valid 0s"):
        v.pubkey("0sAQO rlo")
    with pytest.raises(ValueError, match="not a valid 0x"):
        v.pubkey("0x01g3")
    with pytest.raises(ValueError, match="not a valid public key"):
        v.pubkey("AQOrlo")


def test_protoport_mark_ckaid_numbers() -> None:
    assert v.protoport("17/1701") == "17/1701"
    assert v.protoport("udp/%any") == "udp/%any"
    with pytest.raises(ValueError):
        v.protoport("17/70000")
    assert v.mark("-1/0xffffffff") == "-1/0xffffffff"
    with pytest.raises(ValueError):
        v.mark("x")
    assert v.ckaid("2D3EA57B") == "2d3ea57b"
    assert v.number("%forever") == 0
    assert v.signed_number("-1") == -1
    assert v.binary_number("1GiB") == 1 << 30
    assert v.binary_number("2^63") == 1 << 63


def test_algorithms_and_virtual_private() -> None:
    assert v.algorithms("aes128-sha2_256;modp2048") == "aes128-sha2_256;modp2048"
    with pytest.raises(ValueError):
        v.algorithms("aes 128")
    assert v.virtual_private("%v4:10.0.0.0/8,%v6:fd00::/8,%v4:!192.168.1.0/24")
    with pytest.raises(ValueError):
        v.virtual_private("10.0.0.0/8")
    with pytest.raises(ValueError, match="mixes address families"):
        v.virtual_private("%v6:10.0.0.0/8")
