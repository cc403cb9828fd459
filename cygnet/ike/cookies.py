"""Stateless cookies for IKE_SA_INIT under load (RFC 7296 §2.6).

Cookie = <VersionIDofSecret> | Hash(Ni | IPi | SPIi | <secret>): the responder
keeps no state for a half-open SA until the initiator proves it can receive
at its address. The secret is rotated; the previous one stays valid for one
period so cookies issued just before a rotation still verify.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from ipaddress import IPv4Address, IPv6Address

#: Libreswan's default `ddos-ike-threshold`: half-open IKE SAs before cookies are demanded.
DEFAULT_THRESHOLD = 25000
#: How often the secret changes (seconds); a cookie stays valid for up to twice this.
ROTATE_SECONDS = 120.0


class CookieJar:
    """Issues and checks cookies; `now` comes from the caller (sans-IO)."""

    def __init__(self, now: float, random: bytes | None = None) -> None:
        self._version = 0
        self._secret = random or os.urandom(32)
        self._previous: bytes | None = None
        self._rotated_at = now

    def _maybe_rotate(self, now: float) -> None:
        if now - self._rotated_at >= ROTATE_SECONDS:
            self._previous = self._secret
            self._secret = os.urandom(32)
            self._version = (self._version + 1) & 0xFFFFFFFF
            self._rotated_at = now

    @staticmethod
    def _digest(secret: bytes, ni: bytes, ip: IPv4Address | IPv6Address, spi_i: bytes) -> bytes:
        return hashlib.sha256(ni + ip.packed + spi_i + secret).digest()

    def make(self, now: float, ni: bytes, ip: IPv4Address | IPv6Address, spi_i: bytes) -> bytes:
        self._maybe_rotate(now)
        return self._version.to_bytes(4, "big") + self._digest(self._secret, ni, ip, spi_i)

    def check(
        self, now: float, cookie: bytes, ni: bytes, ip: IPv4Address | IPv6Address, spi_i: bytes
    ) -> bool:
        """True when `cookie` is one we issued (this or the previous secret) for this peer."""
        self._maybe_rotate(now)
        if len(cookie) != 36:
            return False
        version = int.from_bytes(cookie[:4], "big")
        if version == self._version:
            secret = self._secret
        elif version == (self._version - 1) & 0xFFFFFFFF and self._previous is not None:
            secret = self._previous
        else:
            return False
        return hmac.compare_digest(cookie[4:], self._digest(secret, ni, ip, spi_i))
