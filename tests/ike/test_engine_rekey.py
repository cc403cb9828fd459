"""Simultaneous rekeying (RFC 7296 §2.8.1, §2.8.2) and rekey/delete collisions (§2.25)."""

from __future__ import annotations

import itertools
import os

import pytest

from cygnet.ike.engine import IkeEngine
from cygnet.ike.events import DeleteChildSa, IkeSaRekeyed
from cygnet.ike.sa import IkeSa, State
from tests.ike.ikepair import WEST, OneConn, Wire, policy


def nonce_source(prefixes):
    """os.urandom, except that 32-octet nonces start with the next octet of `prefixes`."""
    it = iter(prefixes)

    def rnd(n: int) -> bytes:
        if n == 32:
            return bytes([next(it)]) + os.urandom(n - 1)
        return os.urandom(n)

    return rnd


def up(west_random=os.urandom, east_random=os.urandom, **kw) -> tuple[Wire, IkeSa, IkeSa]:
    wp, ep = policy("west", **kw), policy("east", **kw)
    west = IkeEngine(OneConn(wp), now=0.0, random=west_random)
    east = IkeEngine(OneConn(ep), now=0.0, random=east_random)
    wire = Wire(west, east)
    sa, events = west.initiate(wp, WEST, policy_addr(), 0.0)
    wire.feed("west", events)
    wire.run()
    assert sa.state is State.ESTABLISHED
    (east_sa,) = east.sas.values()
    return wire, sa, east_sa


def policy_addr():
    from tests.ike.ikepair import EAST
    return EAST


def only(d):
    (v,) = d.values()
    return v


def assert_children_match(w: IkeSa, e: IkeSa) -> None:
    assert len(w.children) == 1 and len(e.children) == 1, (w.children, e.children)
    wc, ec = only(w.children).keys, only(e.children).keys
    assert wc.spi_out == ec.spi_in and wc.spi_in == ec.spi_out
    assert wc.key_out_encr == ec.key_in_encr and wc.key_in_encr == ec.key_out_encr
    assert wc.key_out_integ == ec.key_in_integ and wc.key_in_integ == ec.key_out_integ


@pytest.mark.parametrize("west_lowest", [True, False])
def test_simultaneous_child_rekey_keeps_one_child(west_lowest: bool) -> None:
    # West's nonces all sort below east's, so the lowest of the four nonces is west's;
    # the order of west's two nonces decides which exchange holds it.
    west_prefixes = itertools.count(1) if west_lowest else itertools.count(100, -1)
    wire, wsa, esa = up(nonce_source(west_prefixes), nonce_source(itertools.repeat(0xF0)))
    old_w, old_e = only(wsa.children), only(esa.children)
    wire.feed("west", wsa.rekey_child(old_w.serial, wire.now))
    wire.feed("east", esa.rekey_child(old_e.serial, wire.now))
    # both requests travel before either response (the wire is FIFO)
    wire.run()
    assert_children_match(wsa, esa)
    assert only(wsa.children).serial != old_w.serial
    # west's own rekey exchange used (Ni=west, Nr=east), east's (Ni=east, Nr=west); west's
    # first nonce is its Ni: with increasing prefixes west's exchange holds the lowest nonce
    # and west deletes the Child SA it created.
    loser, winner = ("west", "east") if west_lowest else ("east", "west")
    assert any("deleting our redundant Child SA" in x for x in wire.logs[loser])
    assert any("survives, the peer deletes" in x for x in wire.logs[winner])
    assert not any("deleting our redundant" in x for x in wire.logs[winner])
    # the old Child SA is gone on both ends, exactly once each
    for side, old in (("west", old_w), ("east", old_e)):
        gone = [d.serial for d in wire.events[side] if isinstance(d, DeleteChildSa)]
        assert gone.count(old.serial) == 1
    assert wsa.state is State.ESTABLISHED and esa.state is State.ESTABLISHED
    # and the survivor is usable for further rekeys
    wire.feed("west", wsa.rekey_child(only(wsa.children).serial, wire.now))
    wire.run()
    assert_children_match(wsa, esa)


