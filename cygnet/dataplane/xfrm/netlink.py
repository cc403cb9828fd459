"""XFRM netlink wire format: the uapi structs of <linux/xfrm.h>, packed by hand.

pyroute2 0.9 covers little of NETLINK_XFRM, and the messages are a handful of
fixed C structs plus TLV attributes, so a small stdlib codec is clearer and
lets the tests compare bytes with what iproute2 sends. Layouts are those of
x86_64/aarch64 (natural alignment, 64-bit lifetimes 8-aligned); every struct
size is asserted below against the kernel's.
"""

from __future__ import annotations

import contextlib
import errno as errno_mod
import os
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address, ip_address

IPAddress = IPv4Address | IPv6Address

NETLINK_XFRM = 6
SOL_NETLINK = 270
NETLINK_ADD_MEMBERSHIP = 1
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11
NLM_F_CAPPED = 0x100
NLM_F_ACK_TLVS = 0x200
NLMSGERR_ATTR_MSG = 1

NLM_F_REQUEST = 0x01
NLM_F_MULTI = 0x02
NLM_F_ACK = 0x04
NLM_F_ROOT = 0x100
NLM_F_MATCH = 0x200
NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH

NLMSG_NOOP = 1
NLMSG_ERROR = 2
NLMSG_DONE = 3

# message types (XFRM_MSG_BASE = 0x10)
XFRM_MSG_NEWSA = 16
XFRM_MSG_DELSA = 17
XFRM_MSG_GETSA = 18
XFRM_MSG_NEWPOLICY = 19
XFRM_MSG_DELPOLICY = 20
XFRM_MSG_GETPOLICY = 21
XFRM_MSG_ALLOCSPI = 22
XFRM_MSG_ACQUIRE = 23
XFRM_MSG_EXPIRE = 24
XFRM_MSG_UPDPOLICY = 25
XFRM_MSG_UPDSA = 26
XFRM_MSG_POLEXPIRE = 27

# attributes (enum xfrm_attr_type_t)
XFRMA_ALG_AUTH = 1
XFRMA_ALG_CRYPT = 2
XFRMA_ALG_COMP = 3
XFRMA_ENCAP = 4
XFRMA_TMPL = 5
XFRMA_SEC_CTX = 8
XFRMA_LTIME_VAL = 9
XFRMA_POLICY_TYPE = 16
XFRMA_ALG_AEAD = 18
XFRMA_ALG_AUTH_TRUNC = 20
XFRMA_MARK = 21
XFRMA_TFCPAD = 22
XFRMA_REPLAY_ESN_VAL = 23
XFRMA_SA_EXTRA_FLAGS = 24
XFRMA_LASTUSED = 15
XFRMA_OFFLOAD_DEV = 28
XFRMA_SET_MARK = 29
XFRMA_SET_MARK_MASK = 30
XFRMA_IF_ID = 31

# multicast groups (enum xfrm_nlgroups)
XFRMNLGRP_ACQUIRE = 1
XFRMNLGRP_EXPIRE = 2

XFRM_POLICY_IN = 0
XFRM_POLICY_OUT = 1
XFRM_POLICY_FWD = 2
XFRM_POLICY_ALLOW = 0
XFRM_POLICY_BLOCK = 1

XFRM_MODE_TRANSPORT = 0
XFRM_MODE_TUNNEL = 1

XFRM_STATE_NOECN = 1
XFRM_STATE_DECAP_DSCP = 2
XFRM_STATE_NOPMTUDISC = 4
XFRM_STATE_AF_UNSPEC = 32
XFRM_STATE_ESN = 128

XFRM_OFFLOAD_IPV6 = 1
XFRM_OFFLOAD_INBOUND = 2
XFRM_OFFLOAD_PACKET = 4

XFRM_INF = (1 << 64) - 1
UDP_ENCAP_ESPINUDP = 2
IPPROTO_ESP = 50
IPPROTO_ICMP = 1
IPPROTO_ICMPV6 = 58

