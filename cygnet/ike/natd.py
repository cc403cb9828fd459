"""NAT detection (RFC 7296 §2.23): SHA-1(SPIi | SPIr | IP | port) in two notifies.

A mismatch on the peer's source hash means a NAT is in front of the peer;
on the destination hash, in front of us. Either moves IKE to port 4500 and
ESP into UDP (RFC 3948).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An IP address and UDP port: one end of an IKE datagram."""

    ip: IPv4Address | IPv6Address
    port: int

    @classmethod
    def parse(cls, ip: str, port: int) -> Endpoint:
        return cls(ip_address(ip), port)

    def __str__(self) -> str:
        if self.ip.version == 6:
            return f"[{self.ip}]:{self.port}"
        return f"{self.ip}:{self.port}"


def natd_hash(spi_i: bytes, spi_r: bytes, ep: Endpoint) -> bytes:
    return hashlib.sha1(spi_i + spi_r + ep.ip.packed + ep.port.to_bytes(2, "big")).digest()


@dataclass(frozen=True, slots=True)
class NatResult:
    """What NAT detection found: a NAT in front of us, of the peer, or both."""

    local_behind_nat: bool
    remote_behind_nat: bool

    @property
    def any(self) -> bool:
        return self.local_behind_nat or self.remote_behind_nat


def detect(
    spi_i: bytes,
    spi_r: bytes,
    local: Endpoint,
    remote: Endpoint,
    source_hashes: list[bytes],
    destination_hash: bytes | None,
) -> NatResult:
    """Compare the peer's NAT_DETECTION_* notifies with the addresses the datagram used.

    `source_hashes` may hold several values (a multi-homed peer sends one per
    address); a match on any of them means no NAT in front of the peer.
    """
    remote_hash = natd_hash(spi_i, spi_r, remote)
    remote_nat = bool(source_hashes) and not any(
        hmac.compare_digest(h, remote_hash) for h in source_hashes
    )
    local_nat = destination_hash is not None and not hmac.compare_digest(
        destination_hash, natd_hash(spi_i, spi_r, local)
    )
    return NatResult(local_behind_nat=local_nat, remote_behind_nat=remote_nat)