@pytest.mark.parametrize("west_lowest", [True, False])
def test_simultaneous_ike_rekey_keeps_one_ike_sa(west_lowest: bool) -> None:
    west_prefixes = itertools.count(1) if west_lowest else itertools.count(100, -1)
    wire, wsa, esa = up(nonce_source(west_prefixes), nonce_source(itertools.repeat(0xF0)))
    child = only(wsa.children).serial
    wire.feed("west", wsa.rekey_ike(wire.now))
    wire.feed("east", esa.rekey_ike(wire.now))
    wire.run()
    assert wsa.state is State.DEAD and esa.state is State.DEAD
    new_w, new_e = only(wire.west.sas), only(wire.east.sas)
    assert new_w.state is State.ESTABLISHED and new_e.state is State.ESTABLISHED
    assert new_w.spi_i == new_e.spi_i and new_w.spi_r == new_e.spi_r
    assert new_w.keys.sk_d == new_e.keys.sk_d
    assert child in new_w.children
    assert_children_match(new_w, new_e)
    loser = "west" if west_lowest else "east"
    assert any("deleting our redundant IKE SA" in x for x in wire.logs[loser])
    # the daemon hears of the survivor last
    for side, new in (("west", new_w), ("east", new_e)):
        rekeyed = [e for e in wire.events[side] if isinstance(e, IkeSaRekeyed)]
        assert rekeyed[-1].new_sa is new
    # the surviving IKE SA carries on: a new Child SA and a rekey through it
    wire.feed("west", new_w.create_child(wire.now))
    wire.run()
    assert len(new_w.children) == 2 and len(new_e.children) == 2
    wire.feed("east", new_e.rekey_ike(wire.now))
    wire.run()
    newer_w, newer_e = only(wire.west.sas), only(wire.east.sas)
    assert newer_w is not new_w and newer_w.keys.sk_d == newer_e.keys.sk_d
    assert len(newer_w.children) == 2


def test_child_rekey_colliding_with_its_delete() -> None:
    wire, wsa, esa = up()
    old_w, old_e = only(wsa.children), only(esa.children)
    wire.feed("west", wsa.rekey_child(old_w.serial, wire.now))
    wire.feed("east", esa.delete_child(old_e.serial, wire.now))
    wire.run()
    assert not wsa.children and not esa.children
    assert any("TEMPORARY_FAILURE" in x for x in wire.logs["west"])
    assert wsa.state is State.ESTABLISHED and esa.state is State.ESTABLISHED
    # nothing is left half-done: a fresh Child SA still works
    wire.feed("west", wsa.create_child(wire.now))
    wire.run()
    assert_children_match(wsa, esa)


def test_ike_rekey_colliding_with_delete() -> None:
    wire, wsa, esa = up()
    wire.feed("west", wsa.rekey_ike(wire.now))
    wire.feed("east", esa.delete(wire.now))
    wire.run()
    assert not wire.west.sas and not wire.east.sas
    assert wsa.state is State.DEAD and esa.state is State.DEAD
    assert wire.now < 5  # settled by the exchanges, not by a retransmission timeout


def test_simultaneous_ike_delete_is_answered() -> None:
    wire, wsa, esa = up()
    wire.feed("west", wsa.delete(wire.now))
    wire.feed("east", esa.delete(wire.now))
    wire.run()
    assert not wire.west.sas and not wire.east.sas
    assert wire.now < 5


