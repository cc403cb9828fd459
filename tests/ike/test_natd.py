"""NAT detection hashes (RFC 7296 §2.23)."""

from __future__ import annotations

import hashlib

from cygnet.ike.natd import Endpoint, detect, natd_hash

SPI_I, SPI_R = bytes.fromhex("0102030405060708"), bytes(8)
WEST, EAST = Endpoint.parse("192.1.2.45", 500), Endpoint.parse("192.1.2.23", 500)


def test_hash_is_sha1_of_spis_address_and_port() -> None:
    expected = hashlib.sha1(SPI_I + SPI_R + bytes([192, 1, 2, 45]) + b"\x01\xf4").digest()
    assert natd_hash(SPI_I, SPI_R, WEST) == expected


def test_no_nat() -> None:
    r = detect(SPI_I, SPI_R, EAST, WEST, [natd_hash(SPI_I, SPI_R, WEST)], natd_hash(SPI_I, SPI_R, EAST))
    assert not r.any


def test_nat_in_front_of_peer_and_of_us() -> None:
    road_inside = Endpoint.parse("192.1.3.209", 500)
    nic_outside = Endpoint.parse("192.1.2.254", 4500)
    r = detect(SPI_I, SPI_R, EAST, nic_outside, [natd_hash(SPI_I, SPI_R, road_inside)], natd_hash(SPI_I, SPI_R, EAST))
    assert r.remote_behind_nat and not r.local_behind_nat
    r = detect(SPI_I, SPI_R, road_inside, EAST, [natd_hash(SPI_I, SPI_R, EAST)], natd_hash(SPI_I, SPI_R, nic_outside))
    assert r.local_behind_nat and not r.remote_behind_nat


def test_ipv6_display() -> None:
    assert str(Endpoint.parse("2001:db8:1:2::45", 500)) == "[2001:db8:1:2::45]:500"
