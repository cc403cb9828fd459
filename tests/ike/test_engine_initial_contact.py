"""INITIAL_CONTACT (RFC 7296 §2.4): a rebooted peer's old IKE SAs are forgotten."""

from __future__ import annotations

from cygnet.ike.engine import IkeEngine
from cygnet.ike.events import DeleteChildSa, IkeSaDeleted, InitialContact, SendDatagram
from cygnet.ike.sa import State
from tests.ike.ikepair import EAST, WEST, OneConn, pair, policy


def reboot_west(wire, **kw):
    """West forgets everything and connects again."""
    wp = policy("west", **kw)
    wire.west = IkeEngine(OneConn(wp), now=wire.now)
    sa, events = wire.west.initiate(wp, WEST, EAST, wire.now)
    wire.feed("west", events)
    n = len(wire.events["east"])
    wire.run(until=wire.now + 10)
    return sa, wire.events["east"][n:]


def test_initial_contact_deletes_the_stale_ike_sa_silently() -> None:
    wire, first = pair(policy("west"), policy("east"))
    wire.run()
    (old,) = wire.east.sas.values()
    old_child = next(iter(old.children.values()))
    sa, events = reboot_west(wire)
    assert sa.state is State.ESTABLISHED
    (ic,) = [e for e in events if isinstance(e, InitialContact)]
    (new,) = wire.east.sas.values()
    assert ic.peer_id == "@west" and ic.keep_serial == new.serial and ic.deleted == (old.serial,)
    assert old.state is State.DEAD
    deleted = [e for e in events if isinstance(e, IkeSaDeleted)]
    assert [(d.serial, d.notified) for d in deleted] == [(old.serial, False)]
    assert [d.serial for d in events if isinstance(d, DeleteChildSa)] == [old_child.serial]
    # no notification went out for the old SA
    sent_by_east = [e for e in events if isinstance(e, SendDatagram)]
    assert all(e.data[:8] == sa.spi_i for e in sent_by_east)
    assert any("deleting IKE SA without notification (peer sent INITIAL_CONTACT)" in x
               for x in wire.logs["east"])


def test_without_initial_contact_the_old_sa_stays() -> None:
    wire, first = pair(policy("west"), policy("east"))
    wire.run()
    sa, events = reboot_west(wire, send_initial_contact=False)
    assert sa.state is State.ESTABLISHED
    assert not [e for e in events if isinstance(e, InitialContact)]
    assert len(wire.east.sas) == 2


def test_initial_contact_spares_other_peers() -> None:
    wire, first = pair(policy("west"), policy("east"))
    wire.run()
    (old,) = wire.east.sas.values()
    from cygnet.ike.payloads import Identity
    old.peer_id = Identity.from_libreswan("@someone-else")
    sa, events = reboot_west(wire)
    (ic,) = [e for e in events if isinstance(e, InitialContact)]
    assert ic.deleted == () and old.state is State.ESTABLISHED
