"""`ipsec initnss|checknss|newhostkey|showhostkey|import` against Libreswan's wording and NSS."""

from __future__ import annotations

import io
import random
import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cygnet.cli import nss
from cygnet.pki import nsstools
from cygnet.pki.nssdb import NssDb
from cygnet.pki.nsspassword import write_password_file
from cygnet.pki.rawkey import format_ipseckey, format_leftright, pem_public_key
from tests.pki.conftest import certutil, make_p12, needs_nss, reference

NEWHOSTKEY = re.compile(
    r"Generated (RSA|ECDSA) key pair with CKAID ([0-9a-f]{40}) was stored in the NSS database\n"
    r"The public key can be displayed using: ipsec showhostkey --left --ckaid \2\n"
)

Capsys = pytest.CaptureFixture[str]


def test_default_rsa_size_is_libreswans() -> None:
    sizes = {nss.default_rsa_bits(random.Random(seed)) for seed in range(2000)}
    assert min(sizes) == 3072 and max(sizes) == 4080
    assert all(s % 16 == 0 for s in sizes) and len(sizes) == 64


@given(st.integers())
def test_default_rsa_size_property(seed: int) -> None:
    bits = nss.default_rsa_bits(random.Random(seed))
    assert 3072 <= bits < 4096 and bits % 16 == 0


