"""IKE_INTERMEDIATE (RFC 9242) with ML-KEM additional key exchanges (RFC 9370)."""

from __future__ import annotations

import pytest

from cygnet.ike.events import IkeSaFailed
from cygnet.ike.iana import ExchangeType, NotifyType
from cygnet.ike.message import Message, peek_header
from cygnet.ike.sa import State
from tests.ike.ikepair import pair, policy

PQ = "aes_gcm256-sha2_512;dh19;addke1=mlkem768"


def exchanges(wire, side: str) -> list[tuple[int, int, bool]]:
    """(exchange, message ID, response) of every distinct message `side` sent."""
    out = []
    for src, d in wire.sent:
        if src != side:
            continue
        h = peek_header(d)
        item = (h.exchange, h.message_id, h.is_response)
        if item not in out:
            out.append(item)
    return out


def keys_match(wire, sa) -> None:
    (east,) = wire.east.sas.values()
    assert sa.keys.sk_d == east.keys.sk_d and sa.keys.sk_ei == east.keys.sk_ei
    w, e = wire.installed("west")[-1].child, wire.installed("east")[-1].child
    assert w.key_out_encr == e.key_in_encr and w.spi_out == e.spi_in


@pytest.mark.parametrize(
    ("ike", "rounds"),
    [
        (PQ, 1),
        ("aes_gcm256-sha2_512;dh19;addke1=mlkem1024", 1),
        ("aes_gcm256-sha2_512-dh19-addke1=mlkem768", 1),  # '-' before the KE part too
        ("aes256-sha2_256;dh31;addke1=mlkem768;addke2=mlkem1024", 2),
    ],
)
@pytest.mark.parametrize("authby", ["secret", "rsasig"])
def test_additional_key_exchanges(ike: str, rounds: int, authby: str) -> None:
    wire, sa = pair(policy("west", ike=ike, authby=authby), policy("east", ike=ike, authby=authby))
    wire.run()
    assert sa.state is State.ESTABLISHED, wire.logs
    keys_match(wire, sa)
    assert sa._intermediates == rounds
    inter = ExchangeType.IKE_INTERMEDIATE
    expected = [(ExchangeType.IKE_SA_INIT, 0, False)] + [(inter, i, False) for i in range(1, rounds + 1)]
    assert exchanges(wire, "west") == expected + [(ExchangeType.IKE_AUTH, rounds + 1, False)]
    assert exchanges(wire, "east")[1:-1] == [(inter, i, True) for i in range(1, rounds + 1)]
    init = Message.decode(wire.sent[0][1])
    assert init.notifies(NotifyType.INTERMEDIATE_EXCHANGE_SUPPORTED)
    assert any("sent IKE_INTERMEDIATE request to 192.1.2.23:500 (ADDKE1=ML_KEM_" in x
               for x in wire.logs["west"])
    # the IKE SA is usable and rekeyable afterwards
    wire.feed("west", sa.create_child(wire.now))
    wire.run()
    assert len(sa.children) == 2
    wire.feed("west", sa.rekey_ike(wire.now))
    wire.run()
    (new,) = wire.west.sas.values()
    assert new is not sa and len(new.children) == 2


def test_keys_change_with_each_additional_exchange() -> None:
    """The IKE_AUTH keys are not the IKE_SA_INIT ones (RFC 9370 §2.2.2)."""
    wire, sa = pair(policy("west", ike=PQ), policy("east", ike=PQ))
    seen = []
    real = sa._install_ike_keys

    def spy(keys):
        seen.append(keys)
        real(keys)

    sa._install_ike_keys = spy  # type: ignore[method-assign]
    wire.run()
    assert sa.state is State.ESTABLISHED
    assert len(seen) == 2 and seen[0].sk_d != seen[1].sk_d and seen[1] is sa.keys


def test_int_auth_is_authenticated() -> None:
    """A responder that leaves the IKE_INTERMEDIATE messages out of AUTH fails."""
    wire, sa = pair(policy("west", ike=PQ), policy("east", ike=PQ))
    with pytest.raises(AssertionError):
        wire.run(max_steps=2)  # IKE_SA_INIT both ways, then stop
    (east,) = wire.east.sas.values()
    east._chain_int_auth = lambda req, resp: setattr(east, "_intermediates", 1)  # type: ignore[method-assign]
    wire.run()
    assert sa.state is State.DEAD
    assert any("AUTHENTICATION_FAILED" in x for x in wire.logs["west"])


def test_fallback_when_the_peer_lacks_intermediate() -> None:
    west = policy("west", ike=PQ + ",aes_gcm256-sha2_512;dh19")
    east = policy("east", ike="aes_gcm256-sha2_512;dh19", intermediate=False)
    wire, sa = pair(west, east)
    wire.run()
    assert sa.state is State.ESTABLISHED
    assert sa._intermediates == 0
    assert [e for e, _, _ in exchanges(wire, "west")] == [ExchangeType.IKE_SA_INIT, ExchangeType.IKE_AUTH]
    answer = Message.decode(next(d for s, d in wire.sent if s == "east"))
    assert not answer.notifies(NotifyType.INTERMEDIATE_EXCHANGE_SUPPORTED)
    keys_match(wire, sa)


