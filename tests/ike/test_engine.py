"""Two in-memory engines through whole IKE SA lives: every exchange, both roles, failures."""

from __future__ import annotations

import re

import pytest

from cygnet.ike.events import (
    ChildSaFailed,
    DeleteChildSa,
    IkeSaDeleted,
    IkeSaEstablished,
    IkeSaFailed,
)
from cygnet.ike.iana import ExchangeType, NotifyType
from cygnet.ike.message import Message
from cygnet.ike.payloads import NotifyPayload
from cygnet.ike.sa import State
from tests.ike.ikepair import EAST, exchange_of, pair, policy


def established(wire, side: str) -> list[IkeSaEstablished]:
    return [e for e in wire.events[side] if isinstance(e, IkeSaEstablished)]


def assert_child_keys_match(wire) -> None:
    """West's outbound Child SA is east's inbound one, key for key, and vice versa."""
    w, e = wire.installed("west")[-1].child, wire.installed("east")[-1].child
    assert w.spi_out == e.spi_in and w.spi_in == e.spi_out
    assert w.key_out_encr == e.key_in_encr and w.key_in_encr == e.key_out_encr
    assert w.key_out_integ == e.key_in_integ and w.key_in_integ == e.key_out_integ
    assert w.ts_local == e.ts_remote and w.ts_remote == e.ts_local
    assert w.encr_id == e.encr_id and w.esn == e.esn


def test_psk_host_to_host_with_libreswan_defaults() -> None:
    wire, sa = pair(policy("west"), policy("east"))
    wire.run()
    assert sa.state is State.ESTABLISHED
    assert established(wire, "west") and established(wire, "east")
    assert_child_keys_match(wire)
    w = wire.logs["west"]
    assert w[0] == '"westnet-eastnet" #1: initiating IKEv2 connection'
    assert w[1] == '"westnet-eastnet" #1: sent IKE_SA_INIT request to 192.1.2.23:500'
    assert w[2] == ('"westnet-eastnet" #1: sent IKE_AUTH request {cipher=AES_GCM_16_256 '
                    'integ=n/a prf=HMAC_SHA2_512 group=MODP2048}')
    assert w[3] == ('"westnet-eastnet" #1: initiator established IKE SA; authenticated peer '
                    "using authby=secret and ID_FQDN '@east'")
    assert re.fullmatch(
        r'"westnet-eastnet" #2: initiator established Child SA using #1; IPsec tunnel '
        r"\[192\.1\.2\.45/32===192\.1\.2\.23/32\] \{ESP/ESN=>0x[0-9a-f]{8} <0x[0-9a-f]{8} "
        r"xfrm=AES_GCM_16_256-NONE DPD=passive\}",
        w[4],
    ), w[4]
    e = wire.logs["east"]
    assert any("responder established IKE SA; authenticated peer using authby=secret and "
               "ID_FQDN '@west'" in x for x in e)
    assert any(x.startswith('"westnet-eastnet" #1: processing decrypted IKE_AUTH request: '
                            "SK{IDi,N(INITIAL_CONTACT),IDr,AUTH,N(") or
               x.startswith('"westnet-eastnet" #1: processing decrypted IKE_AUTH request: '
                            "SK{IDi,N(INITIAL_CONTACT),IDr,AUTH,SA,TSi,TSr}") for x in e)


@pytest.mark.parametrize(
    ("ike", "esp", "xfrm"),
    [
        ("aes_gcm256-sha2_512;dh19", "aes_gcm256", "AES_GCM_16_256-NONE"),
        ("aes128-sha2_256;modp2048", "aes128-sha2_256", "AES_CBC_128-HMAC_SHA2_256_128"),
        ("aes256-sha2_512;dh20", "aes256-sha2_512", "AES_CBC_256-HMAC_SHA2_512_256"),
        ("aes_gcm128-sha2_256;dh21", "aes_gcm128", "AES_GCM_16_128-NONE"),
        ("chacha20_poly1305-sha2_256;dh31", "chacha20_poly1305", "CHACHA20_POLY1305_256-NONE"),
        ("aesctr256-sha2_384;modp3072", "aesctr128-sha2_256", "AES_CTR_128-HMAC_SHA2_256_128"),
        ("aes-sha1;modp2048", "aes-sha1", "AES_CBC_128-HMAC_SHA1_96"),
    ],
)
def test_proposal_sets(ike: str, esp: str, xfrm: str) -> None:
    wire, sa = pair(policy("west", ike=ike, esp=esp), policy("east", ike=ike, esp=esp))
    wire.run()
    assert sa.state is State.ESTABLISHED
    assert_child_keys_match(wire)
    assert f"xfrm={xfrm} DPD=passive" in wire.logs["west"][-1]


