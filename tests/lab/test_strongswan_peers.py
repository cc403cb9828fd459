"""The strongSwan harness against strongSwan itself: the reference behaviour.

Two charons with kernel-libipsec (userspace ESP, UDP-encapsulated) set up
tunnels in the lab and carry pings both ways.
"""

from __future__ import annotations

import re

import pytest

from cygnet.lab.strongswan import SwanConn, generate_rsa_keypair, pki_rsa_keypair

pytestmark = [pytest.mark.netns, pytest.mark.interop]

PSK = "plab-test-psk-not-secret-0123456789"
IKE = "aes128-sha256-modp2048"
ESP = "aes128-sha256-modp2048"


def _pair(topo, **kw) -> tuple[SwanConn, SwanConn]:
    west = SwanConn("plab", topo.west.addr, topo.east.addr, "@west", "@east", **kw)
    east = SwanConn("plab", topo.east.addr, topo.west.addr, "@east", "@west", **kw)
    return west, east


def _child(sa: dict) -> dict:
    (child,) = sa["child-sas"].values()
    return child


def test_psk_host_to_host_tunnel_carries_ping_both_ways(lab_topology, strongswan_peer) -> None:
    topo = lab_topology("west", "east")
    cw, ce = _pair(topo, psk=PSK, proposals=IKE, esp_proposals=ESP)
    west = strongswan_peer(topo.west, [cw])
    east = strongswan_peer(topo.east, [ce])

    out = west.initiate(child="plab").stdout
    assert "initiate completed successfully" in out
    assert "authentication of 'east' with pre-shared key successful" in out

    topo.west.ns.wait_ping(topo.east.addr)
    topo.east.ns.wait_ping(topo.west.addr)

    (sa_w,) = west.wait_established("plab")
    (sa_e,) = east.wait_established("plab")
    for sa, me, peer in ((sa_w, "west", "east"), (sa_e, "east", "west")):
        assert sa["state"] == "ESTABLISHED" and sa["version"] == "2"
        assert (sa["local-id"], sa["remote-id"]) == (me, peer)
        assert (sa["encr-alg"], sa["encr-keysize"], sa["dh-group"]) == (
            "AES_CBC",
            "128",
            "MODP_2048",
        )
        child = _child(sa)
        assert child["state"] == "INSTALLED" and child["mode"] == "TUNNEL"
        assert child["encap"] == "yes"  # libipsec always UDP-encapsulates
        assert child["integ-alg"] == "HMAC_SHA2_256_128"
        assert int(child["packets-in"]) > 0 and int(child["packets-out"]) > 0
    assert sa_w["initiator-spi"] == sa_e["initiator-spi"]
    assert _child(sa_w)["spi-in"] == _child(sa_e)["spi-out"]
    assert _child(sa_w)["local-ts"] == ["192.1.2.45/32"]

    west.terminate(ike="plab")
    assert west.list_sas() == []


def test_subnet_to_subnet_gcm(lab_topology, strongswan_peer) -> None:
    topo = lab_topology("west", "east")
    common = dict(psk=PSK, proposals="aes128gcm16-prfsha256-x25519", esp_proposals="aes128gcm16")
    cw = SwanConn(
        "westnet-eastnet",
        topo.west.addr,
        topo.east.addr,
        "@west",
        "@east",
        local_ts="192.0.1.0/24",
        remote_ts="192.0.2.0/24",
        **common,
    )
    ce = SwanConn(
        "westnet-eastnet",
        topo.east.addr,
        topo.west.addr,
        "@east",
        "@west",
        local_ts="192.0.2.0/24",
        remote_ts="192.0.1.0/24",
        **common,
    )
    west = strongswan_peer(topo.west, [cw])
    east = strongswan_peer(topo.east, [ce])
    west.initiate(child="westnet-eastnet")
    topo.west.ns.wait_ping(topo.east.inside, src=topo.west.inside)
    topo.east.ns.wait_ping(topo.west.inside, src=topo.east.inside)
    (sa,) = east.wait_established()
    child = _child(sa)
    assert child["encr-alg"] == "AES_GCM_16" and "integ-alg" not in child
    assert child["local-ts"] == ["192.0.2.0/24"] and child["remote-ts"] == ["192.0.1.0/24"]
    assert sa["dh-group"] == "CURVE_25519"


def test_raw_rsa_public_keys(lab_topology, strongswan_peer) -> None:
    topo = lab_topology("west", "east")
    west_key, west_pub = generate_rsa_keypair()
    east_key, east_pub = pki_rsa_keypair(topo.lab.workdir / "keys", "east")  # strongSwan's pki
    cw, ce = _pair(topo, auth="pubkey", proposals=IKE, esp_proposals=ESP)
    cw.local_pubkeys, cw.remote_pubkeys = ["west.pub"], ["east.pub"]
    ce.local_pubkeys, ce.remote_pubkeys = ["east.pub"], ["west.pub"]
    pubs = {"west.pub": west_pub, "east.pub": east_pub}
    west = strongswan_peer(topo.west, [cw], keys={"west.pem": west_key}, pubkeys=pubs)
    east = strongswan_peer(topo.east, [ce], keys={"east.pem": east_key}, pubkeys=pubs)
    west.initiate(child="plab")
    topo.east.ns.wait_ping(topo.west.addr)
    (sa,) = east.wait_established("plab")
    assert sa["remote-id"] == "west"
    assert re.search(r"authentication of 'west' with RSA\S* successful", east.log())
    assert re.search(r"authentication of 'east' with RSA\S* successful", west.log())


def test_ipv6_host_to_host(lab_topology, strongswan_peer) -> None:
    topo = lab_topology("west", "east")
    w6, e6 = "2001:db8:1:2::45", "2001:db8:1:2::23"
    west = strongswan_peer(topo.west, [SwanConn("v6", w6, e6, "@west", "@east", psk=PSK)])
    east = strongswan_peer(topo.east, [SwanConn("v6", e6, w6, "@east", "@west", psk=PSK)])
    west.initiate(child="v6")
    topo.east.ns.wait_ping(w6)
    (sa,) = east.wait_established("v6")
    assert sa["remote-host"] == w6 and _child(sa)["remote-ts"] == [w6 + "/128"]


def test_road_behind_nic_nat(lab_topology, strongswan_peer) -> None:
    """Real NAT-T: road's IKE and ESP-in-UDP leave through nic's masquerade."""
    topo = lab_topology("road", "east")
    road = strongswan_peer(
        topo.road, [SwanConn("road", topo.road.addr, topo.east.addr, "@road", "@east", psk=PSK)]
    )
    east = strongswan_peer(
        topo.east,
        [
            SwanConn(
                "road", topo.east.addr, "%any", "@east", "@road", psk=PSK, remote_ts="0.0.0.0/0"
            )
        ],
    )
    road.initiate(child="road")
    topo.road.ns.wait_ping(topo.east.addr)
    (sa,) = east.wait_established("road")
    assert sa["remote-host"] == "192.1.2.254" and sa["nat-remote"] == "yes"
    assert _child(sa)["remote-ts"] == ["192.1.3.209/32"]
    flows = topo.nic.ns.exec(["conntrack", "-L", "-p", "udp"]).stdout
    assert "sport=4500 dport=4500" in flows and "dst=192.1.2.254" in flows
