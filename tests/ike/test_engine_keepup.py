"""Engine pieces that keep tunnels up: liveness timeouts, forced/forbidden UDP
encapsulation, the rekey's responder-side marker, keeping IKE SA algorithms across a
rekey, and the stateless IKE_SA_INIT error line."""

from __future__ import annotations

from dataclasses import replace

from cygnet.ike import proposals as props
from cygnet.ike.events import IkeSaDeleted, IkeSaRekeyed
from cygnet.ike.iana import TransformType
from cygnet.ike.sa import State
from tests.ike.ikepair import pair, policy


def _up(**kw):
    wire, sa = pair(policy("west", **kw), policy("east", **kw))
    wire.run()
    assert sa.state is State.ESTABLISHED
    (east,) = wire.east.sas.values()
    return wire, sa, east


def test_liveness_answered_keeps_the_sa_and_refreshes_last_received() -> None:
    wire, sa, _ = _up()
    before = sa.last_received
    wire.now = 30.0
    wire.feed("west", sa.liveness(30.0, timeout=2.0))
    wire.run()
    assert sa.state is State.ESTABLISHED and sa.last_received == 30.0 > before


def test_liveness_timeout_deletes_with_reason() -> None:
    wire, sa, _ = _up()
    wire.drop = lambda i, src, d: True  # the peer is gone
    wire.now = 10.0
    wire.feed("west", sa.liveness(10.0, timeout=2.0))
    wire.run(until=100.0)
    assert sa.state is State.DEAD
    dead = [e for e in wire.events["west"] if isinstance(e, IkeSaDeleted)]
    assert dead and dead[-1].details == {"reason": "liveness"} and not dead[-1].notified
    assert any("liveness: peer has not responded in 2 seconds; deleting IKE SA" in t
               for t in wire.logs["west"])
    # retransmitted 0.5, 1 s... and gave up at 2 s, not at retransmit-timeout (60 s)
    assert wire.now <= 12.0


def test_encapsulation_yes_forces_udp_without_nat() -> None:
    wire, sa, east = _up(encapsulation="yes")
    assert sa.nat is not None and sa.nat.any and east.nat is not None and east.nat.any
    assert sa.local.port == 4500 and sa.remote.port == 4500
    (inst,) = wire.installed("west")
    assert inst.child.udp_encap


def test_encapsulation_no_stays_on_500_even_behind_nat() -> None:
    wp = policy("west", encapsulation="no")
    ep = policy("east", encapsulation="yes")  # east fakes a NAT; west refuses to encapsulate
    wire, sa = pair(wp, ep)
    wire.run()
    assert sa.state is State.ESTABLISHED and sa.local.port == 500
    assert any("encapsulation=no" in t for t in wire.logs["west"])
    assert not wire.installed("west")[0].child.udp_encap


def test_child_rekey_marks_the_responders_install() -> None:
    wire, sa, east = _up()
    serial = next(iter(sa.children))
    wire.feed("west", sa.rekey_child(serial, 1.0))
    wire.run()
    w = [e for e in wire.installed("west") if e.replaces is not None]
    e = [x for x in wire.installed("east") if x.replaces is not None]
    assert w and not w[0].responder and e and e[0].responder


def test_ike_rekey_keeps_the_algorithms_in_use() -> None:
    """Whichever side rekeys offers (and prefers) the IKE SA's own proposal, so the PRF
    never changes - implementations disagree on which PRF keys a rekeyed SA when it does."""
    ike = "aes256-sha2_256;modp2048,aes_gcm256-sha2_512;modp2048"
    wire, sa, east = _up(ike=ike)
    prf0 = sa.chosen.of_type(TransformType.PRF)[0].id
    for who in (sa, east):
        wire.feed("west" if who is sa else "east", who.rekey_ike(5.0))
        wire.run()
        new = [e.new_sa for e in wire.events["west"] if isinstance(e, IkeSaRekeyed)][-1]
        assert new.chosen.of_type(TransformType.PRF)[0].id == prf0
        sa = new
        east = [e.new_sa for e in wire.events["east"] if isinstance(e, IkeSaRekeyed)][-1]


def test_responder_prefers_current_algorithms_when_offered_a_list() -> None:
    """A peer (strongSwan) offering its whole list gets our current proposal back."""
    wire, sa, east = _up(ike="aes256-sha2_256;modp2048")
    offered = props.parse_ike("aes_gcm256-sha2_512;modp2048,aes256-sha2_256;modp2048")
    east_pol = replace(east.policy, ike_proposals=tuple(offered))
    east.policy = east_pol
    assert east._rekey_proposals()[0].of_type(TransformType.PRF)[0].id == \
        sa.chosen.of_type(TransformType.PRF)[0].id


def test_no_proposal_chosen_answer_is_logged_by_the_responder() -> None:
    wp = policy("west", ike="aes256-sha2_512;dh19")
    ep = policy("east", ike="aes128-sha2_256;modp2048")
    wire, sa = pair(wp, ep)
    wire.run(until=3.0)
    assert any("responding to IKE_SA_INIT message (ID 0) from 192.1.2.45:500 with unencrypted "
               "notification NO_PROPOSAL_CHOSEN" in t for t in wire.logs["east"])
    assert not wire.installed("west")