def test_no_fallback_when_only_additional_ke_was_offered() -> None:
    west = policy("west", ike=PQ)
    east = policy("east", ike=PQ, intermediate=False)
    wire, sa = pair(west, east)
    wire.run()
    assert sa.state is State.DEAD
    assert any(isinstance(e, IkeSaFailed) for e in wire.events["west"])
    assert any("NO_PROPOSAL_CHOSEN" in x for x in wire.logs["west"])


def test_optional_additional_ke_is_skipped_without_intermediate() -> None:
    west = policy("west", ike="aes_gcm256-sha2_512;dh19")  # an old initiator
    east = policy("east", ike="aes_gcm256-sha2_512;dh19;addke1=mlkem768+none")
    wire, sa = pair(west, east)
    wire.run()
    assert sa.state is State.ESTABLISHED and sa._intermediates == 0


def test_lost_intermediate_response_is_retransmitted_from_the_cache() -> None:
    """East has moved to the new keys when west retransmits under the old ones."""
    def drop(i: int, src: str, data: bytes) -> bool:
        return src == "east" and peek_header(data).exchange == ExchangeType.IKE_INTERMEDIATE and i < 6

    wire, sa = pair(policy("west", ike=PQ), policy("east", ike=PQ))
    wire.drop = drop
    wire.run()
    assert sa.state is State.ESTABLISHED
    assert any("retransmission" in x for x in wire.logs["west"])
    keys_match(wire, sa)


# ------------------------------------------------ CREATE_CHILD_SA with ADDKE (IKE_FOLLOWUP_KE)

ESP_PQ = "aes_gcm256;dh19;addke1=mlkem768"


def _followup_pair(ike: str = PQ, esp: str = ESP_PQ):
    wire, sa = pair(policy("west", ike=ike, esp=esp), policy("east", ike=ike, esp=esp))
    wire.run()
    assert sa.state is State.ESTABLISHED
    return wire, sa


def test_ike_auth_child_carries_no_additional_ke() -> None:
    wire, sa = _followup_pair()
    (child,) = sa.children.values()
    assert "ML_KEM" not in str(child.proposal.transforms)
    assert [e for e, _, _ in exchanges(wire, "west")].count(ExchangeType.IKE_FOLLOWUP_KE) == 0


@pytest.mark.parametrize("side", ["west", "east"])
def test_create_child_sa_with_followup_ke(side: str) -> None:
    wire, sa = _followup_pair()
    (east,) = wire.east.sas.values()
    ike = sa if side == "west" else east
    n = len(wire.sent)
    wire.feed(side, ike.create_child(wire.now))
    wire.run()
    kinds = [peek_header(d).exchange for s, d in wire.sent[n:] if s == side]
    assert ExchangeType.CREATE_CHILD_SA in kinds and ExchangeType.IKE_FOLLOWUP_KE in kinds
    assert len(sa.children) == 2 and len(east.children) == 2
    w, e = wire.installed("west")[-1].child, wire.installed("east")[-1].child
    assert w.spi_out == e.spi_in and w.key_out_encr == e.key_in_encr
    assert w.key_in_encr == e.key_out_encr
    # the followup link notify came with the CREATE_CHILD_SA answer
    other = "east" if side == "west" else "west"
    assert any("ML_KEM_768" in x and "ADDKE1" in x for x in wire.logs[side])
    assert wire.logs[other]


def test_child_rekey_with_followup_ke() -> None:
    wire, sa = _followup_pair()
    (east,) = wire.east.sas.values()
    old = next(iter(sa.children))
    wire.feed("west", sa.rekey_child(old, wire.now))
    wire.run()
    assert len(sa.children) == 1 and len(east.children) == 1
    (w,), (e,) = sa.children.values(), east.children.values()
    assert w.serial != old and w.keys.key_out_encr == e.keys.key_in_encr


def test_ike_rekey_with_two_followups() -> None:
    ike = "aes_gcm256-sha2_512;dh19;addke1=mlkem768;addke2=mlkem1024"
    wire, sa = _followup_pair(ike=ike)
    n = len(wire.sent)
    wire.feed("west", sa.rekey_ike(wire.now))
    wire.run()
    kinds = [peek_header(d) for s, d in wire.sent[n:] if s == "west"]
    followups = {h.message_id for h in kinds if h.exchange == ExchangeType.IKE_FOLLOWUP_KE}
    assert len(followups) == 2
    (new_w,), (new_e,) = wire.west.sas.values(), wire.east.sas.values()
    assert new_w is not sa and new_w.keys.sk_d == new_e.keys.sk_d
    assert len(new_w.children) == 1
    wire.feed("east", new_e.create_child(wire.now))
    wire.run()
    assert len(new_w.children) == 2


def test_followup_with_a_wrong_link_is_state_not_found() -> None:
    from cygnet.ike.iana import NotifyType as N
    from cygnet.ike.payloads import KePayload, NotifyPayload
    from cygnet.ike.transforms import ke

    wire, sa = _followup_pair()
    (east,) = wire.east.sas.values()
    bogus = [KePayload(36, ke(36).initiate().public), NotifyPayload(N.ADDITIONAL_KEY_EXCHANGE, b"x" * 8)]
    got = []
    sa._request(ExchangeType.IKE_FOLLOWUP_KE, bogus, lambda m, d, t: got.append(m), wire.now)
    wire.feed("west", sa._flush())
    wire.run()
    assert got and got[0].notifies(N.STATE_NOT_FOUND)
    assert sa.state is State.ESTABLISHED and east.state is State.ESTABLISHED