_SEL = struct.Struct("=16s16sHHHHHBBBxxxiI")  # xfrm_selector
_ID = struct.Struct("=16s4sB3x")  # xfrm_id: daddr, spi (network order), proto
_LFT_CFG = struct.Struct("=8Q")
_LFT_CUR = struct.Struct("=4Q")
_STATS = struct.Struct("=3I")
_SA_TAIL = struct.Struct("=IIHBBB7x")  # seq reqid family mode replay_window flags + pad
_NLMSG = struct.Struct("=IHHII")
_RTA = struct.Struct("=HH")
_TMPL = struct.Struct("=16s4sB3xH2x16sIBBBxIII")
_POL_TAIL = struct.Struct("=IIBBBB4x")  # priority index dir action flags share + pad
_ALGO = struct.Struct("=64sI")
_ALGO_TRUNC = struct.Struct("=64sII")
_ENCAP = struct.Struct("=HHH2x16s")
_USERSA_ID = struct.Struct("=16s4sHBx")
_REPLAY_ESN = struct.Struct("=6I")

USERSA_INFO_LEN = 224
USERPOLICY_INFO_LEN = 168
USERPOLICY_ID_LEN = 64
USER_ACQUIRE_LEN = 280
USER_EXPIRE_LEN = 232
assert _SEL.size == 56 and _ID.size == 24 and _TMPL.size == 64 and _ENCAP.size == 24
assert (
    _SEL.size + _ID.size + 16 + _LFT_CFG.size + _LFT_CUR.size + _STATS.size + _SA_TAIL.size == 224
)
assert _SEL.size + _LFT_CFG.size + _LFT_CUR.size + _POL_TAIL.size == USERPOLICY_INFO_LEN


class XfrmError(Exception):
    """A request the kernel refused, worded as pluto words it.

    `str()` gives Libreswan's text, e.g. ``netlink response for Add SA
    esp.b38f20af@192.1.2.23: Protocol not supported (errno 93)`` (pluto's log
    line adds ``ERROR: "conn" #2: `` in front; the daemon owns that prefix).
    """

    def __init__(
        self,
        errno: int,
        what: str,
        story: str,
        extack: str | None = None,
        text: str | None = None,
    ) -> None:
        self.errno = errno
        self.what = what  # "Add SA", "Del SA", "policy", "Get SA", "Allocate SPI"
        self.story = story  # "esp.b38f20af@192.1.2.23", "%trap(ipsec)", ...
        self.extack = extack  # the kernel's own message ("Requested type not found")
        self.text = text  # a complete lead-in replacing "netlink response for WHAT STORY"
        super().__init__(str(self))

    def __str__(self) -> str:
        lead = self.text or f"netlink response for {self.what} {self.story}"
        return f"{lead}: {os.strerror(self.errno)} (errno {self.errno})"


class XfrmOffloadError(XfrmError):
    """The kernel or the NIC refused `nic-offload=` for an SA (EINVAL / EOPNOTSUPP)."""


# ---------------------------------------------------------------- small helpers


def addr16(addr: IPAddress | None) -> bytes:
    """xfrm_address_t: the address left-aligned in 16 bytes (zeros for "unspecified")."""
    if addr is None:
        return bytes(16)
    return addr.packed.ljust(16, b"\0")


def family_of(addr: IPAddress) -> int:
    return socket.AF_INET if addr.version == 4 else socket.AF_INET6


def said(proto: int, spi: int, dst: IPAddress) -> str:
    """Libreswan's SA id text: ``esp.b38f20af@192.1.2.23`` (``esp:...@2001:db8::1`` for IPv6)."""
    prefix = {IPPROTO_ESP: "esp", 51: "ah", 108: "comp", 4: "tun"}.get(proto, str(proto))
    sep = "." if dst.version == 4 else ":"
    return f"{prefix}{sep}{spi:x}@{dst}"


def rta(rtype: int, payload: bytes) -> bytes:
    length = _RTA.size + len(payload)
    return (_RTA.pack(length, rtype) + payload).ljust((length + 3) & ~3, b"\0")


def nlmsg(mtype: int, flags: int, seq: int, payload: bytes, pid: int = 0) -> bytes:
    return _NLMSG.pack(_NLMSG.size + len(payload), mtype, flags, seq, pid) + payload


def lifetime_cfg(
    soft_bytes: int = 0,
    hard_bytes: int = 0,
    soft_packets: int = 0,
    hard_packets: int = 0,
    soft_add_seconds: int = 0,
    hard_add_seconds: int = 0,
) -> bytes:
    """xfrm_lifetime_cfg; 0 means "no limit", which is XFRM_INF for byte/packet counts."""

    def lim(v: int) -> int:
        return v if v > 0 else XFRM_INF

    return _LFT_CFG.pack(
        lim(soft_bytes),
        lim(hard_bytes),
        lim(soft_packets),
        lim(hard_packets),
        soft_add_seconds,
        hard_add_seconds,
        0,
        0,
    )