@pytest.mark.parametrize("authby", ["rsasig", "ecdsa", "null", "rsa-sha1"])
def test_auth_methods(authby: str) -> None:
    wire, sa = pair(policy("west", authby=authby), policy("east", authby=authby))
    wire.run()
    assert sa.state is State.ESTABLISHED, wire.logs
    assert_child_keys_match(wire)
    line = next(x for x in wire.logs["west"] if "initiator established IKE SA" in x)
    if authby == "rsasig":
        assert "authenticated peer '2048-bit RSASSA-PSS with SHA2_512' signature" in line
    elif authby == "rsa-sha1":
        assert "authenticated peer '2048-bit PKCS#1 1.5 RSA with SHA1' signature" in line
    elif authby == "ecdsa":
        assert "'P-256 ECDSA with SHA2_512' signature" in line
    else:
        assert line.endswith("authenticated peer using authby=null and ID_NULL 'ID_NULL'")


def test_wrong_psk_is_authentication_failed() -> None:
    wire, sa = pair(policy("west"), policy("east", peer_psk=b"another long pre-shared key....."))
    wire.run()
    assert sa.state is State.DEAD
    assert '"westnet-eastnet" #1: IKE SA authentication request rejected by peer: ' \
           "AUTHENTICATION_FAILED" in wire.logs["west"]
    failed = [e for e in wire.events["west"] if isinstance(e, IkeSaFailed)]
    assert failed and failed[0].notify is NotifyType.AUTHENTICATION_FAILED
    assert any("authentication of ID_FQDN '@west' failed" in x for x in wire.logs["east"])
    assert not wire.east.sas  # the responder keeps no state


def test_responder_with_wrong_key_is_rejected_by_initiator() -> None:
    wire, sa = pair(policy("west", authby="rsasig"), policy("east", authby="rsasig"))
    # east signs with a key west does not know
    from tests.ike.ikepair import rsa_key
    east_sa_policy = wire.east.lookup.policy  # type: ignore[attr-defined]
    object.__setattr__(east_sa_policy.local_auth, "private_key", rsa_key("mallory"))
    wire.run()
    assert sa.state is State.DEAD
    assert any("authentication of peer failed" in x for x in wire.logs["west"])


def test_no_common_ike_proposal() -> None:
    wire, sa = pair(policy("west", ike="aes128-sha2_256;modp2048"),
                    policy("east", ike="aes_gcm256-sha2_512;dh19"))
    wire.run()
    assert sa.state is State.DEAD
    w = wire.logs["west"]
    assert ('"westnet-eastnet" #1: dropping unexpected IKE_SA_INIT message containing '
            "NO_PROPOSAL_CHOSEN notification; message payloads: N; missing payloads: SA,KE,Ni") in w
    # Libreswan keeps retransmitting until retransmit-timeout, then gives up
    assert '"westnet-eastnet" #1: STATE_V2_PARENT_I1: retransmission; will wait 0.5 seconds ' \
           "for response" in w
    assert any("60 second timeout exceeded" in x for x in w)
    answer = Message.decode(next(d for s, d in wire.sent if s == "east"))
    assert [n.notify_type for n in answer.notifies()] == [NotifyType.NO_PROPOSAL_CHOSEN]


def test_no_common_esp_proposal_keeps_the_ike_sa() -> None:
    wire, sa = pair(policy("west", esp="aes128-sha2_256"), policy("east", esp="aes_gcm256"))
    wire.run()
    assert sa.state is State.ESTABLISHED
    assert '"westnet-eastnet" #2: IKE_AUTH response contained the error notification ' \
           "NO_PROPOSAL_CHOSEN" in wire.logs["west"]
    assert not wire.installed("west") and not wire.installed("east")
    failed = [e for e in wire.events["west"] if isinstance(e, ChildSaFailed)]
    assert [(f.serial, f.ike_serial, f.notify) for f in failed] == [
        (2, 1, NotifyType.NO_PROPOSAL_CHOSEN)]