def test_showhostkey_needs_an_operation(capsys: Capsys) -> None:
    assert nss.showhostkey([]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ipsec showhostkey: You must specify an operation\nUsage:\n")
    assert "[ --precedence <precedence> ] \n" in err
    assert nss.showhostkey(["--left", "--right", "--ckaid", "ab"]) == 1
    assert "You must specify only one operation" in capsys.readouterr().err
    assert nss.showhostkey(["--left"]) == 1
    assert "You must select a key using --ckaid or --rsaid" in capsys.readouterr().err
    assert nss.showhostkey(["--list", "--ckaid", "ab"]) == 1
    assert "You must not select a key" in capsys.readouterr().err
    assert nss.showhostkey(["--list", "--bogus"]) == 1
    assert capsys.readouterr().err.startswith(
        "ipsec showhostkey: unrecognized option '--bogus'\n"
    )
    assert nss.showhostkey(["--left", "--ckaid"]) == 1
    assert "option '--ckaid' requires an argument" in capsys.readouterr().err


def test_absent_db_is_fatal(tmp_path: Path, capsys: Capsys) -> None:
    assert nss.showhostkey(["--list", "--nssdir", str(tmp_path)]) == 1
    assert capsys.readouterr().err == (
        f'FATAL ERROR: ipsec showhostkey: NSS: initialization using read-only database '
        f'"sql:{tmp_path}" failed: SEC_ERROR_BAD_DATABASE: security library: bad database.\n'
    )


def test_newhostkey_argument_errors(tmp_path: Path, capsys: Capsys) -> None:
    d = str(tmp_path)
    assert nss.newhostkey(["--keytype", "ecdsa", "--bits", "3072", "--nssdir", d]) == 2
    assert "ipsec newhostkey: --bits and --keytype ecdsa are mutually exclusive" in (
        capsys.readouterr().err
    )
    assert nss.newhostkey(["--keytype", "dsa", "--nssdir", d]) == 2
    assert "unknown key type `dsa'" in capsys.readouterr().err
    assert nss.newhostkey(["--frob"]) == 2
    assert nss.newhostkey(["--nssdir", str(tmp_path / "nope")]) == 255
    assert capsys.readouterr().out == f"No such directory: {tmp_path / 'nope'}\n"
    assert nss.newhostkey(["--nssdir", d]) == 255
    assert capsys.readouterr().err == (
        f"NSS database in {d} not initialized.\n    Please run 'ipsec initnss --nssdir {d}'\n"
    )


# --- with NSS --------------------------------------------------------------------------

nss_only = [pytest.mark.nss, needs_nss]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    d = tmp_path / "nss"
    assert nss.initnss(["--nssdir", str(d)]) == 0
    return d


@pytest.mark.nss
@needs_nss
def test_initnss_and_checknss(tmp_path: Path, capsys: Capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path / "nss"
    monkeypatch.setenv("IPSEC_NSSDIR", str(d))
    assert nss.checknss([]) == 0
    # A-pluto-prestart-steps: `ipsec --checknss` on a fresh host.
    steps = reference("A-pluto-prestart-steps.txt")
    expected = steps.split("== ipsec --checknss\n")[1].split("rc=0\n")[0]
    assert capsys.readouterr().out == expected == "Initializing NSS database\n\n"
    assert certutil("-L", "-d", f"sql:{d}").returncode == 0
    assert (d / "cert9.db").exists() and (d / "key4.db").exists()
    assert nss.checknss([]) == 0
    assert capsys.readouterr().out == ""
    assert nss.initnss(["--nssdir", f"sql:{d}"]) == 42
    assert capsys.readouterr().out == (
        "NSS database already initialised - aborted\n"
        f"To wipe the old NSS database, issue: rm {d}/*.db\n"
    )


@pytest.mark.nss
@needs_nss
def test_newhostkey_and_showhostkey(
    db: Path, capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    capsys.readouterr()
    assert nss.newhostkey(["--nssdir", str(db)]) == 0
    out = capsys.readouterr()
    assert out.out == ""
    m = NEWHOSTKEY.fullmatch(out.err)
    assert m and m[1] == "RSA"
    rsa_id = m[2]
    assert nss.newhostkey(["--keytype", "ecdsa", "--nssdir", str(db)]) == 0
    m = NEWHOSTKEY.fullmatch(capsys.readouterr().err)
    assert m and m[1] == "ECDSA"
    ec_id = m[2]
    listed = certutil("-K", "-d", f"sql:{db}").stdout
    assert re.search(rf"rsa\s+{rsa_id}", listed) and re.search(rf"ec\s+{ec_id}", listed)

    with NssDb.open(str(db)) as store:
        rsa_key, ec_key = store.private_keys()
        bits = store.private_key(rsa_id).key_size
    assert 3072 <= bits < 4096 and bits % 16 == 0

    assert nss.showhostkey(["--list", "--nssdir", str(db)]) == 0
    listing = capsys.readouterr().out
    assert re.fullmatch(
        rf"< 1> RSA keyid: AwEAA\S{{4}} ckaid: {rsa_id}\n< 2> ECDSA keyid: \S{{9}} ckaid: {ec_id}\n",
        listing,
    )
    assert nss.showhostkey(["--dump", "--nssdir", str(db)]) == 0
    assert capsys.readouterr().out == listing

    monkeypatch.setattr(nss.socket, "gethostname", lambda: "vm")
    for key, ckaid in ((rsa_key, rsa_id), (ec_key, ec_id)):
        for side in ("left", "right"):
            assert nss.showhostkey([f"--{side}", "--ckaid", ckaid[:8], "--nssdir", str(db)]) == 0
            assert capsys.readouterr().out == format_leftright(key.public_key, side)
        assert nss.showhostkey(["--ipseckey", "--ckaid", ckaid, "--nssdir", str(db)]) == 0
        assert capsys.readouterr().out == format_ipseckey(key.public_key, "vm")
        assert nss.showhostkey(["--pem", "--ckaid", ckaid, f"--nssdir={db}"]) == 0
        pem = capsys.readouterr().out
        assert pem == pem_public_key(key.public_key)
        checked = subprocess.run(
            ["openssl", "pkey", "-pubin", "-noout"], input=pem, text=True, capture_output=True
        )
        assert checked.returncode == 0

    keyid = listing.split()[4]
    assert nss.showhostkey(["--left", "--rsaid", keyid, "-d", str(db)]) == 0
    assert capsys.readouterr().out == format_leftright(rsa_key.public_key, "left")
    assert nss.showhostkey(["--left", "--ckaid", "0000", "--nssdir", str(db)]) == 20
    assert capsys.readouterr().err == "ipsec showhostkey: No keys found\n"
    assert nss.showhostkey(["--ipseckey", "--ckaid", ec_id, "--gateway", "x", "-d", str(db)]) == 5


@pytest.mark.nss
@needs_nss
def test_newhostkey_rsa_limits(db: Path, capsys: Capsys) -> None:
    for bits, msg in (
        ("1024", "requested RSA key size (1024) is too small - use 2192 or more"),
        ("3000", "requested RSA key size (3000) is not a multiple of 16"),
        ("99999", "requested RSA key size (99999) is too large - (max 20000)"),
        ("big", "keysize specification is malformed: big"),
    ):
        assert nss.newhostkey(["--bits", bits, "--nssdir", str(db)]) == 1
        assert capsys.readouterr().err == f"ipsec rsasigkey: {msg}\n"
    assert nss.newhostkey(["--keytype", "ecdsa", "--curve", "p256", "--nssdir", str(db)]) == 1
    assert capsys.readouterr().err == "ipsec ecdsasigkey: curve specification is malformed: p256\n"


@pytest.mark.nss
@needs_nss
def test_password_protected_db(tmp_path: Path, capsys: Capsys) -> None:
    d = tmp_path / "nss"
    assert nsstools.create_db(str(d), "s3cret!").returncode == 0
    pwfile = tmp_path / "nsspassword"
    write_password_file(str(pwfile), "s3cret!")
    assert nss.newhostkey(["--keytype", "ecdsa", "--nssdir", str(d), "--password", "s3cret!"]) == 0
    m = NEWHOSTKEY.fullmatch(capsys.readouterr().err)
    assert m
    assert nss.newhostkey(["--bits", "2192", "--nssdir", str(d), "--nsspassword", str(pwfile)]) == 0
    capsys.readouterr()
    assert nss.showhostkey(["--list", "--nssdir", str(d), "--nsspassword", str(pwfile)]) == 0
    assert m[2] in capsys.readouterr().out
    write_password_file(str(pwfile), "wrong")
    for argv in (["--nsspassword", str(pwfile)], ["--password", "nope"],
                 ["--nsspassword", str(tmp_path / "missing")]):
        assert nss.showhostkey(["--list", "--nssdir", str(d), *argv]) == 1
        assert capsys.readouterr().err == (
            'ipsec showhostkey: authentication of "NSS Certificate DB" failed\n'
            "FATAL ERROR: ipsec showhostkey: NSS: could not authenticate slot\n"
        )
    assert nss.newhostkey(["--nssdir", str(d), "--password", "nope"]) == 1
    assert 'ipsec rsasigkey: authentication of "NSS Certificate DB" failed' in (
        capsys.readouterr().err
    )


@pytest.mark.nss
@needs_nss
@pytest.mark.parametrize("db_password", [None, "dbpw-123"])
def test_import_p12(
    tmp_path: Path, capsys: Capsys, monkeypatch: pytest.MonkeyPatch, db_password: str | None
) -> None:
    d = tmp_path / "nss"
    assert nsstools.create_db(str(d), db_password).returncode == 0
    p12 = make_p12(tmp_path)
    extra: list[str] = []
    if db_password:
        pwfile = tmp_path / "nsspassword"
        write_password_file(str(pwfile), db_password)
        extra = ["--nsspassword", str(pwfile)]
    assert nss.import_p12(["--nssdir", str(d), *extra, "-W", "p12secret", str(p12)]) == 0
    out = capsys.readouterr().out
    assert "pk12util: PKCS12 IMPORT SUCCESSFUL\n" in out
    assert out.endswith("correcting trust bits for Cygnet Test CA\n")
    listing = certutil("-L", "-d", f"sql:{d}").stdout
    assert re.search(r"^node\s+u,u,u\s*$", listing, re.M)
    assert re.search(r"^Cygnet Test CA\s+CT,,\s*$", listing, re.M)
    with NssDb.open(str(d), password=db_password) as store:
        assert [c.nickname for c in store.ca_certificates()] == ["Cygnet Test CA"]
        store.private_key_for_cert("node")


@pytest.mark.nss
@needs_nss
def test_import_password_on_stdin_and_errors(
    db: Path, tmp_path: Path, capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    p12 = make_p12(tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO("wrong\n"))
    assert nss.import_p12(["--nssdir", str(db), str(p12)]) != 0
    monkeypatch.setattr("sys.stdin", io.StringIO("p12secret\n"))
    assert nss.import_p12(["--nssdir", str(db), str(p12)]) == 0
    assert "correcting trust bits for Cygnet Test CA" in capsys.readouterr().out
    assert nss.import_p12(["--nssdir", str(db), str(tmp_path / "absent.p12")]) == 1
    assert nss.import_p12(["--nssdir", str(db)]) == 1
    assert capsys.readouterr().err.endswith("/path/to/pkcs.12\n")
