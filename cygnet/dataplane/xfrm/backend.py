"""`XfrmDataplane`: Child SAs in the Linux kernel over NETLINK_XFRM, laid out as pluto does.

What Libreswan 4.10 does and we copy, so `ip xfrm state/policy` looks the same:
- one reqid per Child SA lineage (16384 + 4n, ESP uses +1); a rekey keeps it, so
  the in/fwd policies keep accepting the old SA's packets (make-before-break);
- SAs first (outbound, then inbound with UPDSA over a reserved SPI), then the
  out/in(/fwd for tunnel mode) policies with UPDPOLICY, same priority each;
- priority = base<<2|portsw, <<1|protow, <<8|(128-srclen), <<8|(128-dstlen), <<1|instw
  (A-ip-xfrm-policy-routed.txt: 1753281 for a static /32<->/32);
- a trap (auto=route/ondemand) is an outbound policy whose template is
  ``proto esp reqid 0 mode transport`` with unspecified addresses; when the
  last SA over it goes, the trap comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import logging
import socket
import struct
import time
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network, ip_address, summarize_address_range

from cygnet.dataplane.base import ChildSaPlacement, DataplaneEvents, SaCounters, SaLifetime
from cygnet.dataplane.xfrm import netlink as nl
from cygnet.dataplane.xfrm.netlink import (
    IPAddress,
    PolicySpec,
    SaSpec,
    Selector,
    Template,
    XfrmError,
    XfrmOffloadError,
    XfrmSocket,
)
from cygnet.dataplane.xfrm.offload import esp_hw_offload
from cygnet.dataplane.xfrm.routes import MtuRoutes
from cygnet.ike.events import ChildSaKeys
from cygnet.ike.iana import EncrId, IntegId, ProtocolId
from cygnet.ike.natd import Endpoint
from cygnet.ike.payloads import TrafficSelector

log = logging.getLogger(__name__)

#: IKEv2 ENCR id -> (kernel name, ICV bits for AEAD or None for a plain cipher)
ENCRYPT: dict[int, tuple[str, int | None]] = {
    EncrId.AES_CBC: ("cbc(aes)", None),
    EncrId.AES_CTR: ("rfc3686(ctr(aes))", None),
    EncrId.TRIPLE_DES: ("cbc(des3_ede)", None),
    EncrId.NULL: ("ecb(cipher_null)", None),
    EncrId.CAMELLIA_CBC: ("cbc(camellia)", None),
    EncrId.AES_GCM_8: ("rfc4106(gcm(aes))", 64),
    EncrId.AES_GCM_12: ("rfc4106(gcm(aes))", 96),
    EncrId.AES_GCM_16: ("rfc4106(gcm(aes))", 128),
    EncrId.AES_CCM_8: ("rfc4309(ccm(aes))", 64),
    EncrId.AES_CCM_12: ("rfc4309(ccm(aes))", 96),
    EncrId.AES_CCM_16: ("rfc4309(ccm(aes))", 128),
    EncrId.NULL_AUTH_AES_GMAC: ("rfc4543(gcm(aes))", 128),
    EncrId.CHACHA20_POLY1305: ("rfc7539esp(chacha20,poly1305)", 128),
}
#: IKEv2 INTEG id -> (kernel name, truncation bits)
INTEG: dict[int, tuple[str, int]] = {
    IntegId.HMAC_MD5_96: ("hmac(md5)", 96),
    IntegId.HMAC_SHA1_96: ("hmac(sha1)", 96),
    IntegId.AES_XCBC_96: ("xcbc(aes)", 96),
    IntegId.AES_CMAC_96: ("cmac(aes)", 96),
    IntegId.HMAC_SHA2_256_128: ("hmac(sha256)", 128),
    IntegId.HMAC_SHA2_384_192: ("hmac(sha384)", 192),
    IntegId.HMAC_SHA2_512_256: ("hmac(sha512)", 256),
}

REQID_BASE = 16384  # Libreswan: IPSEC_MANUAL_REQID_MAX + 1, stepped by 4 per connection
SPI_MIN = 0x100  # Libreswan's IPSEC_DOI_SPI_OUR_MIN
SPI_MAX = 0xFFFFFFFF


class XfrmUnsupported(ValueError):
    """Asked for something XFRM cannot express (an unknown algorithm, a port range)."""


@dataclass(frozen=True, slots=True)
class NicOffload:
    """`nic-offload=`: "no", "yes"/"crypto", "packet", or "auto" (try crypto, fall back)."""

    mode: str = "no"
    device: str | None = None  # the interface the SA's packets leave by


def libreswan_priority(
    src_prefix: int,
    dst_prefix: int,
    *,
    src_port_any: bool = True,
    dst_port_any: bool = True,
    proto_any: bool = True,
    base: int = 1,
    instance: bool = False,
) -> int:
    """pluto's kernel policy priority (lower wins): more specific selectors first.

    `base` is 1 for a static conn, 2 opportunistic, 3 opportunistic/null;
    `instance` is true for an instance of a template conn (it beats the template).
    """
    prio = base
    prio = (prio << 2) | (int(src_port_any) + int(dst_port_any))
    prio = (prio << 1) | int(proto_any)
    prio = (prio << 8) | (128 - src_prefix)
    prio = (prio << 8) | (128 - dst_prefix)
    prio = (prio << 1) | (0 if instance else 1)
    return prio


def ts_networks(ts: TrafficSelector) -> list[IPv4Network | IPv6Network]:
    """An address-range selector as the CIDR blocks XFRM selectors can hold."""
    return list(summarize_address_range(ts.start, ts.end))  # type: ignore[arg-type]


def ts_port(ts: TrafficSelector) -> int | None:
    """One port, or None for any; XFRM has no port ranges."""
    if ts.start_port == 0 and ts.end_port == 65535:
        return None
    if ts.start_port == ts.end_port:
        return ts.start_port
    raise XfrmUnsupported(f"port range {ts.start_port}-{ts.end_port} cannot be a kernel selector")


def selector(
    src: IPv4Network | IPv6Network,
    dst: IPv4Network | IPv6Network,
    proto: int,
    sport: int | None,
    dport: int | None,
) -> Selector:
    if proto in (nl.IPPROTO_ICMP, nl.IPPROTO_ICMPV6) and sport is not None:
        # RFC 4301: ICMP type in the port's high byte, code in the low; XFRM wants
        # the type as sport and the code as dport (as pluto munges it).
        sport, dport = sport >> 8, sport & 0xFF
    return Selector(
        family=nl.family_of(src.network_address),
        saddr=src.network_address,
        daddr=dst.network_address,
        prefixlen_s=src.prefixlen,
        prefixlen_d=dst.prefixlen,
        proto=proto,
        sport=sport,
        dport=dport,
    )


def spi_int(spi: bytes | int) -> int:
    return spi if isinstance(spi, int) else int.from_bytes(spi, "big")


def _selector_key(sel: Selector) -> tuple[object, ...]:
    return (
        sel.family,
        sel.saddr,
        sel.prefixlen_s,
        sel.daddr,
        sel.prefixlen_d,
        sel.proto,
        sel.sport,
        sel.dport,
    )


PolicyKey = tuple[int, tuple[object, ...], tuple[int, int] | None]  # dir, selector, mark


@dataclass
class _Policy:
    spec: PolicySpec
    owners: set[int] = field(default_factory=set)  # serials whose SAs use it
    route_id: int | None = None  # a trap lives here when no SA does


@dataclass
class _Child:
    serial: int
    reqid: int
    local: IPAddress
    remote: IPAddress
    spi_in: int
    spi_out: int
    mark: tuple[int, int] | None
    out_installed: bool = True
    keys: list[PolicyKey] = field(default_factory=list)
    saved_out: tuple[int, int] = (0, 0)  # outbound bytes/packets when the SA was retired
    offload: NicOffload | None = None
    replaces: int | None = None
    held_out: SaSpec | None = None  # outbound SA waiting for `set_outbound`


class XfrmDataplane:
    """The kernel data plane (Libreswan's `protostack=xfrm`)."""

    name = "xfrm"

    def __init__(
        self, *, nic_offload: NicOffload | None = None, ipv6_nd_bypass: bool = True
    ) -> None:
        self.nic_offload = nic_offload or NicOffload()
        self.ipv6_nd_bypass = ipv6_nd_bypass
        self._cmd: XfrmSocket | None = None
        self._events_sock: XfrmSocket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._events = DataplaneEvents()
        self._children: dict[int, _Child] = {}
        self._policies: dict[PolicyKey, _Policy] = {}
        self._routes: dict[int, list[PolicyKey]] = {}
        self._reserved: set[tuple[IPAddress, int]] = set()  # (dst, spi) from ALLOCSPI
        self._spi_owner: dict[tuple[IPAddress, int], int] = {}
        self._expired: set[tuple[int, bool]] = set()
        self._next_reqid = REQID_BASE
        self._bypass: list[PolicyKey] = []
        self.mtu_routes = MtuRoutes()  # conns with mtu=: routes as Libreswan's updown adds

    # ------------------------------------------------------------ life cycle

    async def start(self, events: DataplaneEvents) -> None:
        """Open the request socket and the ACQUIRE/EXPIRE listener (on the loop)."""
        self._events = events
        self.open()
        self._events_sock = XfrmSocket(groups=(nl.XFRMNLGRP_ACQUIRE, nl.XFRMNLGRP_EXPIRE))
        self._events_sock.sock.setblocking(False)
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._events_sock.fileno(), self._on_readable)

    def open(self) -> None:
        """The synchronous half of `start()` (tests and the probe use it without a loop)."""
        if self._cmd is None:
            self._cmd = XfrmSocket()
        if self.ipv6_nd_bypass and not self._bypass:
            self._install_nd_bypass()

    async def stop(self) -> None:
        self.close()

    def close(self) -> None:
        """Remove every SA, policy and reserved SPI we made; release the sockets."""
        if self._cmd is not None:
            for serial in list(self._children):
                with contextlib.suppress(XfrmError):
                    self.remove(serial)
            for route_id in list(self._routes):
                with contextlib.suppress(XfrmError):
                    self.unroute(route_id)
            for key in list(self._policies):
                self._delete_policy(key)
            for dst, spi in list(self._reserved):
                self._del_sa(dst, spi, None)
            self._reserved.clear()
            self._cmd.close()
            self._cmd = None
        self.mtu_routes.close()
        if self._events_sock is not None:
            if self._loop is not None:
                self._loop.remove_reader(self._events_sock.fileno())
            self._events_sock.close()
            self._events_sock = None
        self._bypass.clear()

    @property
    def cmd(self) -> XfrmSocket:
        if self._cmd is None:
            raise RuntimeError("XfrmDataplane not started")
        return self._cmd

    # ------------------------------------------------------------ SPIs and reqids

    def allocspi(
        self,
        local: IPAddress,
        remote: IPAddress,
        *,
        reqid: int = 0,
        lo: int = SPI_MIN,
        hi: int = SPI_MAX,
        mark: int | None = None,
    ) -> bytes:
        """Reserve an inbound SPI (XFRM_MSG_ALLOCSPI); `install()` then fills it with UPDSA."""
        m = (mark, 0xFFFFFFFF) if mark is not None else None
        replies = self.cmd.request(
            nl.XFRM_MSG_ALLOCSPI,
            nl.encode_allocspi(remote, local, reqid, lo, hi, mark=m),
            "Allocate SPI",
            f"esp@{local}",
            flags=0,
        )
        info = nl.parse_usersa_info(replies[0].payload)
        self._reserved.add((local, info.spi))
        return info.spi.to_bytes(4, "big")

    def new_reqid(self) -> int:
        """The next Libreswan-style ESP reqid (16385, 16389, ...)."""
        reqid = self._next_reqid + 1
        self._next_reqid += 4
        return reqid

    def reqid_of(self, serial: int) -> int | None:
        child = self._children.get(serial)
        return child.reqid if child else None

    # ------------------------------------------------------------ install / remove

    def install(
        self,
        child: ChildSaKeys,
        where: ChildSaPlacement,
        replaces: int | None = None,
        *,
        priority: int | None = None,
        offload: NicOffload | None = None,
        outbound: bool = True,
    ) -> None:
        """Add both SAs then the policies; on any refusal undo everything and raise `XfrmError`.

        With `replaces` and `outbound=False` (we answered a rekey) only the inbound SA goes
        in: the old outbound SA keeps carrying traffic until `set_outbound`, because the
        peer installs the new inbound SA only once our answer reaches it.
        """
        old = self._children.get(replaces) if replaces is not None else None
        reqid = old.reqid if old is not None else self.new_reqid()
        if offload is None and old is not None:
            offload = old.offload
        hold = old is not None and old.out_installed and not outbound
        try:
            out_spec, in_spec = self.sa_specs(child, where, reqid, offload or self.nic_offload)
            policies = self.policy_specs(
                child, where, reqid, priority=priority, offload=offload or self.nic_offload
            )
        except XfrmUnsupported:
            self._release_spi(where.local.ip, spi_int(child.spi_in), where.mark)
            raise
        st = _Child(
            child.serial,
            reqid,
            where.local.ip,
            where.remote.ip,
            in_spec.spi,
            out_spec.spi,
            in_spec.mark,
            offload=offload,
            replaces=replaces,
        )
        added: list[SaSpec] = []
        try:
            for spec, inbound in ((out_spec, False), (in_spec, True)):
                if hold and not inbound:
                    st.held_out, st.out_installed = spec, False
                    continue
                replace = inbound and (spec.dst, spec.spi) in self._reserved
                self._add_sa(spec, replace, offload or self.nic_offload)
                added.append(spec)
                self._reserved.discard((spec.dst, spec.spi))
            for pol in policies:
                st.keys.append(self._own_policy(pol, child.serial))
        except (XfrmError, XfrmUnsupported):
            for key in st.keys:
                self._disown_policy(key, child.serial)
            for spec in added:
                self._del_sa(spec.dst, spec.spi, spec.mark)
            self._release_spi(in_spec.dst, in_spec.spi, where.mark)
            raise
        self._children[child.serial] = st
        self._spi_owner[(st.local, st.spi_in)] = child.serial
        self._spi_owner[(st.remote, st.spi_out)] = child.serial
        if old is not None and not hold:
            self._retire_outbound(old)
        if where.mtu:
            self.mtu_routes.add(("sa", child.serial), child.ts_remote, where.remote.ip, where.mtu)

    def _retire_outbound(self, old: _Child) -> None:
        """Make-before-break: the new outbound SA carries traffic from now on (with both
        in, the kernel would pick the newer SA only at 1 s add_time resolution)."""
        if not old.out_installed:
            return
        c = self.counters(old.serial)
        old.saved_out = (c.out_bytes, c.out_packets)
        self._del_sa(old.remote, old.spi_out, old.mark)
        old.out_installed = False

    def set_outbound(self, serial: int) -> None:
        """Outbound traffic moves to a Child SA installed with `outbound=False` (the peer
        deleted the old SA, or the daemon stopped waiting)."""
        st = self._children.get(serial)
        if st is None or st.held_out is None:
            return
        spec, st.held_out = st.held_out, None
        try:
            self._add_sa(spec, False, st.offload or self.nic_offload)
        except (XfrmError, XfrmUnsupported) as e:
            log.warning("outbound SA for #%d: %s", serial, e)
            return  # the old outbound SA, if still there, goes on carrying traffic
        st.out_installed = True
        old = self._children.get(st.replaces) if st.replaces is not None else None
        if old is not None:
            self._retire_outbound(old)

    def _release_spi(self, dst: IPAddress, spi: int, mark: int | None) -> None:
        """A reserved SPI whose Child SA failed is worthless: leave nothing behind."""
        if (dst, spi) in self._reserved:
            self._del_sa(dst, spi, (mark, 0xFFFFFFFF) if mark is not None else None)
            self._reserved.discard((dst, spi))

    def remove(self, serial: int) -> None:
        st = self._children.pop(serial, None)
        if st is None:
            return
        for key in st.keys:
            self._disown_policy(key, serial)
        self._del_sa(st.local, st.spi_in, st.mark)
        if st.out_installed:
            self._del_sa(st.remote, st.spi_out, st.mark)
        self._spi_owner.pop((st.local, st.spi_in), None)
        self._spi_owner.pop((st.remote, st.spi_out), None)
        self.mtu_routes.remove(("sa", serial))
        self._expired = {e for e in self._expired if e[0] != serial}

    def counters(self, serial: int) -> SaCounters:
        st = self._children.get(serial)
        if st is None:
            return SaCounters()
        inb = self._get_sa(st.local, st.spi_in, st.mark)
        out = self._get_sa(st.remote, st.spi_out, st.mark) if st.out_installed else None
        last_in = None
        if inb is not None and nl.XFRMA_LASTUSED in inb.attrs:
            (used,) = struct.unpack("=Q", inb.attrs[nl.XFRMA_LASTUSED][:8])
            if used:
                last_in = time.monotonic() - max(0.0, time.time() - used)
        return SaCounters(
            in_bytes=inb.byte_count if inb else 0,
            out_bytes=out.byte_count if out else st.saved_out[0],
            in_packets=inb.packet_count if inb else 0,
            out_packets=out.packet_count if out else st.saved_out[1],
            last_in=last_in,
        )

    # ------------------------------------------------------------ on-demand

    def route(
        self,
        route_id: int,
        local: TrafficSelector,
        remote: TrafficSelector,
        *,
        priority: int | None = None,
        mark: int | None = None,
        mtu: int | None = None,
        peer: IPAddress | None = None,
    ) -> None:
        """A %trap: outbound policy, template ``esp reqid 0 transport`` (as pluto 4.10);
        with `mtu=` and a known peer also _updown.xfrm's route (see `routes`)."""
        keys: list[PolicyKey] = []
        m = (mark, 0xFFFFFFFF) if mark is not None else None
        try:
            for spec in self._trap_specs(local, remote, priority, m):
                key = self._key(spec)
                pol = self._policies.get(key)
                if pol is None:
                    self._update_policy(spec)
                    pol = self._policies[key] = _Policy(spec)
                pol.route_id = route_id
                keys.append(key)
        except (XfrmError, XfrmUnsupported):
            self._routes[route_id] = keys
            self.unroute(route_id)
            raise
        self._routes[route_id] = keys
        if mtu and peer is not None:
            self.mtu_routes.add(("trap", route_id), (remote,), peer, mtu)

    def unroute(self, route_id: int) -> None:
        self.mtu_routes.remove(("trap", route_id))
        for key in self._routes.pop(route_id, []):
            pol = self._policies.get(key)
            if pol is None or pol.route_id != route_id:
                continue
            pol.route_id = None
            if not pol.owners:
                self._delete_policy(key)

    def send_ike(self, data: bytes, local: Endpoint, remote: Endpoint) -> bool:
        """The daemon owns the IKE sockets with this backend."""
        return False

    # The daemon calls these on each IKE socket it binds (see Pluto.listen).
    def enable_udp_encap(self, sock: socket.socket) -> None:
        """UDP 4500: ESP-in-UDP arriving there goes to XFRM (RFC 3948)."""
        enable_udp_encap(sock)

    def bypass_ike_socket(self, sock: socket.socket) -> None:
        """Every IKE socket: IKE packets never enter a tunnel (pluto's per-socket bypass)."""
        bypass_ike_socket(sock)

    # ------------------------------------------------------------ message building

    def sa_specs(
        self,
        child: ChildSaKeys,
        where: ChildSaPlacement,
        reqid: int,
        offload: NicOffload | None = None,
    ) -> tuple[SaSpec, SaSpec]:
        """The outbound and inbound XFRM SAs for a Child SA (no kernel access)."""
        local, remote = where.local.ip, where.remote.ip
        if child.protocol != ProtocolId.ESP:
            raise XfrmUnsupported(f"Child SA protocol {child.protocol}: only ESP is supported")
        if local.version != remote.version:
            raise XfrmUnsupported("Child SA endpoints of different address families")
        mode = nl.XFRM_MODE_TUNNEL if child.mode == "tunnel" else nl.XFRM_MODE_TRANSPORT
        if child.encr_id not in ENCRYPT:
            raise XfrmUnsupported(f"ESP encryption algorithm {child.encr_id} has no XFRM name")
        ename, icv = ENCRYPT[child.encr_id]
        if icv is None and child.integ_id != IntegId.NONE and child.integ_id not in INTEG:
            raise XfrmUnsupported(f"ESP integrity algorithm {child.integ_id} has no XFRM name")
        mark = (where.mark, 0xFFFFFFFF) if where.mark is not None else None
        lft = _lifetime(where.lifetime)
        offload = offload or NicOffload()
        # pluto's nic-offload=auto: only where the interface has esp-hw-offload active
        auto_ok = bool(offload.device) and esp_hw_offload(offload.device or "")[1]

        def one(
            src: IPAddress, dst: IPAddress, spi: bytes, ekey: bytes, ikey: bytes, inbound: bool
        ) -> SaSpec:
            sel = Selector()
            if mode == nl.XFRM_MODE_TRANSPORT:
                sel = self._transport_selector(child, src, dst, inbound)
            crypt = auth = aead = None
            if icv is not None:
                aead = (ename, ekey, icv)
            else:
                crypt = (ename, ekey)
                if child.integ_id != IntegId.NONE:
                    iname, trunc = INTEG[child.integ_id]
                    auth = (iname, ikey, trunc)
            encap = None
            if child.udp_encap:
                sport, dport = (
                    (where.remote.port, where.local.port)
                    if inbound
                    else (where.local.port, where.remote.port)
                )
                encap = (nl.UDP_ENCAP_ESPINUDP, sport, dport)
            off = None
            if offload.mode in ("yes", "crypto", "packet") or (offload.mode == "auto" and auto_ok):
                flags = (
                    (nl.XFRM_OFFLOAD_INBOUND if inbound else 0)
                    | (nl.XFRM_OFFLOAD_IPV6 if dst.version == 6 else 0)
                    | (nl.XFRM_OFFLOAD_PACKET if offload.mode == "packet" else 0)
                )
                if not offload.device:
                    raise XfrmUnsupported(f"nic-offload={offload.mode} needs the interface name")
                off = (socket.if_nametoindex(offload.device), flags)
            return SaSpec(
                src=src,
                dst=dst,
                spi=spi_int(spi),
                reqid=reqid,
                mode=mode,
                sel=sel,
                replay_window=where.replay_window,
                esn=child.esn,
                flags=nl.XFRM_STATE_AF_UNSPEC if mode == nl.XFRM_MODE_TUNNEL else 0,
                crypt=crypt,
                auth=auth,
                aead=aead,
                encap=encap,
                mark=mark,
                lifetime=lft,
                offload=off,
            )

        out = one(local, remote, child.spi_out, child.key_out_encr, child.key_out_integ, False)
        inb = one(remote, local, child.spi_in, child.key_in_encr, child.key_in_integ, True)
        return out, inb

    @staticmethod
    def _transport_selector(
        child: ChildSaKeys, src: IPAddress, dst: IPAddress, inbound: bool
    ) -> Selector:
        """Transport-mode SAs carry the host-to-host selector (as pluto sets them)."""
        bits = 32 if src.version == 4 else 128
        lts = child.ts_local[0] if child.ts_local else None
        rts = child.ts_remote[0] if child.ts_remote else None
        proto = (lts.ip_protocol if lts else 0) or (rts.ip_protocol if rts else 0)
        sts, dts = (rts, lts) if inbound else (lts, rts)
        net = IPv4Network if src.version == 4 else IPv6Network
        return selector(
            net(f"{src}/{bits}"),
            net(f"{dst}/{bits}"),
            proto,
            ts_port(sts) if sts else None,
            ts_port(dts) if dts else None,
        )

    def policy_specs(
        self,
        child: ChildSaKeys,
        where: ChildSaPlacement,
        reqid: int,
        *,
        priority: int | None = None,
        offload: NicOffload | None = None,
    ) -> list[PolicySpec]:
        """out, in (and fwd in tunnel mode) policies for every selector pair, pluto's order."""
        tunnel = child.mode == "tunnel"
        local, remote = where.local.ip, where.remote.ip
        fam = nl.family_of(local)
        mark = (where.mark, 0xFFFFFFFF) if where.mark is not None else None
        mode = nl.XFRM_MODE_TUNNEL if tunnel else nl.XFRM_MODE_TRANSPORT
        ifindex = 0  # packet offload puts the in/out policies into the NIC as well
        if offload is not None and offload.mode == "packet" and offload.device:
            ifindex = socket.if_nametoindex(offload.device)
        specs: list[PolicySpec] = []
        for lsel, rsel, prio in self._pairs(child.ts_local, child.ts_remote, priority):
            out_t = Template(
                reqid, fam, mode, src=local if tunnel else None, dst=remote if tunnel else None
            )
            in_t = Template(
                reqid, fam, mode, src=remote if tunnel else None, dst=local if tunnel else None
            )
            specs.append(
                PolicySpec(
                    lsel,
                    nl.XFRM_POLICY_OUT,
                    prio,
                    tmpls=(out_t,),
                    mark=mark,
                    offload_ifindex=ifindex,
                )
            )
            specs.append(
                PolicySpec(
                    rsel, nl.XFRM_POLICY_IN, prio, tmpls=(in_t,), mark=mark, offload_ifindex=ifindex
                )
            )
            if tunnel:
                specs.append(PolicySpec(rsel, nl.XFRM_POLICY_FWD, prio, tmpls=(in_t,), mark=mark))
        return specs

    def _trap_specs(
        self,
        local: TrafficSelector,
        remote: TrafficSelector,
        priority: int | None,
        mark: tuple[int, int] | None,
    ) -> list[PolicySpec]:
        specs = []
        for lsel, _rsel, prio in self._pairs((local,), (remote,), priority):
            tmpl = Template(0, lsel.family, nl.XFRM_MODE_TRANSPORT)
            specs.append(PolicySpec(lsel, nl.XFRM_POLICY_OUT, prio, tmpls=(tmpl,), mark=mark))
        return specs

    @staticmethod
    def _pairs(
        ts_local: tuple[TrafficSelector, ...],
        ts_remote: tuple[TrafficSelector, ...],
        priority: int | None,
    ) -> list[tuple[Selector, Selector, int]]:
        """(outbound selector, inbound selector, priority) for each CIDR pair of the TS sets."""
        pairs = []
        for lts in ts_local:
            for rts in ts_remote:
                if lts.start.version != rts.start.version:
                    continue
                if lts.ip_protocol and rts.ip_protocol and lts.ip_protocol != rts.ip_protocol:
                    continue
                proto = lts.ip_protocol or rts.ip_protocol
                lport, rport = ts_port(lts), ts_port(rts)
                for lnet in ts_networks(lts):
                    for rnet in ts_networks(rts):
                        prio = (
                            priority
                            if priority is not None
                            else libreswan_priority(
                                lnet.prefixlen,
                                rnet.prefixlen,
                                src_port_any=lport is None,
                                dst_port_any=rport is None,
                                proto_any=proto == 0,
                            )
                        )
                        pairs.append(
                            (
                                selector(lnet, rnet, proto, lport, rport),
                                selector(rnet, lnet, proto, rport, lport),
                                prio,
                            )
                        )
        return pairs

    # ------------------------------------------------------------ kernel operations

    def _add_sa(self, spec: SaSpec, replace: bool, offload: NicOffload) -> None:
        mtype = nl.XFRM_MSG_UPDSA if replace else nl.XFRM_MSG_NEWSA
        try:
            self.cmd.request(mtype, nl.encode_sa(spec), "Add SA", spec.story())
        except XfrmError as e:
            if spec.offload is None or e.errno not in (errno.EINVAL, errno.EOPNOTSUPP):
                if e.errno == errno.ESRCH and replace:
                    log.warning(
                        "Warning: kernel expired our reserved IPsec SA SPI - negotiation took too"
                        " long? Try increasing /proc/sys/net/core/xfrm_acq_expires"
                    )
                raise
            if offload.mode == "auto":  # pluto falls back to software crypto
                plain = dataclasses.replace(spec, offload=None)
                self.cmd.request(mtype, nl.encode_sa(plain), "Add SA", spec.story())
                return
            raise XfrmOffloadError(e.errno, e.what, e.story, e.extack) from None

    def _del_sa(self, dst: IPAddress, spi: int, mark: tuple[int, int] | None) -> None:
        with contextlib.suppress(XfrmError):
            self.cmd.request(
                nl.XFRM_MSG_DELSA,
                nl.encode_usersa_id(dst, spi, mark=mark),
                "Del SA",
                nl.said(nl.IPPROTO_ESP, spi, dst),
                ok_errnos=(errno.ESRCH, errno.ENOENT),
            )

    def _get_sa(self, dst: IPAddress, spi: int, mark: tuple[int, int] | None) -> nl.SaInfo | None:
        try:
            replies = self.cmd.request(
                nl.XFRM_MSG_GETSA,
                nl.encode_usersa_id(dst, spi, mark=mark),
                "Get SA",
                nl.said(nl.IPPROTO_ESP, spi, dst),
                flags=0,
            )
        except XfrmError:
            return None
        return nl.parse_usersa_info(replies[0].payload) if replies else None

    @staticmethod
    def _key(spec: PolicySpec) -> PolicyKey:
        return (spec.dir, _selector_key(spec.sel), spec.mark)

    def _update_policy(self, spec: PolicySpec) -> None:
        try:
            self.cmd.request(nl.XFRM_MSG_UPDPOLICY, nl.encode_policy(spec), "policy", spec.story())
        except XfrmError as e:
            # pluto: "kernel: xfrm XFRM_MSG_UPDPOLICY %trap(ipsec) response for flow (out): ..."
            e.text = (
                f"kernel: xfrm XFRM_MSG_UPDPOLICY {spec.story()} response for flow {spec.flow()}"
            )
            raise

    def _own_policy(self, spec: PolicySpec, serial: int) -> PolicyKey:
        key = self._key(spec)
        self._update_policy(spec)  # replaces a trap or an older SA's policy in place
        pol = self._policies.get(key)
        if pol is None:
            pol = self._policies[key] = _Policy(spec)
        pol.spec = spec
        pol.owners.add(serial)
        return key

    def _disown_policy(self, key: PolicyKey, serial: int) -> None:
        pol = self._policies.get(key)
        if pol is None:
            return
        pol.owners.discard(serial)
        if pol.owners:
            return
        if pol.route_id is not None:
            # back to %trap: the next packet asks for a new negotiation
            for spec in self._trap_specs_for(key):
                with contextlib.suppress(XfrmError):
                    self._update_policy(spec)
                    pol.spec = spec
            return
        self._delete_policy(key)

    def _trap_specs_for(self, key: PolicyKey) -> list[PolicySpec]:
        pol = self._policies[key]
        tmpl = Template(0, pol.spec.sel.family, nl.XFRM_MODE_TRANSPORT)
        return [
            PolicySpec(
                pol.spec.sel, pol.spec.dir, pol.spec.priority, tmpls=(tmpl,), mark=pol.spec.mark
            )
        ]

    def _delete_policy(self, key: PolicyKey) -> None:
        pol = self._policies.pop(key, None)
        if pol is None:
            return
        with contextlib.suppress(XfrmError):
            self.cmd.request(
                nl.XFRM_MSG_DELPOLICY,
                nl.encode_policy_id(pol.spec.sel, pol.spec.dir, pol.spec.mark),
                "policy",
                pol.spec.story(),
                ok_errnos=(errno.ENOENT,),
            )

    def _install_nd_bypass(self) -> None:
        """IPv6 neighbour discovery (ICMPv6 135/136) passes in, out and fwd (priority 1, as pluto)."""
        # inserted in reverse so `ip xfrm policy` (newest first) lists them as pluto's do
        for icmp_type in (136, 135):
            for d in (nl.XFRM_POLICY_IN, nl.XFRM_POLICY_FWD, nl.XFRM_POLICY_OUT):
                sel = Selector(
                    family=socket.AF_INET6,
                    saddr=ip_address("::"),
                    daddr=ip_address("::"),
                    proto=nl.IPPROTO_ICMPV6,
                    sport=icmp_type,
                )
                spec = PolicySpec(sel, d, 1)
                try:
                    self._update_policy(spec)
                except XfrmError as e:
                    log.warning("%s", e)
                    continue
                key = self._key(spec)
                self._policies[key] = _Policy(spec)
                self._bypass.append(key)

    # ------------------------------------------------------------ kernel events

    def _on_readable(self) -> None:
        assert self._events_sock is not None
        while True:
            try:
                data = self._events_sock.sock.recv(1 << 16)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:  # ENOBUFS: we missed events; keep going
                log.warning("netlink_get: recvfrom() failed: %s", e)
                return
            self.handle_event_data(data)

    def handle_event_data(self, data: bytes) -> None:
        """Dispatch ACQUIRE/EXPIRE multicast messages to `DataplaneEvents`."""
        for m in nl.parse_messages(data):
            if m.type == nl.XFRM_MSG_ACQUIRE:
                acq = nl.parse_acquire(m.payload)
                if acq is not None:
                    self._dispatch_acquire(acq)
            elif m.type == nl.XFRM_MSG_EXPIRE:
                exp = nl.parse_expire(m.payload)
                if exp is not None:
                    self._dispatch_expire(*exp)

    def _dispatch_acquire(self, acq: nl.Acquire) -> None:
        key: PolicyKey = (nl.XFRM_POLICY_OUT, _selector_key(acq.policy_sel), None)
        pol = self._policies.get(key)
        if pol is None:  # a marked trap: match on the selector alone
            pol = next(
                (p for k, p in self._policies.items() if k[0] == key[0] and k[1] == key[1]), None
            )
        if pol is None or pol.route_id is None:
            log.debug("ACQUIRE for a policy that is not ours: %s", acq.policy_sel)
            return
        s = acq.sel
        if s.saddr is None or s.daddr is None:
            return
        ports_any = s.proto == 0
        src = TrafficSelector(
            s.saddr,
            s.saddr,
            s.proto,
            *((0, 65535) if ports_any or s.sport is None else (s.sport, s.sport)),
        )
        dst = TrafficSelector(
            s.daddr,
            s.daddr,
            s.proto,
            *((0, 65535) if ports_any or s.dport is None else (s.dport, s.dport)),
        )
        self._events.on_acquire(pol.route_id, src, dst)

    def _dispatch_expire(self, info: nl.SaInfo, hard: bool) -> None:
        serial = self._spi_owner.get((info.dst, info.spi))
        if serial is None:
            if hard:
                self._reserved.discard((info.dst, info.spi))  # a reserved SPI timed out
            return
        if (serial, hard) in self._expired:
            return  # inbound and outbound each expire; say it once
        self._expired.add((serial, hard))
        self._events.on_expire(serial, hard)