# ---------------------------------------------------------------- selector


@dataclass(frozen=True, slots=True)
class Selector:
    """xfrm_selector: what traffic a policy or transport-mode SA matches.

    Ports are host order; None means "any" (mask 0). For ICMP the kernel reads
    sport as the type and dport as the code.
    """

    family: int = 0
    saddr: IPAddress | None = None
    daddr: IPAddress | None = None
    prefixlen_s: int = 0
    prefixlen_d: int = 0
    proto: int = 0
    sport: int | None = None
    dport: int | None = None

    def pack(self) -> bytes:
        return _SEL.pack(
            addr16(self.daddr),
            addr16(self.saddr),
            socket.htons(self.dport or 0),
            0xFFFF if self.dport is not None else 0,
            socket.htons(self.sport or 0),
            0xFFFF if self.sport is not None else 0,
            self.family,
            self.prefixlen_d,
            self.prefixlen_s,
            self.proto,
            0,
            0,
        )

    @classmethod
    def unpack(cls, data: bytes, offset: int = 0) -> Selector:
        d, s, dport, dmask, sport, smask, fam, pd, ps, proto, _ifi, _user = _SEL.unpack_from(
            data, offset
        )
        n = 4 if fam == socket.AF_INET else 16
        to_addr = (
            (lambda b: ip_address(b[:n]))
            if fam in (socket.AF_INET, socket.AF_INET6)
            else (lambda b: None)
        )
        return cls(
            family=fam,
            saddr=to_addr(s),
            daddr=to_addr(d),
            prefixlen_s=ps,
            prefixlen_d=pd,
            proto=proto,
            sport=socket.ntohs(sport) if smask else None,
            dport=socket.ntohs(dport) if dmask else None,
        )


# ---------------------------------------------------------------- SA


@dataclass(frozen=True, slots=True)
class SaSpec:
    """Everything one XFRM_MSG_NEWSA/UPDSA carries, in kernel terms."""

    src: IPAddress
    dst: IPAddress
    spi: int
    reqid: int
    mode: int = XFRM_MODE_TUNNEL
    proto: int = IPPROTO_ESP
    sel: Selector = field(default_factory=Selector)
    replay_window: int = 0
    esn: bool = False
    flags: int = 0
    crypt: tuple[str, bytes] | None = None  # (name, key)
    auth: tuple[str, bytes, int] | None = None  # (name, key, trunc bits)
    aead: tuple[str, bytes, int] | None = None  # (name, key incl. salt, icv bits)
    encap: tuple[int, int, int] | None = None  # (type, sport, dport)
    mark: tuple[int, int] | None = None  # (value, mask)
    lifetime: bytes = field(default_factory=lifetime_cfg)
    offload: tuple[int, int] | None = None  # (ifindex, XFRM_OFFLOAD_* flags)
    if_id: int = 0
    extra_flags: int = 0

    def story(self) -> str:
        return said(self.proto, self.spi, self.dst)


def usersa_info(
    sel: Selector,
    dst: IPAddress,
    spi: int,
    proto: int,
    src: IPAddress,
    lifetime: bytes,
    reqid: int,
    mode: int,
    replay_window: int = 0,
    flags: int = 0,
) -> bytes:
    return (
        sel.pack()
        + addr16(dst)
        + struct.pack("!I", spi)
        + bytes([proto, 0, 0, 0])
        + addr16(src)
        + lifetime
        + bytes(_LFT_CUR.size + _STATS.size)
        + _SA_TAIL.pack(0, reqid, family_of(dst), mode, replay_window, flags)
    )


