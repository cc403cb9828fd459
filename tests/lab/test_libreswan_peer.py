"""The Libreswan harness: pluto from the unpacked 4.10 .deb, in a lab namespace.

On this kernel (no ESP) pluto's IKE SA establishes with strongSwan but its
own Child SA install fails with errno 93; we assert at the IKE level.
"""

from __future__ import annotations

import pytest

from cygnet.lab.libreswan import psk_secret
from cygnet.lab.strongswan import SwanConn

pytestmark = [pytest.mark.netns, pytest.mark.interop]

PSK = "plab-test-psk-not-secret-0123456789"


def _plab(topo) -> dict[str, str]:
    """The conn of reference/libreswan-4.10-outputs/ipsec.conf.used."""
    return {
        "authby": "secret",
        "ikev2": "yes",
        "type": "tunnel",
        "left": topo.west.addr,
        "leftid": "@west",
        "right": topo.east.addr,
        "rightid": "@east",
        "ike": "aes128-sha2_256;modp2048",
        "esp": "aes128-sha2_256",
        "auto": "add",
    }


def _east_charon(topo, strongswan_peer):
    conn = SwanConn(
        "plab",
        topo.east.addr,
        topo.west.addr,
        "@east",
        "@west",
        psk=PSK,
        proposals="aes128-sha256-modp2048",
        # pluto's default pfs=yes puts a KE group into CREATE_CHILD_SA proposals.
        esp_proposals="aes128-sha256-modp2048,aes128-sha256",
    )
    return strongswan_peer(topo.east, [conn])


def test_pluto_starts_and_loads_a_conn(lab_topology, libreswan_peer) -> None:
    topo = lab_topology("west", "east")
    pluto = libreswan_peer(topo.west, {"plab": _plab(topo)}, psk_secret("@west", "@east", PSK))
    assert (pluto.nss / "cert9.db").exists()  # ipsec --checknss made the private NSS db
    assert pluto.ipsec("addconn", "--checkconfig").returncode == 0
    assert "Starting Pluto (Libreswan Version 4.10" in pluto.log()
    pluto.add("plab")
    status = pluto.status()
    assert '"plab": 192.1.2.45[@west]...192.1.2.23[@east]; unrouted; eroute owner: #0' in status
    assert "000 interface eth1 UDP 192.1.2.45:500" in status
    assert pluto.trafficstatus() == ""


def test_pluto_initiates_ike_sa_to_charon(lab_topology, libreswan_peer, strongswan_peer) -> None:
    topo = lab_topology("west", "east")
    east = _east_charon(topo, strongswan_peer)
    pluto = libreswan_peer(topo.west, {"plab": _plab(topo)}, psk_secret("@west", "@east", PSK))
    pluto.add("plab")
    pluto.up("plab")
    m = pluto.wait_log(
        r'"plab" #\d+: initiator established IKE SA; authenticated peer '
        r"using authby=secret and ID_FQDN '@east'"
    )
    assert m
    # Expected on this kernel: pluto's own Child SA install fails.
    pluto.wait_log(r"Protocol not supported \(errno 93\)")
    assert any(sa["remote-id"] == "west" for sa in east.list_sas())


def test_charon_initiates_ike_sa_to_pluto(lab_topology, libreswan_peer, strongswan_peer) -> None:
    topo = lab_topology("west", "east")
    pluto = libreswan_peer(topo.west, {"plab": _plab(topo)}, psk_secret("@west", "@east", PSK))
    pluto.add("plab")
    east = _east_charon(topo, strongswan_peer)
    east.initiate(child="plab", check=False, timeout=10)  # Child SA: TS_UNACCEPTABLE here
    pluto.wait_log(
        r'"plab" #\d+: responder established IKE SA; authenticated peer '
        r"using authby=secret and ID_FQDN '@east'"
    )