def test_disjoint_selectors_are_ts_unacceptable() -> None:
    wire, sa = pair(policy("west", subnets=("192.0.1.0/24", "192.0.2.0/24")),
                    policy("east", subnets=("192.0.2.0/24", "192.0.3.0/24")))
    wire.run()
    assert sa.state is State.ESTABLISHED
    assert '"westnet-eastnet" #2: IKE_AUTH response contained the error notification ' \
           "TS_UNACCEPTABLE" in wire.logs["west"]


def test_site_to_site_ipv6_selectors() -> None:
    nets = ("2001:db8:0:1::/64", "2001:db8:0:2::/64")
    wire, sa = pair(policy("west", subnets=nets), policy("east", subnets=nets[::-1]))
    wire.run()
    assert_child_keys_match(wire)
    assert "[2001:db8:0:1::/64===2001:db8:0:2::/64]" in wire.logs["west"][-1]


def test_invalid_ke_payload_retry() -> None:
    wire, sa = pair(policy("west", ike="aes_gcm256-sha2_512;dh19,aes_gcm256-sha2_512;modp2048"),
                    policy("east", ike="aes_gcm256-sha2_512;modp2048"))
    wire.run()
    assert sa.state is State.ESTABLISHED
    assert any("INVALID_KE_PAYLOAD" in x for x in wire.logs["west"])
    assert "group=MODP2048" in sa.ike_description()


def test_cookie_round_trip() -> None:
    wire, sa = pair(policy("west"), policy("east"), cookie_threshold=0)
    wire.run()
    assert sa.state is State.ESTABLISHED
    first_answer = Message.decode(wire.sent[1][1])
    assert first_answer.notifies(NotifyType.COOKIE)
    retry = Message.decode(wire.sent[2][1])
    assert isinstance(retry.payloads[0], NotifyPayload)
    assert retry.payloads[0].notify_type == NotifyType.COOKIE


def test_lost_ike_auth_response_is_answered_from_the_cache() -> None:
    def drop(i: int, src: str, data: bytes) -> bool:
        return src == "east" and exchange_of(data) == ExchangeType.IKE_AUTH and i < 5

    wire, sa = pair(policy("west"), policy("east"))
    wire.drop = drop
    wire.run()
    assert sa.state is State.ESTABLISHED
    east_auth = [d for s, d in wire.sent if s == "east" and exchange_of(d) == ExchangeType.IKE_AUTH]
    assert len(east_auth) == 2 and east_auth[0] == east_auth[1]  # the same cached bytes
    assert len(wire.installed("east")) == 1  # the retransmission did not create a second child


def test_duplicated_messages_change_nothing() -> None:
    wire, sa = pair(policy("west"), policy("east"))
    wire.dup = lambda i, src, d: True
    wire.run()
    assert sa.state is State.ESTABLISHED
    assert len(wire.installed("west")) == 1 and len(wire.installed("east")) == 1
    assert len(wire.east.sas) == 1


def test_lost_ike_sa_init_request_is_retransmitted() -> None:
    wire, sa = pair(policy("west"), policy("east"))
    wire.drop = lambda i, src, d: i == 0
    wire.run()
    assert sa.state is State.ESTABLISHED
    assert '"westnet-eastnet" #1: STATE_V2_PARENT_I1: retransmission; will wait 0.5 seconds ' \
           "for response" in wire.logs["west"]


def test_silent_peer_times_out() -> None:
    wire, sa = pair(policy("west"), policy("east"))
    wire.drop = lambda i, src, d: True
    wire.run()
    w = [x for x in wire.logs["west"] if "retransmission" in x]
    assert [re.search(r"wait (\S+) seconds", x).group(1) for x in w][:4] == ["0.5", "1", "2", "4"]
    assert wire.now == 60
    assert sa.state is State.DEAD
    assert wire.logs["west"][-1] == (
        '"westnet-eastnet" #1: STATE_V2_PARENT_I1: 60 second timeout exceeded after 7 '
        "retransmits.  No response (or no acceptable response) to our first IKEv2 message")