def encode_sa(spec: SaSpec) -> bytes:
    """The payload of XFRM_MSG_NEWSA/UPDSA (attribute order as iproute2's `ip xfrm state add`)."""
    flags = spec.flags | (XFRM_STATE_ESN if spec.esn else 0)
    # The one-byte replay_window serves up to 32 without ESN; beyond that (or with
    # ESN) the kernel wants xfrm_replay_state_esn.
    big_replay = spec.esn or spec.replay_window > 32
    body = usersa_info(
        spec.sel,
        spec.dst,
        spec.spi,
        spec.proto,
        spec.src,
        spec.lifetime,
        spec.reqid,
        spec.mode,
        0 if big_replay else spec.replay_window,
        flags,
    )
    attrs = b""
    if spec.aead is not None:
        name, key, icv = spec.aead
        attrs += rta(XFRMA_ALG_AEAD, _ALGO_TRUNC.pack(name.encode(), len(key) * 8, icv) + key)
    if spec.crypt is not None:
        name, key = spec.crypt
        attrs += rta(XFRMA_ALG_CRYPT, _ALGO.pack(name.encode(), len(key) * 8) + key)
    if spec.auth is not None:
        name, key, trunc = spec.auth
        attrs += rta(
            XFRMA_ALG_AUTH_TRUNC, _ALGO_TRUNC.pack(name.encode(), len(key) * 8, trunc) + key
        )
    if big_replay:
        # Header only: the kernel accepts a bare xfrm_replay_state_esn and sizes
        # the bitmap from bmp_len itself (as iproute2 sends it).
        bmp_len = (spec.replay_window + 31) // 32
        attrs += rta(
            XFRMA_REPLAY_ESN_VAL, _REPLAY_ESN.pack(bmp_len, 0, 0, 0, 0, spec.replay_window)
        )
    if spec.encap is not None:
        etype, sport, dport = spec.encap
        attrs += rta(
            XFRMA_ENCAP, _ENCAP.pack(etype, socket.htons(sport), socket.htons(dport), bytes(16))
        )
    if spec.mark is not None:
        attrs += rta(XFRMA_MARK, struct.pack("=II", *spec.mark))
    if spec.extra_flags:
        attrs += rta(XFRMA_SA_EXTRA_FLAGS, struct.pack("=I", spec.extra_flags))
    if spec.offload is not None:
        ifindex, oflags = spec.offload
        attrs += rta(XFRMA_OFFLOAD_DEV, struct.pack("=iB3x", ifindex, oflags))
    if spec.if_id:
        attrs += rta(XFRMA_IF_ID, struct.pack("=I", spec.if_id))
    return body + attrs


def encode_usersa_id(
    dst: IPAddress, spi: int, proto: int = IPPROTO_ESP, mark: tuple[int, int] | None = None
) -> bytes:
    """xfrm_usersa_id for DELSA/GETSA (a marked SA is only found with its mark)."""
    body = _USERSA_ID.pack(addr16(dst), struct.pack("!I", spi), family_of(dst), proto)
    if mark is not None:
        body += rta(XFRMA_MARK, struct.pack("=II", *mark))
    return body


def encode_allocspi(
    src: IPAddress,
    dst: IPAddress,
    reqid: int,
    lo: int,
    hi: int,
    mode: int = XFRM_MODE_TUNNEL,
    proto: int = IPPROTO_ESP,
    mark: tuple[int, int] | None = None,
) -> bytes:
    """xfrm_userspi_info: reserve an inbound SPI (a larval SA src=peer, dst=us)."""
    body = usersa_info(Selector(), dst, 0, proto, src, bytes(64), reqid, mode)
    body += struct.pack("=II", lo, hi)
    if mark is not None:
        body += rta(XFRMA_MARK, struct.pack("=II", *mark))
    return body


# ---------------------------------------------------------------- policy


@dataclass(frozen=True, slots=True)
class Template:
    """xfrm_user_tmpl: which SA (by reqid, protocol, mode, tunnel ends) a policy needs."""

    reqid: int
    family: int
    mode: int = XFRM_MODE_TRANSPORT
    proto: int = IPPROTO_ESP
    src: IPAddress | None = None  # tunnel mode only
    dst: IPAddress | None = None
    optional: bool = False

    def pack(self) -> bytes:
        return _TMPL.pack(
            addr16(self.dst),
            bytes(4),
            self.proto,
            self.family,
            addr16(self.src),
            self.reqid,
            self.mode,
            0,
            int(self.optional),
            0xFFFFFFFF,
            0xFFFFFFFF,
            0xFFFFFFFF,
        )


