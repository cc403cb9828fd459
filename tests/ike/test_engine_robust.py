"""Hostile input to an ESTABLISHED engine pair, and every Libreswan default IKE proposal.

Random bytes, mutated copies of real messages (bit flips, truncations, header
fields), and well-sealed nonsense from a fake peer holding the keys: only
events may come out, the IKE SAs stay up, the message-ID windows stay in step,
and a normal CREATE_CHILD_SA still works afterwards.
"""

from __future__ import annotations

import typing
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cygnet.ike import proposals as props
from cygnet.ike.events import Event
from cygnet.ike.iana import ExchangeType, HeaderFlag, ProtocolId
from cygnet.ike.message import Message, MessageError
from cygnet.ike.payloads import DeletePayload, SaPayload
from cygnet.ike.sa import State
from cygnet.ike.sk import SkCrypto
from tests.ike.ikepair import EAST, WEST, pair, policy

EVENT_TYPES = typing.get_args(Event)
SETTINGS = settings(max_examples=100, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


class Established:
    """One established pair plus a corpus of the real datagrams that set it up."""

    def __init__(self, **kw) -> None:
        self.wire, self.west = pair(policy("west", subnets=("192.0.1.0/24", "192.0.2.0/24"), **kw),
                                    policy("east", subnets=("192.0.2.0/24", "192.0.1.0/24"), **kw))
        self.wire.run()
        w = self.west
        self.wire.feed("west", w.create_child(self.wire.now))
        self.wire.feed("west", w.rekey_child(next(iter(w.children)), self.wire.now))
        self.wire.feed("west", w.liveness(self.wire.now))
        self.wire.run()
        (self.east,) = self.wire.east.sas.values()
        self.corpus = [d for _, d in self.wire.sent]
        self.inner = []  # decrypted payloads of every protected message
        for src, d in self.wire.sent:
            opener = self.east if src == "west" else self.west
            try:
                msg = SkCrypto.open(opener._sk_in, d)  # type: ignore[arg-type]
            except MessageError:
                continue
            except Exception:
                continue
            self.inner += [p for p in msg.inner or () if _harmless(p)]

    def deliver(self, to: str, data: bytes) -> list:
        eng = self.wire.east if to == "east" else self.wire.west
        local, remote = (EAST, WEST) if to == "east" else (WEST, EAST)
        events = eng.receive(data, local, remote, self.wire.now)
        for ev in events:
            assert isinstance(ev, EVENT_TYPES), ev
        return events

    def check(self) -> None:
        w, e = self.west, self.east
        assert w.state is State.ESTABLISHED and e.state is State.ESTABLISHED
        assert self.wire.west.sas.get(w.spi_i) is w and self.wire.east.sas.get(e.spi_r) is e
        assert w._outstanding is None and e._outstanding is None
        assert w._my_next_mid == e._peer_next_mid and e._my_next_mid == w._peer_next_mid


def _harmless(p) -> bool:
    """Payloads a forger may reuse without legitimately ending or rekeying the IKE SA."""
    if isinstance(p, DeletePayload) and p.protocol == ProtocolId.IKE:
        return False
    return not (isinstance(p, SaPayload) and any(x.protocol == ProtocolId.IKE for x in p.proposals))


#: plain PSK; and ML-KEM additional key exchanges (IKE_INTERMEDIATE, IKE_FOLLOWUP_KE) with
#: certificates big enough to fragment IKE_AUTH, so fragments are in the corpus too
CONFIGS = {
    "psk": {},
    "pq-fragments": {"ike": "aes256-sha2_256;dh19;addke1=mlkem768",
                     "esp": "aes_gcm256;dh19;addke1=mlkem768",
                     "authby": "ecdsa", "local_certs": (bytes(range(256)) * 8,)},
}


@pytest.fixture(scope="module", params=list(CONFIGS))
def est(request) -> Established:
    return Established(**CONFIGS[request.param])


def _mutate(data: bytes, how: int, pos: int, value: int) -> bytes:
    b = bytearray(data)
    if how == 0:  # bit flip
        b[pos % len(b)] ^= 1 << (value % 8)
    elif how == 1:  # truncation
        del b[pos % len(b):]
    elif how == 2:  # header field: next payload, version, exchange, flags
        b[16 + pos % 4] = value
    elif how == 3:  # message ID
        b[20:24] = (value * 0x01010101 & 0xFFFFFFFF).to_bytes(4, "big")
    elif how == 4:  # length
        b[24:28] = (value * 7 + pos).to_bytes(4, "big")
    else:  # garbage appended
        b += bytes([value]) * (pos % 50 + 1)
    return bytes(b)


@SETTINGS
@given(st.data())
def test_mutated_and_random_datagrams(est: Established, data) -> None:
    if data.draw(st.booleans()):
        raw = data.draw(st.binary(max_size=300))
    else:
        raw = _mutate(data.draw(st.sampled_from(est.corpus)), data.draw(st.integers(0, 5)),
                      data.draw(st.integers(0, 2000)), data.draw(st.integers(0, 255)))
    est.deliver(data.draw(st.sampled_from(["east", "west"])), raw)
    # the west SA and east SA, not new half-open responders, are what must survive
    est.check()


@SETTINGS
@given(st.data())
def test_resealed_nonsense_from_a_peer_with_the_keys(est: Established, data) -> None:
    to = data.draw(st.sampled_from(["east", "west"]))
    sender, receiver = (est.west, est.east) if to == "east" else (est.east, est.west)
    inner = data.draw(st.lists(st.sampled_from(est.inner), max_size=6)) if est.inner else []
    exchange = data.draw(st.sampled_from([ExchangeType.CREATE_CHILD_SA, ExchangeType.INFORMATIONAL,
                                          ExchangeType.IKE_AUTH, ExchangeType.IKE_INTERMEDIATE, 99]))
    response = data.draw(st.booleans())
    expected = receiver._peer_next_mid
    mid = data.draw(st.sampled_from([expected, max(expected - 1, 0), expected + 1, 0, 0xFFFFFFFF]))
    flags = sender._flags(response)
    if data.draw(st.booleans()):
        flags ^= HeaderFlag.INITIATOR  # the wrong I flag
    msg = Message(sender.spi_i, sender.spi_r, exchange, mid, flags=flags, inner=tuple(inner))
    try:
        datagram = sender._sk_out.seal(msg)  # type: ignore[union-attr]
    except (ValueError, MessageError):
        return
    events = est.deliver(to, datagram)
    # the forger *is* the peer: when the receiver took the request, the peer's own window
    # moves on too; the receiver's answer goes back to it (and is ignored there).
    if receiver._peer_next_mid != expected:
        sender._my_next_mid = receiver._peer_next_mid
    for ev in events:
        if hasattr(ev, "data"):
            est.deliver("west" if to == "east" else "east", ev.data)
    est.check()


def test_normal_exchanges_still_work_afterwards(est: Established) -> None:
    w, e = est.west, est.east
    est.wire._queue.clear()
    before = len(w.children)
    est.wire.feed("west", w.create_child(est.wire.now))
    est.wire.run(until=est.wire.now + 10)
    assert len(w.children) == before + 1
    assert set(c.spi_in for c in w.children.values()) == set(c.spi_out for c in e.children.values())
    est.wire.feed("east", e.create_child(est.wire.now))
    est.wire.run(until=est.wire.now + 10)
    assert len(e.children) == before + 2 and len(w.children) == before + 2
    est.check()


# ---------------------------------------------------------------- default proposals


@pytest.mark.parametrize("index", range(4))
def test_each_default_ike_proposal_end_to_end(index: int) -> None:
    defaults = props.default_ike_proposals()
    assert len(defaults) == 4
    only = (replace(defaults[index], number=1),)
    east = replace(policy("east"), ike_proposals=only)
    # the initiator's first KE guess (MODP2048) is in every default proposal
    wire, sa = pair(policy("west"), east)
    wire.run()
    assert sa.state is State.ESTABLISHED, wire.logs
    assert sa.chosen is not None and sa.chosen.number == index + 1
    want = props.describe(props.select_proposal(only, props.for_wire(defaults), spi_size=0))
    assert sa.ike_description() == want
    w, e = wire.installed("west")[-1].child, wire.installed("east")[-1].child
    assert w.key_out_encr == e.key_in_encr and w.key_out_integ == e.key_in_integ
    # and the IKE SA protects later exchanges with those algorithms
    wire.feed("east", next(iter(wire.east.sas.values())).create_child(wire.now))
    wire.run()
    assert len(sa.children) == 2
