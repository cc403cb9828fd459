"""CP address leases (RFC 7296 §3.15) and IKE fragmentation (RFC 7383) in the engine."""

from __future__ import annotations

import os
from ipaddress import ip_address

from cygnet.ike import ts
from cygnet.ike.events import LeaseReceived
from cygnet.ike.iana import ExchangeType, NotifyType
from cygnet.ike.message import Message, peek_header
from cygnet.ike.payloads import CertPayload, CpPayload
from cygnet.ike.policy import LeaseReply
from cygnet.ike.sa import FRAG_MAXLEN_IPV4, State
from tests.ike.ikepair import pair, policy

POOL = "100.64.0.0/16"


def road_and_gateway(lease=lambda peer: LeaseReply.of("100.64.13.5", dns=("192.0.2.53",),
                                                       domains=("example.com",)),
                     modecfg_client: bool = True):
    west = policy("west", subnets=("0.0.0.0/0", "192.0.2.0/24"), modecfg_client=modecfg_client)
    east = policy("east", subnets=("192.0.2.0/24", POOL), lease=lease)
    return pair(west, east)


def test_lease_is_sent_recorded_and_narrows_tsi() -> None:
    asked = []

    def lease(peer):
        asked.append(str(peer))
        return LeaseReply.of("100.64.13.5", dns=("192.0.2.53",), domains=("example.com",))

    wire, sa = road_and_gateway(lease)
    wire.run()
    assert sa.state is State.ESTABLISHED
    assert asked == ["@west"]
    assert sa.lease is not None and sa.lease.addresses == (ip_address("100.64.13.5"),)
    assert sa.lease.dns == (ip_address("192.0.2.53"),) and sa.lease.domains == ("example.com",)
    w = wire.logs["west"]
    assert '"westnet-eastnet" #1: received INTERNAL_IP4_ADDRESS 100.64.13.5' in w
    assert '"westnet-eastnet" #1: received INTERNAL_IP4_DNS 192.0.2.53' in w
    assert '"westnet-eastnet" #1: received INTERNAL_DNS_DOMAIN example.com' in w
    (ev,) = [e for e in wire.events["west"] if isinstance(e, LeaseReceived)]
    assert ev.addresses == ("100.64.13.5",) and ev.dns == ("192.0.2.53",)
    wc, ec = wire.installed("west")[-1].child, wire.installed("east")[-1].child
    assert wc.ts_local == (ts.host("100.64.13.5"),) == ec.ts_remote
    assert wc.ts_remote == (ts.from_network("192.0.2.0/24"),) == ec.ts_local
    assert wc.key_out_encr == ec.key_in_encr
    assert "[100.64.13.5/32===192.0.2.0/24]" in w[-1]
    (east_sa,) = wire.east.sas.values()
    assert east_sa.lease == sa.lease
    # a later Child SA asks for the leased address from the start
    wire.feed("west", sa.create_child(wire.now))
    wire.run()
    assert len(sa.children) == 2 and len(east_sa.children) == 2
    assert wire.installed("west")[-1].child.ts_local == (ts.host("100.64.13.5"),)


def test_cp_request_carries_address_and_dns() -> None:
    wire, sa = road_and_gateway()
    wire.run()
    (east_sa,) = wire.east.sas.values()
    # decrypt west's IKE_AUTH with east's keys
    auth = next(d for s, d in wire.sent if s == "west" and peek_header(d).exchange == ExchangeType.IKE_AUTH)
    msg = east_sa._sk_in.open(auth)
    (cp,) = msg.find_all(CpPayload)
    assert cp.cfg_type == 1
    assert [a.type for a in cp.attributes][:2] == [1, 3]  # INTERNAL_IP4_ADDRESS, INTERNAL_IP4_DNS


def test_empty_pool_is_internal_address_failure() -> None:
    wire, sa = road_and_gateway(lambda peer: None)
    wire.run()
    assert sa.state is State.ESTABLISHED and sa.lease is None
    assert not wire.installed("west") and not wire.installed("east")
    assert any("INTERNAL_ADDRESS_FAILURE" in x for x in wire.logs["west"])
    assert any("no address available in the address pool" in x for x in wire.logs["east"])


