"""Cygnet ↔ strongSwan 5.9.8 (charon + kernel-libipsec) in namespaces, with traffic.

Cygnet runs on west (192.1.2.45) with its userspace data plane, charon on
east (192.1.2.23). libipsec always fakes a NAT, so every tunnel here also
exercises NAT detection, the move to port 4500 and ESP-in-UDP.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cygnet.lab.node import CygnetNode
from cygnet.lab.strongswan import SwanConn
from cygnet.pki.rawkey import pubkey_to_0s

pytestmark = [pytest.mark.netns, pytest.mark.interop]

PSK = "a-test-secret-that-is-long-enough-for-fips"
WEST_NET, EAST_NET = "192.0.1.0/24", "192.0.2.0/24"


def cygnet_on(host, tmp_path: Path, conn: str, secrets: str = "") -> CygnetNode:
    node = CygnetNode(host.ns, tmp_path / "cygnet-west")
    node.write_conn_file("swan.conf", conn)
    node.write_secrets(secrets or f'@west @east : PSK "{PSK}"\n')
    node.initnss()
    node.start()
    node.add("swan")
    return node


def psk_conn(extra: str = "") -> str:
    return ("conn swan\n    authby=secret\n    left=192.1.2.45\n    leftid=@west\n"
            "    right=192.1.2.23\n    rightid=@east\n" + extra)


def traffic_both_ways(topo, src_w: str | None = None, dst_e: str | None = None) -> None:
    """Ping east from west and west from east through the tunnel."""
    dst_e = dst_e or topo.east.addr
    dst_w = src_w or topo.west.addr
    topo.west.ns.wait_ping(dst_e, timeout=10, src=src_w)
    assert topo.east.ns.ping(dst_w, count=2, src=None if src_w is None else topo.east.inside)


def counters(node: CygnetNode) -> tuple[int, int]:
    m = re.search(r"inBytes=(\d+), outBytes=(\d+)", node.trafficstatus())
    assert m, node.trafficstatus()
    return int(m.group(1)), int(m.group(2))


def test_cygnet_initiates_psk_defaults(lab_topology, strongswan_peer, tmp_path) -> None:
    topo = lab_topology("west", "east")
    swan = strongswan_peer(topo.east, [SwanConn("swan", topo.east.addr, topo.west.addr,
                                                "@east", "@west", psk=PSK)])
    west = cygnet_on(topo.west, tmp_path, psk_conn())
    out = west.up("swan")
    assert "initiator established IKE SA; authenticated peer using authby=secret and " \
           "ID_FQDN '@east'" in out, out
    assert re.search(r"initiator established Child SA using #\d+; IPsec tunnel "
                     r"\[192\.1\.2\.45/32===192\.1\.2\.23/32\] \{ESPinUDP", out), out
    traffic_both_ways(topo)
    sas = swan.list_sas()
    assert sas and sas[0]["state"] == "ESTABLISHED"
    child = next(iter(sas[0]["child-sas"].values()))
    assert child["state"] == "INSTALLED" and int(child["packets-in"]) > 0
    inb, outb = counters(west)
    assert inb > 0 and outb > 0


def test_strongswan_initiates_psk(lab_topology, strongswan_peer, tmp_path) -> None:
    topo = lab_topology("west", "east")
    swan = strongswan_peer(topo.east, [SwanConn("swan", topo.east.addr, topo.west.addr,
                                                "@east", "@west", psk=PSK)])
    west = cygnet_on(topo.west, tmp_path, psk_conn())
    swan.initiate(child="swan")
    swan.wait_established("swan")
    traffic_both_ways(topo)
    assert "responder established IKE SA; authenticated peer using authby=secret and " \
           "ID_FQDN '@east'" in west.log()
    assert '"swan"' in west.trafficstatus()


@pytest.mark.parametrize("cygnet_initiates", [True, False])
def test_raw_rsa_keys(lab_topology, strongswan_peer, tmp_path, cygnet_initiates: bool) -> None:
    topo = lab_topology("west", "east")
    east_key = rsa.generate_private_key(65537, 3072)
    west_node = CygnetNode(topo.west.ns, tmp_path / "cygnet-west")
    west_node.initnss()
    west_0s = west_node.showhostkey("left", west_node.newhostkey("--bits", "3072"))
    from cygnet.pki.rawkey import pubkey_from_0s

    west_pub = pubkey_from_0s(west_0s)
    pem = serialization.PublicFormat.SubjectPublicKeyInfo
    swan = strongswan_peer(
        topo.east,
        [SwanConn("swan", topo.east.addr, topo.west.addr, "@east", "@west", auth="pubkey",
                  local_pubkeys=["east.pub"], remote_pubkeys=["west.pub"])],
        keys={"east.pem": east_key.private_bytes(serialization.Encoding.PEM,
                                                 serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption())},
        pubkeys={"east.pub": east_key.public_key().public_bytes(serialization.Encoding.PEM, pem),
                 "west.pub": west_pub.public_bytes(serialization.Encoding.PEM, pem)},
    )
    conn = ("conn swan\n    authby=rsasig\n    left=192.1.2.45\n    leftid=@west\n"
            f"    leftrsasigkey={west_0s}\n    right=192.1.2.23\n    rightid=@east\n"
            f"    rightrsasigkey={pubkey_to_0s(east_key.public_key())}\n")
    west_node.write_conn_file("swan.conf", conn)
    west_node.start()
    west_node.add("swan")
    if cygnet_initiates:
        out = west_node.up("swan")
        # charon signs with PKCS#1 v1.5 unless told to use PSS; either verifies
        assert re.search(r"authenticated peer '3072-bit (RSASSA-PSS|PKCS#1 1\.5 RSA) with SHA2_",
                         out), out
    else:
        swan.initiate(child="swan")
        swan.wait_established("swan")
    traffic_both_ways(topo)


def test_site_to_site(lab_topology, strongswan_peer, tmp_path) -> None:
    topo = lab_topology("west", "east")
    strongswan_peer(topo.east, [SwanConn("swan", topo.east.addr, topo.west.addr, "@east",
                                         "@west", psk=PSK, local_ts=topo.east.subnets()[0],
                                         remote_ts=topo.west.subnets()[0])])
    west = cygnet_on(topo.west, tmp_path, psk_conn(
        f"    leftsubnet={topo.west.subnets()[0]}\n    rightsubnet={topo.east.subnets()[0]}\n"))
    out = west.up("swan")
    assert f"[{topo.west.subnets()[0]}==={topo.east.subnets()[0]}]" in out, out
    topo.west.ns.wait_ping(topo.east.inside, timeout=10, src=topo.west.inside)
    assert topo.east.ns.ping(topo.west.inside, count=2, src=topo.east.inside)


# (Cygnet ike=, esp=; strongSwan proposals, esp_proposals; expected xfrm= text)
PROPOSAL_SETS = [
    ("aes_gcm256-sha2_512;dh19", "aes_gcm256", "aes256gcm16-prfsha512-ecp256", "aes256gcm16",
     "xfrm=AES_GCM_16_256-NONE"),
    ("aes256-sha2_256;modp2048", "aes256-sha2_256", "aes256-sha256-modp2048", "aes256-sha256",
     "xfrm=AES_CBC_256-HMAC_SHA2_256_128"),
    ("chacha20_poly1305-sha2_256;dh31", "chacha20_poly1305",
     "chacha20poly1305-prfsha256-curve25519", "chacha20poly1305", "xfrm=CHACHA20_POLY1305"),
    ("aesctr128-sha2_256;dh20", "aesctr128-sha2_256", "aes128ctr-sha256-ecp384",
     "aes128ctr-sha256", "xfrm=AES_CTR_128-HMAC_SHA2_256_128"),
    ("aes128-sha2_512;dh21", "aes128-sha2_512", "aes128-sha512-ecp521", "aes128-sha512",
     "xfrm=AES_CBC_128-HMAC_SHA2_512_256"),
    ("aes_gcm128-sha2_256;dh14", "aes_gcm128-null;dh14", "aes128gcm16-prfsha256-modp2048",
     "aes128gcm16-modp2048", "xfrm=AES_GCM_16_128-NONE"),
]


@pytest.mark.parametrize(("ike", "esp", "swan_ike", "swan_esp", "xfrm"), PROPOSAL_SETS,
                         ids=[s[0] for s in PROPOSAL_SETS])
def test_proposal_sets(lab_topology, strongswan_peer, tmp_path, ike, esp, swan_ike, swan_esp,
                       xfrm) -> None:
    topo = lab_topology("west", "east")
    strongswan_peer(topo.east, [SwanConn("swan", topo.east.addr, topo.west.addr, "@east", "@west",
                                         psk=PSK, proposals=swan_ike, esp_proposals=swan_esp)])
    west = cygnet_on(topo.west, tmp_path, psk_conn(f"    ike={ike}\n    esp={esp}\n"))
    out = west.up("swan")
    assert xfrm in out, out
    traffic_both_ways(topo)


def test_liveness_of_a_long_ping(lab_topology, strongswan_peer, tmp_path) -> None:
    """A few seconds of traffic keep flowing (replay window, sequence numbers, counters)."""
    topo = lab_topology("west", "east")
    strongswan_peer(topo.east, [SwanConn("swan", topo.east.addr, topo.west.addr, "@east",
                                         "@west", psk=PSK)])
    west = cygnet_on(topo.west, tmp_path, psk_conn())
    west.up("swan")
    topo.west.ns.wait_ping(topo.east.addr, timeout=10)
    before = counters(west)
    r = topo.west.ns.exec(["ping", "-n", "-q", "-c", "50", "-i", "0.02", topo.east.addr],
                          check=False, timeout=30)
    assert " 0% packet loss" in r.stdout, r.stdout
    after = counters(west)
    assert after[0] > before[0] and after[1] > before[1]
