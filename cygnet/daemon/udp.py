"""pluto's IKE sockets: UDP 500 and 4500 on each local address.

Port 4500 carries IKE behind a 4-octet non-ESP marker (RFC 3948) next to
ESP-in-UDP; a lone 0xFF octet is a NAT keepalive. When a data plane owns
port 4500 (userspace ESP), the daemon binds only 500 and the data plane
hands IKE datagrams over.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable

from cygnet.ike.natd import Endpoint

NON_ESP_MARKER = b"\x00\x00\x00\x00"
IKE_PORT, NAT_T_PORT = 500, 4500

Receiver = Callable[[bytes, Endpoint, Endpoint], None]


def strip_marker(data: bytes) -> bytes | None:
    """IKE payload of a port-4500 datagram, or None for ESP / keepalives."""
    if data == b"\xff":
        return None
    if data[:4] == NON_ESP_MARKER:
        return data[4:]
    return None


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, local: Endpoint, receive: Receiver) -> None:
        self.local = local
        self.receive = receive
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        remote = Endpoint(ipaddress.ip_address(addr[0].split("%")[0]), addr[1])
        if self.local.port == NAT_T_PORT:
            ike = strip_marker(data)
            if ike is None:
                return
            data = ike
        self.receive(data, self.local, remote)

    def error_received(self, exc: Exception) -> None:  # ICMP errors: issue for liveness logic
        pass


class IkeSockets:
    """All IKE sockets of the daemon, keyed by local endpoint."""

    def __init__(self, receive: Receiver, *, mark: int | None = None,
                 on_bound: Callable[[socket.socket, Endpoint], None] | None = None) -> None:
        self._receive = receive
        self._mark = mark
        self._on_bound = on_bound
        self.by_endpoint: dict[Endpoint, _Protocol] = {}

    async def bind(self, address: str, port: int, ifname: str = "") -> Endpoint:
        ip = ipaddress.ip_address(address)
        family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if self._mark is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, self._mark)
        sock.bind((address, port))
        local = Endpoint(ip, port)
        if self._on_bound is not None:
            self._on_bound(sock, local)
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_datagram_endpoint(
            lambda: _Protocol(local, self._receive), sock=sock
        )
        self.by_endpoint[local] = proto  # type: ignore[assignment]
        return local

    def send(self, data: bytes, local: Endpoint, remote: Endpoint) -> bool:
        proto = self.by_endpoint.get(local)
        if proto is None or proto.transport is None:
            return False
        if local.port == NAT_T_PORT:
            data = NON_ESP_MARKER + data
        proto.transport.sendto(data, (str(remote.ip), remote.port))
        return True

    def close(self) -> None:
        for proto in self.by_endpoint.values():
            if proto.transport is not None:
                proto.transport.close()
        self.by_endpoint.clear()