@dataclass(frozen=True, slots=True)
class PolicySpec:
    sel: Selector
    dir: int
    priority: int
    action: int = XFRM_POLICY_ALLOW
    tmpls: tuple[Template, ...] = ()
    mark: tuple[int, int] | None = None
    if_id: int = 0
    offload_ifindex: int = 0  # nic-offload=packet: the policy lives in the NIC too

    def story(self) -> str:
        """pluto's name for what the policy does: %trap(ipsec), %pass(none), IPIP or ESP."""
        if not self.tmpls:
            return "%pass(none)" if self.action == XFRM_POLICY_ALLOW else "%drop(discard)"
        if self.tmpls[0].reqid == 0:
            return "%trap(ipsec)"
        return "IPIP" if self.tmpls[0].mode == XFRM_MODE_TUNNEL else "ESP"

    def flow(self) -> str:
        return ("(in)", "(out)", "(fwd)")[self.dir]


def encode_policy(spec: PolicySpec) -> bytes:
    """xfrm_userpolicy_info + XFRMA_TMPL (+ mark) for NEWPOLICY/UPDPOLICY."""
    body = (
        spec.sel.pack()
        + lifetime_cfg()
        + bytes(_LFT_CUR.size)
        + _POL_TAIL.pack(spec.priority, 0, spec.dir, spec.action, 0, 0)
    )
    if spec.tmpls:
        body += rta(XFRMA_TMPL, b"".join(t.pack() for t in spec.tmpls))
    if spec.mark is not None:
        body += rta(XFRMA_MARK, struct.pack("=II", *spec.mark))
    if spec.offload_ifindex:
        body += rta(
            XFRMA_OFFLOAD_DEV, struct.pack("=iB3x", spec.offload_ifindex, XFRM_OFFLOAD_PACKET)
        )
    if spec.if_id:
        body += rta(XFRMA_IF_ID, struct.pack("=I", spec.if_id))
    return body


def encode_policy_id(sel: Selector, direction: int, mark: tuple[int, int] | None = None) -> bytes:
    """xfrm_userpolicy_id for DELPOLICY/GETPOLICY (by selector, not index)."""
    body = sel.pack() + struct.pack("=IB3x", 0, direction)
    if mark is not None:
        body += rta(XFRMA_MARK, struct.pack("=II", *mark))
    return body


def userpolicy_socket(direction: int, family: int) -> bytes:
    """A per-socket "allow" policy (IP_XFRM_POLICY) so IKE packets bypass the SPD."""
    return encode_policy(PolicySpec(Selector(family=family), direction, 0))[:USERPOLICY_INFO_LEN]


# ---------------------------------------------------------------- parsing


@dataclass(frozen=True, slots=True)
class NlMsg:
    type: int
    flags: int
    seq: int
    pid: int
    payload: bytes


def parse_messages(data: bytes) -> Iterator[NlMsg]:
    off = 0
    while off + _NLMSG.size <= len(data):
        length, mtype, flags, seq, pid = _NLMSG.unpack_from(data, off)
        if length < _NLMSG.size or off + length > len(data):
            return
        yield NlMsg(mtype, flags, seq, pid, data[off + _NLMSG.size : off + length])
        off += (length + 3) & ~3


def parse_attrs(data: bytes, offset: int) -> dict[int, bytes]:
    attrs: dict[int, bytes] = {}
    while offset + _RTA.size <= len(data):
        length, rtype = _RTA.unpack_from(data, offset)
        if length < _RTA.size:
            break
        attrs[rtype & 0x3FFF] = data[offset + _RTA.size : offset + length]
        offset += (length + 3) & ~3
    return attrs


def parse_error(payload: bytes, flags: int = 0) -> tuple[int, str | None]:
    """NLMSG_ERROR: (positive errno or 0, the kernel's extended-ack text if any).

    We ask for capped acks (NETLINK_CAP_ACK), so only the request's 16-byte
    header is echoed before the NLMSGERR_ATTR_* TLVs.
    """
    (err,) = struct.unpack_from("=i", payload, 0)
    extack = None
    if flags & NLM_F_ACK_TLVS:
        offset = 4 + _NLMSG.size
        if not flags & NLM_F_CAPPED and len(payload) >= offset:
            offset = 4 + ((struct.unpack_from("=I", payload, 4)[0] + 3) & ~3)
        msg = parse_attrs(payload, offset).get(NLMSGERR_ATTR_MSG)
        if msg:
            extack = msg.rstrip(b"\0").decode(errors="replace")
    return -err, extack


@dataclass(frozen=True, slots=True)
class SaInfo:
    """The parts of xfrm_usersa_info a reader needs (counters, identity)."""

    sel: Selector
    dst: IPAddress
    spi: int
    proto: int
    src: IPAddress
    reqid: int
    mode: int
    byte_count: int
    packet_count: int
    add_time: int
    use_time: int
    attrs: dict[int, bytes]


