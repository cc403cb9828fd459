"""Wire format: our messages against iproute2's bytes and the uapi layouts (no root needed)."""

from __future__ import annotations

import dataclasses
import socket
import struct
from ipaddress import ip_address

from cygnet.dataplane.xfrm import netlink as nl
from cygnet.dataplane.xfrm.backend import XfrmDataplane, libreswan_priority
from cygnet.ike.iana import EncrId, IntegId

from . import golden_iproute2 as golden
from .helpers import EAST, WEST, child_sa, host_ts, placement

W6 = ip_address("2001:db8:1:2::45")
E6 = ip_address("2001:db8:1:2::23")


def test_newsa_cbc_hmac_udp_encap_mark_matches_iproute2() -> None:
    dp = XfrmDataplane()
    child = child_sa(udp_encap=True)
    out, _inb = dp.sa_specs(
        child, placement(lport=4500, rport=4500, replay_window=32, mark=5), 16385
    )
    assert nl.encode_sa(out) == golden.CBC


def test_newsa_gcm_esn_transport_ipv6_matches_iproute2() -> None:
    dp = XfrmDataplane()
    child = child_sa(
        mode="transport",
        spi_in=0xABCD,
        encr=EncrId.AES_GCM_16,
        integ=IntegId.NONE,
        esn=True,
        ts_local=(host_ts(W6, 6),),
        ts_remote=(host_ts(E6, 6, 22),),
        key_out_encr=bytes(20),
    )
    # the inbound SA (east -> west) carries the peer's key
    child = dataclasses.replace(child, key_in_encr=bytes(range(20)))
    _out, inb = dp.sa_specs(child, placement(W6, E6, replay_window=128), 16389)
    assert nl.encode_sa(inb) == golden.GCM6


def test_policy_matches_iproute2() -> None:
    dp = XfrmDataplane()
    lnet = host_ts(ip_address("192.0.1.0"))
    child = child_sa(
        ts_local=(lnet.__class__(ip_address("192.0.1.0"), ip_address("192.0.1.255")),),
        ts_remote=(lnet.__class__(ip_address("192.0.2.0"), ip_address("192.0.2.255")),),
    )
    specs = dp.policy_specs(child, placement(), 16385, priority=1753281)
    assert [s.dir for s in specs] == [nl.XFRM_POLICY_OUT, nl.XFRM_POLICY_IN, nl.XFRM_POLICY_FWD]
    assert nl.encode_policy(specs[0]) == golden.POL


def test_allocspi_matches_iproute2() -> None:
    assert nl.encode_allocspi(EAST, WEST, 16385, 0x100, 0xFFFFFFFF) == golden.SPI


def test_usersa_info_fields_at_uapi_offsets() -> None:
    """Field by field against struct xfrm_usersa_info (sel 0, id 56, saddr 80, lft 96, ...)."""
    dp = XfrmDataplane()
    out, _ = dp.sa_specs(child_sa(), placement(replay_window=16), 16385)
    b = nl.encode_sa(out)
    assert b[56:60] == EAST.packed and b[72:76] == bytes.fromhex("b38f20af") and b[76] == 50
    assert b[80:84] == WEST.packed
    assert struct.unpack_from("=4Q", b, 96) == (nl.XFRM_INF,) * 4  # soft/hard byte/packet
    reqid, family, mode, rw, flags = struct.unpack_from("=IHBBB", b, 208)
    assert (reqid, family, mode, rw, flags) == (16385, socket.AF_INET, 1, 16, 32)
    attrs = nl.parse_attrs(b, nl.USERSA_INFO_LEN)
    assert attrs[nl.XFRMA_ALG_CRYPT][:8] == b"cbc(aes)" and attrs[nl.XFRMA_ALG_CRYPT][64:68] == (
        struct.pack("=I", 128)
    )
    assert struct.unpack_from("=II", attrs[nl.XFRMA_ALG_AUTH_TRUNC], 64) == (256, 128)
    assert nl.XFRMA_REPLAY_ESN_VAL not in attrs  # 16 fits the old one-byte window


