"""Stateless cookies (RFC 7296 §2.6)."""

from __future__ import annotations

from ipaddress import ip_address

from cygnet.ike.cookies import ROTATE_SECONDS, CookieJar

NI, SPI, IP = b"n" * 32, b"s" * 8, ip_address("192.1.2.45")


def test_cookie_round_trip_and_binding() -> None:
    jar = CookieJar(now=0.0)
    c = jar.make(1.0, NI, IP, SPI)
    assert len(c) == 36
    assert jar.check(2.0, c, NI, IP, SPI)
    assert not jar.check(2.0, c, NI, ip_address("192.1.2.46"), SPI)
    assert not jar.check(2.0, c, b"m" * 32, IP, SPI)
    assert not jar.check(2.0, c, NI, IP, b"t" * 8)
    assert not jar.check(2.0, c[:-1], NI, IP, SPI)
    assert not jar.check(2.0, b"", NI, IP, SPI)


def test_cookie_survives_one_rotation_not_two() -> None:
    jar = CookieJar(now=0.0)
    c = jar.make(0.0, NI, IP, SPI)
    assert jar.check(ROTATE_SECONDS + 1, c, NI, IP, SPI)
    assert not jar.check(2 * ROTATE_SECONDS + 2, c, NI, IP, SPI)
