"""Connections become engine policies: IDs, keys, PSKs, proposals, selectors, orientation."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from cygnet.config.conn import loads_config
from cygnet.config.secrets import load_secrets
from cygnet.daemon.conns import ConnectionManager, ConnError
from cygnet.ike.iana import KeId
from cygnet.ike.natd import Endpoint
from cygnet.ike.payloads import Identity
from cygnet.pki.rawkey import pubkey_to_0s

WEST, EAST = "192.1.2.45", "192.1.2.23"

PLAB = """\
conn plab
	authby=secret
	ikev2=yes
	type=tunnel
	left=192.1.2.45
	leftid=@west
	right=192.1.2.23
	rightid=@east
	ike=aes128-sha2_256;modp2048
	esp=aes128-sha2_256
	auto=add
"""


def manager(tmp_path: Path, here: str, secrets: str = "", nss: object = None) -> ConnectionManager:
    path = tmp_path / "ipsec.secrets"
    path.write_text(secrets)
    os.chmod(path, 0o600)
    s = load_secrets(str(path))
    return ConnectionManager(local_addresses=lambda: ({here, "127.0.0.1"}, here),
                             secrets=lambda: s, nss=lambda: nss)


def test_psk_conn_from_libreswan_reference(tmp_path: Path) -> None:
    cfg = loads_config(PLAB)
    m = manager(tmp_path, WEST, '@west @east : PSK "the reference lab secret"\n')
    conn = m.add(cfg.conns["plab"])
    p = conn.policy
    assert conn.oriented.local_addr == WEST and conn.remote_host == EAST
    assert p.local_id == Identity.from_libreswan("@west")
    assert p.remote_id == Identity.from_libreswan("@east")
    assert p.local_auth.psk == b"the reference lab secret" == p.remote_auth.psk
    assert p.pfs_groups == (KeId.MODP2048,)
    assert [str(t.start) for t in p.local_ts] == [WEST] and [str(t.start) for t in p.remote_ts] == [EAST]
    assert p.retransmit_interval == 0.5 and p.retransmit_timeout == 60


def test_same_file_orients_on_the_other_host(tmp_path: Path) -> None:
    m = manager(tmp_path, EAST, '@west @east : PSK "the reference lab secret"\n')
    p = m.add(loads_config(PLAB).conns["plab"]).policy
    assert p.local_id == Identity.from_libreswan("@east")
    assert str(p.local_ts[0].start) == EAST


def test_responder_lookup(tmp_path: Path) -> None:
    m = manager(tmp_path, EAST, '@west @east : PSK "the reference lab secret"\n')
    m.add(loads_config(PLAB).conns["plab"])
    local, remote = Endpoint.parse(EAST, 500), Endpoint.parse(WEST, 500)
    p = m.for_ike_sa_init(local, remote)
    assert p is not None and p.name == "plab"
    assert m.for_ike_sa_init(local, Endpoint.parse("192.1.2.99", 500)) is None
    assert m.for_ike_auth(p, local, remote, Identity.from_libreswan("@west"), None) is p
    assert m.for_ike_auth(p, local, remote, Identity.from_libreswan("@mallory"), None) is None


def test_neither_end_is_this_host(tmp_path: Path) -> None:
    m = manager(tmp_path, "192.1.2.99")
    with pytest.raises(ConnError) as e:
        m.add(loads_config(PLAB).conns["plab"])
    assert str(e.value).startswith('"plab": failed to add connection: ')
    assert "cannot identify ourselves with either end" in str(e.value)


def test_bad_proposal_is_refused_with_pluto_wording(tmp_path: Path) -> None:
    cfg = loads_config(PLAB.replace("aes128-sha2_256;modp2048", "aes128-frob;modp2048"))
    with pytest.raises(ConnError) as e:
        manager(tmp_path, WEST).add(cfg.conns["plab"])
    assert "ike string error:" in str(e.value)


def test_site_to_site_and_transport(tmp_path: Path) -> None:
    text = PLAB + "\nconn sub\n\talso=plab\n\tleftsubnet=192.0.1.0/24\n\trightsubnet=192.0.2.0/24\n" \
                  "\nconn tr\n\talso=plab\n\ttype=transport\n\tleftprotoport=tcp/22\n"
    cfg = loads_config(text)
    m = manager(tmp_path, WEST)
    sub = m.add(cfg.conns["sub"]).policy
    assert [(str(t.start), str(t.end)) for t in sub.local_ts] == [("192.0.1.0", "192.0.1.255")]
    tr = m.add(cfg.conns["tr"]).policy
    assert tr.transport and (tr.local_ts[0].ip_protocol, tr.local_ts[0].start_port) == (6, 22)


@pytest.mark.nss
@pytest.mark.skipif(shutil.which("certutil") is None, reason="needs certutil (libnss3-tools)")
def test_raw_rsa_keys_from_the_nss_database(tmp_path: Path) -> None:
    """§4.3: leftrsasigkey pasted from showhostkey finds the private key by its CKAID."""
    from cygnet.pki.nssdb import NssDb

    nssdir = tmp_path / "nss"
    nssdir.mkdir()
    env = {**os.environ, "IPSEC_NSSDIR": str(nssdir)}
    subprocess.run(["ipsec", "initnss", "--nssdir", str(nssdir)], check=True, env=env,
                   capture_output=True)
    subprocess.run(["ipsec", "newhostkey", "--nssdir", str(nssdir), "--bits", "2192"],
                   check=True, env=env, capture_output=True)
    db = NssDb.open(str(nssdir))
    (key,) = db.private_keys()
    ours = pubkey_to_0s(key.public_key)
    from cryptography.hazmat.primitives.asymmetric import rsa

    theirs = pubkey_to_0s(rsa.generate_private_key(65537, 2048).public_key())
    text = (f"conn mytunnel\n    leftid=@west\n    left={WEST}\n    leftrsasigkey={ours}\n"
            f"    rightid=@east\n    right={EAST}\n    rightrsasigkey={theirs}\n    authby=rsasig\n")
    m = manager(tmp_path, WEST, nss=db)
    p = m.add(loads_config(text).conns["mytunnel"]).policy
    assert p.local_auth.private_key is not None
    assert p.local_auth.private_key.public_key().public_numbers() == key.public_key.public_numbers()
    assert pubkey_to_0s(p.remote_auth.public_key) == theirs
    # on east the same file wants east's private key, which this database lacks
    with pytest.raises(ConnError) as e:
        manager(tmp_path, EAST, nss=db).add(loads_config(text).conns["mytunnel"])
    assert "not found in the NSS database" in str(e.value)