def test_replay_window_beyond_32_uses_replay_esn_and_lifetimes() -> None:
    from cygnet.dataplane.base import SaLifetime

    dp = XfrmDataplane()
    lft = SaLifetime(soft_bytes=1000, hard_bytes=2000, soft_seconds=3000, hard_seconds=3600)
    out, _ = dp.sa_specs(child_sa(), placement(replay_window=128, lifetime=lft), 16385)
    b = nl.encode_sa(out)
    assert b[215] == 0  # the one-byte replay_window stays 0
    esn = nl.parse_attrs(b, nl.USERSA_INFO_LEN)[nl.XFRMA_REPLAY_ESN_VAL]
    assert struct.unpack("=6I", esn) == (4, 0, 0, 0, 0, 128)
    assert struct.unpack_from("=8Q", b, 96) == (
        1000,
        2000,
        nl.XFRM_INF,
        nl.XFRM_INF,
        3000,
        3600,
        0,
        0,
    )


def test_algorithm_names() -> None:
    dp = XfrmDataplane()
    cases = [
        (EncrId.AES_GCM_8, IntegId.NONE, 20, "rfc4106(gcm(aes))", 64),
        (EncrId.AES_GCM_12, IntegId.NONE, 36, "rfc4106(gcm(aes))", 96),
        (EncrId.CHACHA20_POLY1305, IntegId.NONE, 36, "rfc7539esp(chacha20,poly1305)", 128),
    ]
    for encr, integ, klen, name, icv in cases:
        out, _ = dp.sa_specs(
            child_sa(encr=encr, integ=integ, key_out_encr=bytes(klen)), placement(), 1
        )
        a = nl.parse_attrs(nl.encode_sa(out), nl.USERSA_INFO_LEN)[nl.XFRMA_ALG_AEAD]
        assert a[: len(name)].decode() == name
        assert struct.unpack_from("=II", a, 64) == (klen * 8, icv)
    for integ, name, trunc in [
        (IntegId.HMAC_SHA1_96, "hmac(sha1)", 96),
        (IntegId.HMAC_SHA2_384_192, "hmac(sha384)", 192),
        (IntegId.HMAC_SHA2_512_256, "hmac(sha512)", 256),
        (IntegId.AES_XCBC_96, "xcbc(aes)", 96),
        (IntegId.AES_CMAC_96, "cmac(aes)", 96),
    ]:
        out, _ = dp.sa_specs(child_sa(integ=integ), placement(), 1)
        a = nl.parse_attrs(nl.encode_sa(out), nl.USERSA_INFO_LEN)[nl.XFRMA_ALG_AUTH_TRUNC]
        assert a[: len(name)].decode() == name and struct.unpack_from("=I", a, 68)[0] == trunc
    for encr, name in [
        (EncrId.AES_CTR, "rfc3686(ctr(aes))"),
        (EncrId.TRIPLE_DES, "cbc(des3_ede)"),
        (EncrId.NULL, "ecb(cipher_null)"),
    ]:
        out, _ = dp.sa_specs(child_sa(encr=encr), placement(), 1)
        a = nl.parse_attrs(nl.encode_sa(out), nl.USERSA_INFO_LEN)[nl.XFRMA_ALG_CRYPT]
        assert a[: len(name)].decode() == name


def test_offload_attribute() -> None:
    from cygnet.dataplane.xfrm import NicOffload

    dp = XfrmDataplane()
    out, inb = dp.sa_specs(child_sa(), placement(), 1, NicOffload("packet", "lo"))
    lo = socket.if_nametoindex("lo")
    a_out = nl.parse_attrs(nl.encode_sa(out), nl.USERSA_INFO_LEN)[nl.XFRMA_OFFLOAD_DEV]
    a_in = nl.parse_attrs(nl.encode_sa(inb), nl.USERSA_INFO_LEN)[nl.XFRMA_OFFLOAD_DEV]
    assert struct.unpack("=iB3x", a_out) == (lo, nl.XFRM_OFFLOAD_PACKET)
    assert struct.unpack("=iB3x", a_in) == (lo, nl.XFRM_OFFLOAD_PACKET | nl.XFRM_OFFLOAD_INBOUND)