def test_rekey_request_after_our_rekey_completed_gets_temporary_failure() -> None:
    """West finishes its rekey before east's crossing request reaches it (§2.25.1)."""
    wire, wsa, esa = up()
    old_w, old_e = only(wsa.children), only(esa.children)
    wire.feed("west", wsa.rekey_child(old_w.serial, wire.now))
    wire.feed("east", esa.rekey_child(old_e.serial, wire.now))
    # deliver west's request and east's answer to it first, holding east's request back
    # (both requests may be fragmented: CREATE_CHILD_SA with MODP2048 exceeds 532 octets)
    w_req = [ev for src, ev in wire._queue if src == "west"]
    e_req = [ev for src, ev in wire._queue if src == "east"]
    wire._queue.clear()
    answers = []
    for d in w_req:
        answers += wire.east.receive(d.data, d.remote, d.local, wire.now)
    wire.feed("east", answers)
    wire._queue.clear()
    for a in answers:
        if hasattr(a, "data"):
            wire.feed("west", wire.west.receive(a.data, a.remote, a.local, wire.now))
    for d in e_req:
        wire.feed("west", wire.west.receive(d.data, d.remote, d.local, wire.now))
    wire.run()
    assert_children_match(wsa, esa)
    assert any("TEMPORARY_FAILURE" in x for x in wire.logs["east"])


def test_ike_rekey_request_after_our_ike_rekey_completed() -> None:
    """West's IKE SA rekey completes before east's crossing one arrives (§2.25)."""
    wire, wsa, esa = up()
    child = only(wsa.children).serial
    wire.feed("west", wsa.rekey_ike(wire.now))
    wire.feed("east", esa.rekey_ike(wire.now))
    w_req = [ev for src, ev in wire._queue if src == "west"]
    e_req = [ev for src, ev in wire._queue if src == "east"]
    wire._queue.clear()
    answers = []
    for d in w_req:
        answers += wire.east.receive(d.data, d.remote, d.local, wire.now)
    wire.feed("east", answers)
    wire._queue.clear()
    for a in answers:
        if hasattr(a, "data"):
            wire.feed("west", wire.west.receive(a.data, a.remote, a.local, wire.now))
    # west has its new IKE SA and is deleting the old one; now east's request lands
    for d in e_req:
        wire.feed("west", wire.west.receive(d.data, d.remote, d.local, wire.now))
    wire.run()
    assert wsa.state is State.DEAD and esa.state is State.DEAD
    new_w, new_e = only(wire.west.sas), only(wire.east.sas)
    assert new_w.keys.sk_d == new_e.keys.sk_d and child in new_w.children
    assert_children_match(new_w, new_e)
    assert any("answering CREATE_CHILD_SA request with TEMPORARY_FAILURE" in x
               for x in wire.logs["west"])
    rekeyed = [e for e in wire.events["east"] if isinstance(e, IkeSaRekeyed)]
    assert rekeyed[-1].new_sa is new_e


@pytest.mark.parametrize("west_lowest", [True, False])
def test_simultaneous_child_rekey_with_additional_key_exchanges(west_lowest: bool) -> None:
    west_prefixes = itertools.count(1) if west_lowest else itertools.count(100, -1)
    pq = {"ike": "aes_gcm256-sha2_512;dh19;addke1=mlkem768", "esp": "aes_gcm256;dh19;addke1=mlkem768"}
    wire, wsa, esa = up(nonce_source(west_prefixes), nonce_source(itertools.repeat(0xF0)), **pq)
    old_w, old_e = only(wsa.children), only(esa.children)
    wire.feed("west", wsa.rekey_child(old_w.serial, wire.now))
    wire.feed("east", esa.rekey_child(old_e.serial, wire.now))
    wire.run()
    assert_children_match(wsa, esa)
    assert wsa.state is State.ESTABLISHED and esa.state is State.ESTABLISHED


@pytest.mark.parametrize("west_lowest", [True, False])
def test_simultaneous_ike_rekey_with_additional_key_exchanges(west_lowest: bool) -> None:
    west_prefixes = itertools.count(1) if west_lowest else itertools.count(100, -1)
    wire, wsa, esa = up(nonce_source(west_prefixes), nonce_source(itertools.repeat(0xF0)),
                        ike="aes_gcm256-sha2_512;dh19;addke1=mlkem768")
    wire.feed("west", wsa.rekey_ike(wire.now))
    wire.feed("east", esa.rekey_ike(wire.now))
    wire.run()
    new_w, new_e = only(wire.west.sas), only(wire.east.sas)
    assert new_w.keys.sk_d == new_e.keys.sk_d
    assert_children_match(new_w, new_e)
