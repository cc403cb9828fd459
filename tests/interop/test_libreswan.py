"""Cygnet ↔ Libreswan 4.10 (pluto) in namespaces, at the IKE level.

On this kernel pluto establishes IKE SAs but cannot install its own Child
SAs (no ESP: errno 93). As responder it then answers TS_UNACCEPTABLE; as
initiator it deletes its IKE SA without a notification and starts again
("revives"). Cygnet must treat both as a real Libreswan peer would.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from cygnet.lab.libreswan import psk_secret
from cygnet.lab.node import CygnetNode

pytestmark = [pytest.mark.netns, pytest.mark.interop]

PSK = "plab-test-psk-not-secret-0123456789"


def plab(topo, **extra: str) -> dict[str, str]:
    """The conn of reference/libreswan-4.10-outputs/ipsec.conf.used, minus the algorithms
    unless given: Libreswan's defaults on both sides."""
    conn = {
        "authby": "secret", "ikev2": "yes", "type": "tunnel",
        "left": topo.west.addr, "leftid": "@west",
        "right": topo.east.addr, "rightid": "@east", "auto": "add",
    }
    return {**conn, **extra}


def cygnet_east(topo, tmp_path: Path, conn: dict[str, str]) -> CygnetNode:
    node = CygnetNode(topo.east.ns, tmp_path / "cygnet-east")
    node.write_conn_file("plab.conf", "conn plab\n" + "".join(f"    {k}={v}\n"
                                                             for k, v in conn.items()))
    node.write_secrets(psk_secret("@west", "@east", PSK))
    node.initnss()
    node.start()
    node.add("plab")
    return node


def ike_sas(node: CygnetNode) -> list[dict]:
    return [s for s in node.status_json("showstates")["states"] if s["kind"] == "IKE"]


def established(node: CygnetNode) -> list[dict]:
    return [s for s in ike_sas(node) if s["established"]]


def test_cygnet_initiates_and_pluto_answers_ts_unacceptable(lab_topology, libreswan_peer,
                                                           tmp_path) -> None:
    topo = lab_topology("west", "east")
    pluto = libreswan_peer(topo.west, {"plab": plab(topo)}, psk_secret("@west", "@east", PSK))
    pluto.add("plab")
    east = cygnet_east(topo, tmp_path, plab(topo))
    out = east.up("plab", check=False)
    assert "initiator established IKE SA; authenticated peer using authby=secret and " \
           "ID_FQDN '@west'" in out, out
    assert re.search(r'"plab" #2: IKE_AUTH response contained the error notification '
                     r"TS_UNACCEPTABLE", out), out
    pluto.wait_log(r'"plab" #\d+: responder established IKE SA; authenticated peer using '
                   r"authby=secret and ID_FQDN '@east'")
    # the IKE SA stays up on our side: Libreswan's answer only refused the Child SA
    assert [s["established"] for s in ike_sas(east)] == [True]


@pytest.mark.parametrize("ike", [None, "aes128-sha2_256;modp2048", "aes_gcm256-sha2_512;dh19"])
def test_pluto_initiates_then_drops_silently_and_revives(lab_topology, libreswan_peer, tmp_path,
                                                         ike: str | None) -> None:
    topo = lab_topology("west", "east")
    extra = {"ike": ike} if ike else {}
    east = cygnet_east(topo, tmp_path, plab(topo, **extra))
    pluto = libreswan_peer(topo.west, {"plab": plab(topo, **extra)},
                           psk_secret("@west", "@east", PSK))
    pluto.add("plab")
    pluto.up("plab")
    pluto.wait_log(r'"plab" #1: initiator established IKE SA; authenticated peer using '
                   r"authby=secret and ID_FQDN '@east'")
    # errno 93 on the bare kernel, 38 inside the lab's namespaces: either way no ESP
    pluto.wait_log(r"netlink response for Add SA esp\.[0-9a-f]+@[0-9.]+: .* \(errno (93|38)\)")
    # pluto deletes #1 without telling us and revives with #3 (INITIAL_CONTACT)
    pluto.wait_log(r'"plab" #3: initiator established IKE SA', timeout=20)
    assert "responder established IKE SA; authenticated peer using authby=secret and " \
           "ID_FQDN '@west'" in east.log()
    # our side must not pile up the IKE SAs pluto abandoned (uniqueids=yes): one
    # established at a time, plus perhaps pluto's next revival still half-open
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len(established(east)) > 1:
        time.sleep(0.2)
    assert len(established(east)) == 1, ike_sas(east)
    assert "uniqueids=yes" in east.log()