def test_libreswan_priority_matches_routed_conn() -> None:
    # A-ip-xfrm-policy-routed.txt: static conn 192.1.2.45/32 -> 192.1.2.23/32
    assert libreswan_priority(32, 32) == 1753281
    assert libreswan_priority(24, 24) < libreswan_priority(16, 24)  # longer prefix wins
    assert libreswan_priority(32, 32, proto_any=False) < libreswan_priority(32, 32)
    assert libreswan_priority(32, 32, instance=True) == 1753280


def test_error_wording_is_plutos() -> None:
    e = nl.XfrmError(93, "Add SA", nl.said(50, 0xB38F20AF, EAST))
    assert str(e) == (
        "netlink response for Add SA esp.b38f20af@192.1.2.23: Protocol not supported (errno 93)"
    )
    assert nl.said(50, 0x1234, W6) == "esp:1234@2001:db8:1:2::45"


def test_acquire_and_expire_parsing_dispatch() -> None:
    from cygnet.dataplane.base import DataplaneEvents

    dp = XfrmDataplane()
    got: list[tuple] = []
    dp._events = DataplaneEvents(
        on_acquire=lambda r, s, d: got.append(("acq", r, s, d)),
        on_expire=lambda serial, hard: got.append(("exp", serial, hard)),
    )
    # pretend route 7 is installed (no kernel): register its policy by hand
    spec = dp._trap_specs(host_ts(WEST), host_ts(EAST), None, None)[0]
    from cygnet.dataplane.xfrm.backend import _Policy

    dp._policies[dp._key(spec)] = _Policy(spec, route_id=7)
    pkt = nl.Selector(socket.AF_INET, WEST, EAST, 32, 32, 1, 8, 0)
    acquire = (
        EAST.packed.ljust(16, b"\0")
        + bytes(4)
        + bytes([50, 0, 0, 0])
        + WEST.packed.ljust(16, b"\0")
        + pkt.pack()
        + nl.encode_policy(spec)[:168]
        + struct.pack("=4I", 0, 0, 0, 1)
    )
    assert len(acquire) == nl.USER_ACQUIRE_LEN
    dp.handle_event_data(nl.nlmsg(nl.XFRM_MSG_ACQUIRE, 0, 0, acquire))
    assert got[0][:2] == ("acq", 7)
    assert got[0][2].start == WEST and got[0][3].start == EAST and got[0][2].ip_protocol == 1

    dp._spi_owner[(EAST, 0xB38F20AF)] = 2
    sa = nl.usersa_info(nl.Selector(), EAST, 0xB38F20AF, 50, WEST, nl.lifetime_cfg(), 1, 1)
    for hard in (False, False, True):
        dp.handle_event_data(nl.nlmsg(nl.XFRM_MSG_EXPIRE, 0, 0, sa + bytes([hard]) + bytes(7)))
    assert got[1:] == [("exp", 2, False), ("exp", 2, True)]
    # pluto's "length 116 < 232": short messages are ignored, not fatal
    dp.handle_event_data(nl.nlmsg(nl.XFRM_MSG_EXPIRE, 0, 0, bytes(100)))


def test_packet_offload_policies_and_if_id_extra_flags() -> None:
    from cygnet.dataplane.xfrm import NicOffload

    dp = XfrmDataplane()
    specs = dp.policy_specs(child_sa(), placement(), 1, offload=NicOffload("packet", "lo"))
    lo = socket.if_nametoindex("lo")
    for spec in specs:
        attrs = nl.parse_attrs(nl.encode_policy(spec), nl.USERPOLICY_INFO_LEN)
        if spec.dir == nl.XFRM_POLICY_FWD:
            assert nl.XFRMA_OFFLOAD_DEV not in attrs
        else:
            assert struct.unpack("=iB3x", attrs[nl.XFRMA_OFFLOAD_DEV]) == (
                lo,
                nl.XFRM_OFFLOAD_PACKET,
            )
    out, _ = dp.sa_specs(child_sa(), placement(), 1)
    out = dataclasses.replace(out, if_id=7, extra_flags=1)
    attrs = nl.parse_attrs(nl.encode_sa(out), nl.USERSA_INFO_LEN)
    assert attrs[nl.XFRMA_IF_ID] == struct.pack("=I", 7)
    assert attrs[nl.XFRMA_SA_EXTRA_FLAGS] == struct.pack("=I", 1)
