"""What install/remove/route ask of the kernel, in order, against a recording fake socket.

The sequence is the part of pluto's behaviour a kernel without ESP cannot
show: SAs before policies, UPDSA over a reserved SPI, make-before-break on
rekey, the trap coming back when the last SA goes.
"""

from __future__ import annotations

import errno
import os

import pytest

from cygnet.dataplane.xfrm import NicOffload, XfrmDataplane, XfrmError, XfrmOffloadError
from cygnet.dataplane.xfrm import netlink as nl

from .helpers import EAST, WEST, child_sa, host_ts, placement

NAMES = {
    nl.XFRM_MSG_NEWSA: "NEWSA",
    nl.XFRM_MSG_UPDSA: "UPDSA",
    nl.XFRM_MSG_DELSA: "DELSA",
    nl.XFRM_MSG_GETSA: "GETSA",
    nl.XFRM_MSG_UPDPOLICY: "UPDPOLICY",
    nl.XFRM_MSG_DELPOLICY: "DELPOLICY",
    nl.XFRM_MSG_ALLOCSPI: "ALLOCSPI",
}


class FakeSocket:
    """Records requests; `fail` maps (message name, call index or None) to an errno."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str]] = []
        self.payloads: list[bytes] = []
        self.fail: dict[str, int] = {}
        self.fail_once: dict[str, int] = {}

    def request(self, mtype, payload, what, story, flags=nl.NLM_F_ACK, ok_errnos=()):
        name = NAMES[mtype]
        self.log.append((name, story))
        self.payloads.append(payload)
        err = self.fail_once.pop(name, None) or self.fail.get(name)
        if err:
            raise XfrmError(err, what, story)
        if mtype == nl.XFRM_MSG_ALLOCSPI:
            info = nl.usersa_info(nl.Selector(), WEST, 0x4242, 50, EAST, bytes(64), 0, 1)
            return [nl.NlMsg(nl.XFRM_MSG_NEWSA, 0, 1, 0, info)]
        if mtype == nl.XFRM_MSG_GETSA:
            info = nl.usersa_info(nl.Selector(), WEST, 0, 50, EAST, bytes(64), 0, 1)
            return [nl.NlMsg(nl.XFRM_MSG_NEWSA, 0, 1, 0, info)]
        return []

    def close(self) -> None:
        pass

    def take(self) -> list[str]:
        names = [n for n, _ in self.log if n != "GETSA"]
        self.log.clear()
        return names


@pytest.fixture
def dp() -> tuple[XfrmDataplane, FakeSocket]:
    d = XfrmDataplane(ipv6_nd_bypass=False)
    fake = FakeSocket()
    d._cmd = fake  # type: ignore[assignment]
    return d, fake


def test_install_order_and_reserved_spi(dp) -> None:
    d, fake = dp
    spi = d.allocspi(WEST, EAST)
    assert spi == (0x4242).to_bytes(4, "big")
    fake.take()
    d.install(child_sa(spi_in=0x4242), placement())
    assert fake.take() == ["NEWSA", "UPDSA", "UPDPOLICY", "UPDPOLICY", "UPDPOLICY"]
    assert d.reqid_of(2) == 16385


def test_make_before_break(dp) -> None:
    d, fake = dp
    d.install(child_sa(serial=2, spi_in=0x1001, spi_out=0x2001), placement())
    fake.take()
    d.install(child_sa(serial=3, spi_in=0x1002, spi_out=0x2002), placement(), replaces=2)
    # new SAs, policies refreshed (same reqid), then the old outbound SA goes
    assert fake.take() == ["NEWSA", "NEWSA", "UPDPOLICY", "UPDPOLICY", "UPDPOLICY", "DELSA"]
    assert fake.log == [] and d.reqid_of(3) == d.reqid_of(2) == 16385
    d.remove(2)  # the old inbound SA only; the policies stay for #3
    assert fake.take() == ["DELSA"]
    d.remove(3)
    assert fake.take() == ["DELPOLICY", "DELPOLICY", "DELPOLICY", "DELSA", "DELSA"]


def test_rekey_responder_holds_outbound_until_set_outbound(dp) -> None:
    """We answered a rekey: the old outbound SA stays until the peer has the new one."""
    d, fake = dp
    d.install(child_sa(serial=2, spi_in=0x1001, spi_out=0x2001), placement())
    fake.take()
    d.install(child_sa(serial=3, spi_in=0x1002, spi_out=0x2002), placement(), replaces=2,
              outbound=False)
    assert fake.take() == ["NEWSA", "UPDPOLICY", "UPDPOLICY", "UPDPOLICY"]  # inbound only
    d.set_outbound(3)
    log = list(fake.log)
    assert fake.take() == ["NEWSA", "DELSA"]  # new outbound in, then the old one out
    assert log[0][1] == "esp.2002@192.1.2.23" and log[-1][1] == "esp.2001@192.1.2.23", log
    d.set_outbound(3)  # idempotent
    assert fake.take() == []
    d.remove(2)
    assert fake.take() == ["DELSA"]


def test_held_outbound_dropped_with_its_sa(dp) -> None:
    d, fake = dp
    d.install(child_sa(serial=2, spi_in=0x1001, spi_out=0x2001), placement())
    d.install(child_sa(serial=3, spi_in=0x1002, spi_out=0x2002), placement(), replaces=2,
              outbound=False)
    fake.take()
    d.remove(3)  # never switched: only its inbound SA existed
    assert fake.take() == ["DELSA"]
    d.set_outbound(3)
    assert fake.take() == []


def test_trap_returns_when_last_sa_goes(dp) -> None:
    d, fake = dp
    d.route(1, host_ts(WEST), host_ts(EAST))
    d.install(child_sa(), placement())
    fake.take()
    d.remove(2)
    # out: back to %trap; in/fwd: deleted
    assert fake.log[0] == ("UPDPOLICY", "%trap(ipsec)")
    assert fake.take() == ["UPDPOLICY", "DELPOLICY", "DELPOLICY", "DELSA", "DELSA"]
    d.unroute(1)
    assert fake.take() == ["DELPOLICY"]


def test_failed_install_rolls_back(dp) -> None:
    d, fake = dp
    d.allocspi(WEST, EAST)
    fake.take()
    fake.fail["UPDPOLICY"] = errno.ENOBUFS
    with pytest.raises(XfrmError) as e:
        d.install(child_sa(spi_in=0x4242), placement())
    assert e.value.errno == errno.ENOBUFS
    assert str(e.value) == (
        "kernel: xfrm XFRM_MSG_UPDPOLICY IPIP response for flow (out): "
        "No buffer space available (errno 105)"
    )
    assert fake.take() == ["NEWSA", "UPDSA", "UPDPOLICY", "DELSA", "DELSA"]
    assert d._children == {} and d._policies == {} and d._reserved == set()


def test_offload_refused_is_reported_and_auto_falls_back(dp, monkeypatch) -> None:
    from cygnet.dataplane.xfrm import backend

    monkeypatch.setattr(backend, "esp_hw_offload", lambda ifname: (True, True))
    d, fake = dp
    fake.fail_once["NEWSA"] = errno.EOPNOTSUPP
    with pytest.raises(XfrmOffloadError) as e:
        d.install(child_sa(), placement(), offload=NicOffload("crypto", "lo"))
    assert str(e.value) == (
        "netlink response for Add SA esp.b38f20af@192.1.2.23: Operation not supported (errno 95)"
    )
    fake.take()
    fake.fail_once["NEWSA"] = errno.EINVAL
    d.install(child_sa(), placement(), offload=NicOffload("auto", "lo"))
    # first NEWSA with XFRMA_OFFLOAD_DEV refused, then the same SA without it
    assert fake.take()[:2] == ["NEWSA", "NEWSA"]
    assert nl.XFRMA_OFFLOAD_DEV in nl.parse_attrs(fake.payloads[-6], nl.USERSA_INFO_LEN)
    assert nl.XFRMA_OFFLOAD_DEV not in nl.parse_attrs(fake.payloads[-5], nl.USERSA_INFO_LEN)


def test_counters_zero_for_unknown_and_send_ike_declines(dp) -> None:
    d, _fake = dp
    assert d.counters(99).in_bytes == 0
    assert d.send_ike(b"x", None, None) is False  # type: ignore[arg-type]


def test_enable_udp_encap_on_a_udp_socket() -> None:
    import socket

    from cygnet.dataplane.xfrm import bypass_ike_socket, enable_udp_encap

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        enable_udp_encap(s)
        assert s.getsockopt(17, 100) == nl.UDP_ENCAP_ESPINUDP
        if os.geteuid() == 0:  # needs CAP_NET_ADMIN
            bypass_ike_socket(s)  # per-socket policy: touches no global table


def test_esp_hw_offload_query_is_read_only_and_lo_never_offloads() -> None:
    from cygnet.dataplane.xfrm import esp_hw_offload, kernel_offload_log_line

    kernel, active = esp_hw_offload("lo")
    assert active is False
    assert esp_hw_offload("no-such-if0") == (False, False)
    assert kernel_offload_log_line() == (
        "Kernel supports NIC esp-hw-offload"
        if kernel
        else "Kernel does not support NIC esp-hw-offload"
    )