def _lifetime(lt: SaLifetime) -> bytes:
    return nl.lifetime_cfg(
        lt.soft_bytes,
        lt.hard_bytes,
        lt.soft_packets,
        lt.hard_packets,
        int(lt.soft_seconds),
        int(lt.hard_seconds),
    )


# ---------------------------------------------------------------- socket helpers

SOL_UDP = 17
UDP_ENCAP = 100
IP_XFRM_POLICY = 17
IPV6_XFRM_POLICY = 35


def enable_udp_encap(sock: socket.socket) -> None:
    """Make the daemon's UDP 4500 socket hand ESP-in-UDP to XFRM (RFC 3948 decapsulation)."""
    sock.setsockopt(SOL_UDP, UDP_ENCAP, nl.UDP_ENCAP_ESPINUDP)


def bypass_ike_socket(sock: socket.socket) -> None:
    """Per-socket "allow" policies so IKE itself never enters a tunnel (pluto's `socket in/out`)."""
    fam = sock.family
    level, opt = (
        (socket.IPPROTO_IP, IP_XFRM_POLICY)
        if fam == socket.AF_INET
        else (socket.IPPROTO_IPV6, IPV6_XFRM_POLICY)
    )
    for d in (nl.XFRM_POLICY_IN, nl.XFRM_POLICY_OUT):
        sock.setsockopt(level, opt, nl.userpolicy_socket(d, fam))


__all__ = [
    "NicOffload",
    "XfrmDataplane",
    "XfrmError",
    "XfrmOffloadError",
    "XfrmUnsupported",
    "bypass_ike_socket",
    "enable_udp_encap",
    "libreswan_priority",
]
