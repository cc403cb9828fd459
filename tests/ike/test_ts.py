"""Traffic selectors: ranges, display, and Libreswan's narrowing rules."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from cygnet.ike.payloads import TrafficSelector
from cygnet.ike.ts import (
    TsUnacceptable,
    describe,
    from_network,
    host,
    initiator_accepts,
    responder_narrow,
    to_str,
    validate,
)

T = from_network


def test_display_matches_libreswan() -> None:
    assert describe((T("192.0.1.0/24"),), (T("192.0.2.0/24"),)) == "[192.0.1.0/24===192.0.2.0/24]"
    assert to_str(host("192.1.2.45")) == "192.1.2.45/32"
    assert to_str(T("2001:db8:0:1::/64")) == "2001:db8:0:1::/64"
    odd = TrafficSelector(ip_address("10.0.0.1"), ip_address("10.0.0.6"))
    assert to_str(odd) == "10.0.0.1-10.0.0.6"
    assert to_str(T("10.0.0.0/8", protocol=6, port=22)) == "10.0.0.0/8/6/22"


def test_bad_selectors_are_refused() -> None:
    with pytest.raises(ValueError):
        validate(TrafficSelector(ip_address("10.0.0.2"), ip_address("10.0.0.1")))
    with pytest.raises(ValueError):
        validate(TrafficSelector(ip_address("10.0.0.1"), ip_address("::1")))
    with pytest.raises(ValueError):
        validate(TrafficSelector(ip_address("10.0.0.1"), ip_address("10.0.0.1"), 6, 80, 22))


def test_responder_accepts_a_proposal_inside_its_config() -> None:
    proposed = (T("192.0.2.0/25"),)
    assert responder_narrow(proposed, (T("192.0.2.0/24"),), narrowing=False) == proposed


def test_responder_narrows_only_with_narrowing_yes() -> None:
    proposed = (T("0.0.0.0/0"),)
    configured = (T("192.0.2.0/24"),)
    with pytest.raises(TsUnacceptable):
        responder_narrow(proposed, configured, narrowing=False)
    assert responder_narrow(proposed, configured, narrowing=True) == configured


def test_disjoint_selectors_are_unacceptable_even_with_narrowing() -> None:
    with pytest.raises(TsUnacceptable):
        responder_narrow((T("192.0.3.0/24"),), (T("192.0.2.0/24"),), narrowing=True)
    with pytest.raises(TsUnacceptable):
        responder_narrow((T("2001:db8::/64"),), (T("192.0.2.0/24"),), narrowing=True)


def test_protocol_and_ports_narrow() -> None:
    proposed = (T("192.0.2.0/24"),)
    configured = (T("192.0.2.0/24", protocol=6, port=22),)
    assert responder_narrow(proposed, configured, narrowing=True) == configured


def test_initiator_checks_the_answer() -> None:
    proposed = (T("192.0.2.0/24"),)
    assert initiator_accepts(proposed, proposed, narrowing=False)
    assert not initiator_accepts(proposed, (T("192.0.2.0/25"),), narrowing=False)
    assert initiator_accepts(proposed, (T("192.0.2.0/25"),), narrowing=True)
    assert not initiator_accepts(proposed, (T("192.0.3.0/24"),), narrowing=True)
    assert not initiator_accepts(proposed, (), narrowing=True)