def _up(subnets: tuple[str, str] | None = None, **kw):
    east_nets = subnets[::-1] if subnets else None
    wire, sa = pair(policy("west", subnets=subnets, **kw), policy("east", subnets=east_nets, **kw))
    wire.run()
    assert sa.state is State.ESTABLISHED
    return wire, sa


@pytest.mark.parametrize("pfs", [True, False])
def test_create_child_sa_with_and_without_pfs(pfs: bool) -> None:
    wire, sa = _up(pfs=pfs, subnets=("192.0.1.0/24", "192.0.2.0/24"))
    wire.feed("west", sa.create_child(wire.now))
    wire.run()
    assert len(wire.installed("west")) == 2 and len(wire.installed("east")) == 2
    assert_child_keys_match(wire)
    assert ("-MODP2048 DPD=passive}" in wire.logs["west"][-1]) is pfs


def test_child_rekey_make_before_break() -> None:
    wire, sa = _up()
    old = wire.installed("west")[0].child
    wire.feed("west", sa.rekey_child(old.serial, wire.now))
    wire.run()
    new = wire.installed("west")[-1]
    assert new.replaces == old.serial
    assert_child_keys_match(wire)
    deleted = [e for e in wire.events["west"] if isinstance(e, DeleteChildSa)]
    assert [d.serial for d in deleted] == [old.serial]
    assert [d.spi_in for d in wire.events["east"] if isinstance(d, DeleteChildSa)] == [old.spi_out]


def test_responder_can_rekey_the_child() -> None:
    wire, west_sa = _up()
    east_sa = next(iter(wire.east.sas.values()))
    old = next(iter(east_sa.children.values()))
    wire.feed("east", east_sa.rekey_child(old.serial, wire.now))
    wire.run()
    assert len(east_sa.children) == 1 and len(west_sa.children) == 1
    assert_child_keys_match(wire)


def test_ike_sa_rekey_moves_children_and_deletes_the_old_sa() -> None:
    wire, sa = _up()
    child = next(iter(sa.children))
    wire.feed("west", sa.rekey_ike(wire.now))
    wire.run()
    assert sa.state is State.DEAD
    (new_west,) = wire.west.sas.values()
    (new_east,) = wire.east.sas.values()
    assert new_west.serial != sa.serial and child in new_west.children
    assert new_west.keys.sk_d == new_east.keys.sk_d and new_west.keys.sk_d != sa.keys.sk_d
    # the new IKE SA works: a Child SA through it
    wire.feed("west", new_west.create_child(wire.now))
    wire.run()
    assert len(new_west.children) == 2 and len(new_east.children) == 2


def test_delete_tears_down_both_ends() -> None:
    wire, sa = _up()
    wire.feed("west", sa.delete(wire.now))
    wire.run()
    for side in ("west", "east"):
        assert any(isinstance(e, IkeSaDeleted) for e in wire.events[side])
        assert any(isinstance(e, DeleteChildSa) for e in wire.events[side])
    assert not wire.west.sas and not wire.east.sas


def test_liveness_probe_is_answered() -> None:
    wire, sa = _up()
    n = len(wire.sent)
    wire.feed("west", sa.liveness(wire.now))
    wire.run()
    assert [exchange_of(d) for _, d in wire.sent[n:]] == [ExchangeType.INFORMATIONAL] * 2
    assert sa.state is State.ESTABLISHED


def test_dead_peer_is_noticed_by_liveness() -> None:
    wire, sa = _up()
    wire.drop = lambda i, src, d: True
    wire.feed("west", sa.liveness(wire.now))
    wire.run(until=wire.now + 120)
    assert sa.state is State.DEAD
    assert any("liveness" in x for x in wire.logs["west"])


def test_garbage_is_counted_not_fatal() -> None:
    wire, sa = _up()
    for junk in (b"", b"\x00" * 27, b"\x01" * 28, bytes(40)):
        assert all(not hasattr(e, "data") for e in wire.east.receive(junk, EAST, EAST, 1.0))
    assert sum(wire.east.drops.values()) == 4
    assert sa.state is State.ESTABLISHED