def test_pool_without_cp_request_is_failed_cp_required() -> None:
    wire, sa = road_and_gateway(modecfg_client=False)
    wire.run()
    assert sa.state is State.ESTABLISHED
    assert not wire.installed("west")
    assert any("FAILED_CP_REQUIRED" in x for x in wire.logs["west"])


# ---------------------------------------------------------------------- fragmentation

BIG_CERT = os.urandom(3000)


def test_big_ike_auth_is_fragmented_and_reassembled() -> None:
    west = policy("west", authby="rsasig", local_certs=(BIG_CERT,))
    wire, sa = pair(west, policy("east", authby="rsasig"))
    wire.run()
    assert sa.state is State.ESTABLISHED
    auth = [d for s, d in wire.sent if s == "west" and peek_header(d).exchange == ExchangeType.IKE_AUTH]
    assert len(auth) >= 6 and all(len(d) <= FRAG_MAXLEN_IPV4 for d in auth)
    assert all(Message.decode(d).payloads[-1].type == 53 for d in auth)  # SKF
    (east_sa,) = wire.east.sas.values()
    assert east_sa.peer_certs == (BIG_CERT,)
    assert any(x.startswith('"westnet-eastnet" #1: reassembled ') for x in wire.logs["east"])
    assert any("sending" in x and "fragments of IKE_AUTH request" in x for x in wire.logs["west"])


def test_lost_fragment_makes_the_whole_message_go_again() -> None:
    west = policy("west", authby="rsasig", local_certs=(BIG_CERT,))
    wire, sa = pair(west, policy("east", authby="rsasig"))
    lost = []

    def drop(i: int, src: str, data: bytes) -> bool:
        auth = [1 for s, d in wire.sent if s == "west" and peek_header(d).exchange == ExchangeType.IKE_AUTH]
        if src == "west" and peek_header(data).exchange == ExchangeType.IKE_AUTH and not lost \
                and len(auth) == 3:
            lost.append(i)
            return True
        return False

    wire.drop = drop
    wire.run()
    assert lost and sa.state is State.ESTABLISHED
    assert any("retransmission" in x for x in wire.logs["west"])
    auth = [d for s, d in wire.sent if s == "west" and peek_header(d).exchange == ExchangeType.IKE_AUTH]
    assert len(auth) % 2 == 0  # every fragment was sent twice
    (east_sa,) = wire.east.sas.values()
    assert east_sa.peer_certs == (BIG_CERT,)


def test_lost_fragmented_response_is_answered_from_the_cache() -> None:
    east = policy("east", authby="rsasig", local_certs=(BIG_CERT,))
    wire, sa = pair(policy("west", authby="rsasig"), east)
    wire.drop = lambda i, src, d: (src == "east" and peek_header(d).exchange == ExchangeType.IKE_AUTH
                                   and i < 12)
    wire.run()
    assert sa.state is State.ESTABLISHED and sa.peer_certs == (BIG_CERT,)
    assert len(wire.installed("east")) == 1


def test_no_fragments_unless_both_ends_support_them() -> None:
    west = policy("west", authby="rsasig", local_certs=(BIG_CERT,))
    wire, sa = pair(west, policy("east", authby="rsasig", fragmentation=False))
    wire.run()
    assert sa.state is State.ESTABLISHED
    answer = Message.decode(next(d for s, d in wire.sent if s == "east"))
    assert not answer.notifies(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED)
    auth = [d for s, d in wire.sent if s == "west" and peek_header(d).exchange == ExchangeType.IKE_AUTH]
    assert len(auth) == 1 and len(auth[0]) > 3000
    assert Message.decode(auth[0]).find(CertPayload) is None  # still sealed in SK


def test_fragment_limit_follows_libreswan() -> None:
    from cygnet.ike.natd import Endpoint
    from cygnet.ike.sa import FRAG_MAXLEN_IPV6

    wire, sa = pair(policy("west"), policy("east"))
    wire.run()
    assert sa.fragment_limit() == FRAG_MAXLEN_IPV4 == 532
    sa.local = Endpoint.parse("192.1.2.45", 4500)
    assert sa.fragment_limit() == 528  # the non-ESP marker
    sa.remote = Endpoint.parse("2001:db8:1:2::23", 4500)
    sa.local = Endpoint.parse("2001:db8:1:2::45", 500)
    assert sa.fragment_limit() == FRAG_MAXLEN_IPV6 == 1192