def parse_usersa_info(payload: bytes, attrs_at: int | None = USERSA_INFO_LEN) -> SaInfo:
    sel = Selector.unpack(payload, 0)
    daddr = payload[56:72]
    (spi,) = struct.unpack_from("!I", payload, 72)
    proto = payload[76]
    saddr = payload[80:96]
    cur_bytes, cur_packets, add_time, use_time = _LFT_CUR.unpack_from(payload, 160)
    _seq, reqid, family, mode, _rw, _flags = _SA_TAIL.unpack_from(payload, 204)
    n = 4 if family == socket.AF_INET else 16
    attrs = parse_attrs(payload, attrs_at) if attrs_at is not None else {}
    return SaInfo(
        sel,
        ip_address(daddr[:n]),
        spi,
        proto,
        ip_address(saddr[:n]),
        reqid,
        mode,
        cur_bytes,
        cur_packets,
        add_time,
        use_time,
        attrs,
    )


@dataclass(frozen=True, slots=True)
class Acquire:
    """XFRM_MSG_ACQUIRE: a packet (sel, full-length prefixes) hit a policy (policy_sel) with no SA."""

    dst: IPAddress
    src: IPAddress
    proto: int
    sel: Selector
    policy_sel: Selector
    policy_dir: int
    policy_index: int
    reqid: int | None


def parse_acquire(payload: bytes) -> Acquire | None:
    if len(payload) < USER_ACQUIRE_LEN:
        return None
    sel = Selector.unpack(payload, 40)
    pol_sel = Selector.unpack(payload, 96)
    _prio, index, direction, _a, _f, _s = _POL_TAIL.unpack_from(payload, 96 + 152)
    n = 4 if sel.family == socket.AF_INET else 16
    attrs = parse_attrs(payload, USER_ACQUIRE_LEN)
    reqid = None
    if XFRMA_TMPL in attrs and len(attrs[XFRMA_TMPL]) >= _TMPL.size:
        reqid = _TMPL.unpack_from(attrs[XFRMA_TMPL], 0)[5]
    return Acquire(
        ip_address(payload[0:n]),
        ip_address(payload[24 : 24 + n]),
        payload[20],
        sel,
        pol_sel,
        direction,
        index,
        reqid,
    )


def parse_expire(payload: bytes) -> tuple[SaInfo, bool] | None:
    """XFRM_MSG_EXPIRE: (the SA, hard?); None for a short or foreign message."""
    if len(payload) < USER_EXPIRE_LEN:
        return None
    return parse_usersa_info(payload, attrs_at=None), bool(payload[USERSA_INFO_LEN])


# ---------------------------------------------------------------- socket


class XfrmSocket:
    """A NETLINK_XFRM socket doing one synchronous request/answer at a time.

    The kernel answers XFRM requests inline (no waiting on the network), so a
    blocking round trip is a few microseconds and safe on the event loop.
    """

    def __init__(self, groups: tuple[int, ...] = ()) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_XFRM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        with contextlib.suppress(OSError):
            self.sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
            self.sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
        self.sock.bind((0, 0))
        for g in groups:
            self.sock.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, g)
        self._seq = 0

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()

    def request(
        self,
        mtype: int,
        payload: bytes,
        what: str,
        story: str,
        flags: int = NLM_F_ACK,
        ok_errnos: tuple[int, ...] = (),
    ) -> list[NlMsg]:
        """Send one request; return its answers or raise `XfrmError` with pluto's wording."""
        self._seq += 1
        seq = self._seq
        self.sock.send(nlmsg(mtype, NLM_F_REQUEST | flags, seq, payload))
        replies: list[NlMsg] = []
        while True:
            data = self.sock.recv(1 << 16)
            for m in parse_messages(data):
                if m.seq != seq:
                    continue
                if m.type == NLMSG_ERROR:
                    err, extack = parse_error(m.payload, m.flags)
                    if err and err not in ok_errnos:
                        raise XfrmError(err, what, story, extack)
                    return replies
                if m.type == NLMSG_DONE:
                    return replies
                replies.append(m)
                if not (m.flags & NLM_F_MULTI) and not (flags & NLM_F_ACK):
                    return replies


def strerror_code(err: int) -> str:
    return errno_mod.errorcode.get(err, str(err))
