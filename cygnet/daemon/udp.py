"""pluto's IKE sockets: UDP 500 and 4500 on each local address.

Port 4500 carries IKE behind a 4-octet non-ESP marker (RFC 3948) next to
ESP-in-UDP; a lone 0xFF octet is a NAT keepalive. When a data plane owns
port 4500 (userspace ESP), the daemon binds only 500 and the data plane
hands IKE datagrams over.
"""

from __future__ import annotations

import asyncio
import errno as errno_mod
import ipaddress
import os
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass

from cygnet.ike.natd import Endpoint

NON_ESP_MARKER = b"\x00\x00\x00\x00"
IKE_PORT, NAT_T_PORT = 500, 4500

Receiver = Callable[[bytes, Endpoint, Endpoint], None]

# <linux/errqueue.h>, <linux/in.h>, <linux/in6.h>
IP_PKTINFO = 8
IP_RECVERR = 11
IPV6_RECVERR = 25
IPV6_PKTINFO = 50
IPV6_RECVPKTINFO = 49
SO_EE_ORIGIN_ICMP = 2
SO_EE_ORIGIN_ICMP6 = 3
_EE = struct.Struct("=IBBBBII")  # struct sock_extended_err


@dataclass(frozen=True, slots=True)
class NetError:
    """An ICMP error reported on an IKE socket (IP_RECVERR): what Libreswan logs as
    `asynchronous network error report on IFACE (DEST), complainant OFFENDER: ...`."""

    local: Endpoint
    destination: Endpoint | None  # where the datagram that drew the error was going
    complainant: str | None  # the ICMP sender
    errno: int
    origin: int  # SO_EE_ORIGIN_*
    icmp_type: int
    icmp_code: int
    ifname: str

    def describe(self) -> str:
        origin = {SO_EE_ORIGIN_ICMP: "ICMP", SO_EE_ORIGIN_ICMP6: "ICMP6"}.get(self.origin,
                                                                           str(self.origin))
        dest = str(self.destination) if self.destination else "?"
        return (f"ERROR: asynchronous network error report on {self.ifname} ({dest}), "
                f"complainant {self.complainant or '?'}: {os.strerror(self.errno)} "
                f"[errno {self.errno}, origin {origin} type {self.icmp_type} code "
                f"{self.icmp_code} (not authenticated)]")


def _sockaddr_ip(data: bytes) -> str | None:
    if len(data) < 8:
        return None
    family = struct.unpack_from("=H", data)[0]
    if family == socket.AF_INET:
        return socket.inet_ntop(socket.AF_INET, data[4:8])
    if family == socket.AF_INET6 and len(data) >= 24:
        return socket.inet_ntop(socket.AF_INET6, data[8:24])
    return None


def read_errqueue(sock: socket.socket, local: Endpoint) -> list[NetError]:
    """Drain the socket's error queue (MSG_ERRQUEUE) into `NetError`s."""
    out: list[NetError] = []
    for _ in range(64):
        try:
            _data, anc, _flags, addr = sock.recvmsg(2048, 1024, socket.MSG_ERRQUEUE
                                                   | socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            break
        except OSError:
            break
        dest = None
        if addr:
            try:
                dest = Endpoint(ipaddress.ip_address(addr[0].split("%")[0]), addr[1])
            except ValueError:
                dest = None
        ifname = "?"
        for level, typ, cdata in anc:
            if (level, typ) in ((socket.IPPROTO_IP, IP_RECVERR), (socket.IPPROTO_IPV6,
                                                                   IPV6_RECVERR)):
                if len(cdata) < _EE.size:
                    continue
                ee_errno, origin, icmp_type, icmp_code, _pad, _info, _d = _EE.unpack_from(cdata)
                err = NetError(local, dest, _sockaddr_ip(cdata[_EE.size:]), ee_errno, origin,
                               icmp_type, icmp_code, ifname)
                out.append(err)
            elif level == socket.IPPROTO_IP and typ == IP_PKTINFO and len(cdata) >= 4:
                ifname = _ifname(struct.unpack_from("=i", cdata)[0])
            elif level == socket.IPPROTO_IPV6 and typ == IPV6_PKTINFO and len(cdata) >= 20:
                ifname = _ifname(struct.unpack_from("=I", cdata, 16)[0])
        out = [NetError(e.local, e.destination, e.complainant, e.errno, e.origin, e.icmp_type,
                        e.icmp_code, ifname if e.ifname == "?" else e.ifname) for e in out]
    return out


def _ifname(index: int) -> str:
    try:
        return socket.if_indextoname(index)
    except OSError:
        return "?"


def strip_marker(data: bytes) -> bytes | None:
    """IKE payload of a port-4500 datagram, or None for ESP / keepalives."""
    if data == b"\xff":
        return None
    if data[:4] == NON_ESP_MARKER:
        return data[4:]
    return None


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, local: Endpoint, receive: Receiver, sock: socket.socket | None = None,
                 on_error: Callable[[NetError], None] | None = None) -> None:
        self.local = local
        self.receive = receive
        self.sock = sock
        self.on_error = on_error
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

    def error_received(self, exc: Exception) -> None:
        """IP_RECVERR: an ICMP error for one of our datagrams; the details wait in the
        socket's error queue."""
        if self.sock is None:
            return
        errs = read_errqueue(self.sock, self.local)
        if not errs and isinstance(exc, OSError) and exc.errno in (errno_mod.ECONNREFUSED,
                                                                    errno_mod.EHOSTUNREACH,
                                                                    errno_mod.ENETUNREACH):
            errs = [NetError(self.local, None, None, exc.errno, 0, 0, 0, "?")]
        if self.on_error is not None:
            for e in errs:
                self.on_error(e)


class IkeSockets:
    """All IKE sockets of the daemon, keyed by local endpoint."""

    def __init__(self, receive: Receiver, *, mark: int | None = None,
                 on_bound: Callable[[socket.socket, Endpoint], None] | None = None,
                 on_error: Callable[[NetError], None] | None = None) -> None:
        self._receive = receive
        self._mark = mark
        self._on_bound = on_bound
        self.on_error = on_error
        self.by_endpoint: dict[Endpoint, _Protocol] = {}

    async def bind(self, address: str, port: int, ifname: str = "") -> Endpoint:
        ip = ipaddress.ip_address(address)
        family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:  # ICMP errors (port unreachable...) reported per datagram, like pluto
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)
                sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)
            else:
                sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
                sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        except OSError:
            pass
        if self._mark is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, self._mark)
        sock.bind((address, port))
        local = Endpoint(ip, port)
        if self._on_bound is not None:
            self._on_bound(sock, local)
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_datagram_endpoint(
            lambda: _Protocol(local, self._receive, sock,
                              lambda e: self.on_error(e) if self.on_error else None), sock=sock
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

    def send_raw(self, data: bytes, local: Endpoint, remote: Endpoint) -> bool:
        """Send without the non-ESP marker (a NAT keepalive's lone 0xFF octet)."""
        proto = self.by_endpoint.get(local)
        if proto is None or proto.transport is None:
            return False
        proto.transport.sendto(data, (str(remote.ip), remote.port))
        return True

    def close(self) -> None:
        for proto in self.by_endpoint.values():
            if proto.transport is not None:
                proto.transport.close()
        self.by_endpoint.clear()
