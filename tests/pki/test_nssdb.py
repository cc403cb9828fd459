"""The key4.db/cert9.db reader, with NSS's own certutil/pk12util as the oracle."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import padding as sympad
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, modes

from cygnet.pki import der, nsstools
from cygnet.pki.ckaid import ckaid_of
from cygnet.pki.nssdb import (
    OID_PKCS12_SHA1_3DES,
    NssAuthError,
    NssDb,
    NssDbError,
    NssKeyNotFound,
    key_ids,
    legacy_3des_key_iv,
    pbe_decrypt,
)
from cygnet.pki.nsspassword import write_password_file
from cygnet.pki.rawkey import pubkey_from_0s, pubkey_to_0s

from .conftest import certutil, make_p12, needs_nss

pytestmark = [pytest.mark.nss, needs_nss]

PASSWORDS = [None, "Pa55 word:with colon"]


def _new_db(path: Path, password: str | None) -> Path:
    r = nsstools.create_db(str(path), password)
    assert r.returncode == 0, r.stderr
    return path


def _open(path: Path, password: str | None) -> NssDb:
    return NssDb.open(str(path), password=password)


def _certutil_keys(path: Path, password: str | None) -> dict[str, str]:
    """certutil -K: {ckaid: 'rsa'|'ec'}."""
    with nsstools.secret_file(password or "") as pw:
        out = certutil("-K", "-d", f"sql:{path}", "-f", pw).stdout
    return {m[1]: m[0] for m in re.findall(r"<\s*\d+>\s+(\w+)\s+([0-9a-f]{40})", out)}


def _sign_verify(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, pub: object) -> None:
    msg = b"IKE_AUTH octets"
    if isinstance(key, rsa.RSAPrivateKey):
        assert isinstance(pub, rsa.RSAPublicKey)
        pss = padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH)
        pub.verify(key.sign(msg, pss, hashes.SHA256()), msg, pss, hashes.SHA256())
    else:
        assert isinstance(pub, ec.EllipticCurvePublicKey)
        pub.verify(key.sign(msg, ec.ECDSA(hashes.SHA256())), msg, ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize("password", PASSWORDS)
def test_generated_keys_match_certutil_and_sign(tmp_path: Path, password: str | None) -> None:
    db_dir = _new_db(tmp_path / "nss", password)
    rsa_id = nsstools.generate_key(str(db_dir), "rsa", bits=2192, password=password or "")
    ec_id = nsstools.generate_key(str(db_dir), "ecdsa", curve="secp384r1", password=password or "")
    assert _certutil_keys(db_dir, password) == {rsa_id.hex(): "rsa", ec_id.hex(): "ec"}
    with _open(db_dir, password) as db:
        assert db.needs_login is (password is not None)
        keys = db.private_keys()
        assert [(k.ckaid, k.key_type) for k in keys] == [(rsa_id, "RSA"), (ec_id, "ECDSA")]
        for info in keys:
            assert ckaid_of(info.public_key) == info.ckaid
            key = db.private_key(info.ckaid_hex)
            # what showhostkey prints for the key is what verifies its signatures
            kind = "rsa" if info.key_type == "RSA" else "ecdsa"
            shown = pubkey_from_0s(pubkey_to_0s(info.public_key), kind)
            _sign_verify(key, shown)
        assert isinstance(db.private_key(rsa_id), rsa.RSAPrivateKey)
        assert db.private_key(rsa_id).key_size == 2192
        assert db.find_key(ec_id.hex()[:6]).ckaid == ec_id
        with pytest.raises(NssKeyNotFound, match="no private key with CKAID 00"):
            db.private_key("00" * 20)


@pytest.mark.parametrize("password", PASSWORDS)
def test_pkcs12_from_openssl_is_usable(tmp_path: Path, password: str | None) -> None:
    p12 = make_p12(tmp_path)
    db_dir = _new_db(tmp_path / "nss", password)
    r = nsstools.pk12_import(str(db_dir), str(p12), p12_password="p12secret", db_password=password)
    assert r.returncode == 0, r.stderr
    with _open(db_dir, password) as db:
        assert {c.nickname for c in db.certificates()} == {"node", "Cygnet Test CA"}
        cert = db.certificate("node")
        assert cert.subject.rfc4514_string() == "CN=node.example.org"
        key = db.private_key_for_cert("node")
        _sign_verify(key, cert.public_key())
        assert db.ca_certificates() == []  # pk12util leaves the CA untrusted
        with pytest.raises(NssKeyNotFound):
            db.private_key_for_cert("Cygnet Test CA")
        with pytest.raises(NssKeyNotFound, match='nickname "nope"'):
            db.certificate("nope")
        fixed = nsstools.fix_ca_trust(str(db_dir), db, password)
    assert fixed == ["Cygnet Test CA"]
    listing = certutil("-L", "-d", f"sql:{db_dir}").stdout
    assert re.search(r"Cygnet Test CA\s+CT,,", listing)
    with _open(db_dir, password) as db:
        assert [c.nickname for c in db.ca_certificates()] == ["Cygnet Test CA"]
        assert nsstools.fix_ca_trust(str(db_dir), db, password) == []


def test_password_set_with_certutil_W(tmp_path: Path) -> None:
    db_dir = _new_db(tmp_path / "nss", None)
    ckaid = nsstools.generate_key(str(db_dir), "ecdsa")
    assert nsstools.change_password(str(db_dir), "", "n3w-secret").returncode == 0
    pwfile = tmp_path / "nsspassword"
    write_password_file(str(pwfile), "n3w-secret")
    lines: list[str] = []
    with NssDb.open(str(db_dir), password_file=str(pwfile), log=lines.append) as db:
        assert isinstance(db.private_key(ckaid), ec.EllipticCurvePrivateKey)
    assert lines == [
        f'Initializing NSS using read-only database "sql:{db_dir}"',
        f'NSS Password from file "{pwfile}" for token "NSS Certificate DB" '
        "with length 10 passed to NSS",
    ]


def test_wrong_and_missing_password(tmp_path: Path) -> None:
    db_dir = _new_db(tmp_path / "nss", "right")
    with pytest.raises(NssAuthError) as err:
        NssDb.open(str(db_dir), password="wrong")
    assert str(err.value) == (
        'NSS: could not authenticate slot: authentication of "NSS Certificate DB" failed: '
        "incorrect password (from the password given)"
    )
    assert err.value.token == "NSS Certificate DB"
    lines: list[str] = []
    with pytest.raises(NssAuthError, match="no password for token"):
        NssDb.open(str(db_dir), password_file=str(tmp_path / "absent"), log=lines.append)
    assert lines[-1] == 'authentication of "NSS Certificate DB" failed'
    pwfile = tmp_path / "pw"
    write_password_file(str(pwfile), "wrong")
    with pytest.raises(NssAuthError, match=r'incorrect password \(from ".*/pw"\)'):
        NssDb.open(str(db_dir), password_file=str(pwfile))
    # CKA_IDs stay readable without the password: newhostkey diffs them.
    assert key_ids(str(db_dir)) == []


def test_absent_and_corrupt_databases(tmp_path: Path) -> None:
    with pytest.raises(NssDbError) as err:
        NssDb.open(str(tmp_path / "none"))
    assert str(err.value) == (
        f'NSS: initialization using read-only database "sql:{tmp_path / "none"}" failed: '
        "SEC_ERROR_BAD_DATABASE: security library: bad database."
    )
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "key4.db").write_bytes(b"this is not sqlite" * 100)
    (bad / "cert9.db").write_bytes(b"")
    with pytest.raises(NssDbError, match="initialization using read-only"):
        NssDb.open(f"sql:{bad}")


def test_tampered_key_material_is_refused(tmp_path: Path) -> None:
    db_dir = _new_db(tmp_path / "nss", None)
    ckaid = nsstools.generate_key(str(db_dir), "rsa", bits=2192)
    # Swap the two primes: each still decrypts, but its MAC names the other attribute.
    conn = sqlite3.connect(db_dir / "key4.db")
    conn.execute("UPDATE nssPrivate SET a124 = a125, a125 = a124")
    conn.commit()
    conn.close()
    with _open(db_dir, None) as db, pytest.raises(NssDbError, match="integrity check failed"):
        db.private_key(ckaid)
    # Garbage in place of a secret is refused too, never handed to cryptography.
    conn = sqlite3.connect(db_dir / "key4.db")
    conn.execute("UPDATE nssPrivate SET a124 = a125, a125 = a124, a123 = x'3003020100'")
    conn.commit()
    conn.close()
    with _open(db_dir, None) as db, pytest.raises(NssDbError, match="corrupt encrypted"):
        db.private_key(ckaid)


def test_tampered_trust_is_not_trusted(tmp_path: Path) -> None:
    p12 = make_p12(tmp_path)
    db_dir = _new_db(tmp_path / "nss", None)
    nsstools.pk12_import(str(db_dir), str(p12), p12_password="p12secret")
    certutil("-M", "-d", f"sql:{db_dir}", "-n", "Cygnet Test CA", "-t", "CT,,")
    shutil.copytree(db_dir, tmp_path / "copy")
    conn = sqlite3.connect(tmp_path / "copy" / "key4.db")
    conn.execute("DELETE FROM metaData WHERE id LIKE 'sig_cert_%'")
    conn.commit()
    conn.close()
    with _open(tmp_path / "copy", None) as db:
        assert db.ca_certificates() == []


def test_certutil_oracle_lists_pk12util_key(tmp_path: Path) -> None:
    p12 = make_p12(tmp_path, key="rsa")
    db_dir = _new_db(tmp_path / "nss", None)
    subprocess.run(
        ["pk12util", "-i", str(p12), "-d", f"sql:{db_dir}", "-W", "p12secret"],
        check=True, capture_output=True,
    )
    with _open(db_dir, None) as db:
        (info,) = db.private_keys()
        assert info.label == "node"
        assert _certutil_keys(db_dir, None) == {info.ckaid_hex: "rsa"}
        assert info.public_key == db.certificate("node").public_key()


def _legacy_blob(plain: bytes, pass_key: bytes, salt: bytes) -> bytes:
    """Encrypt like NSS < 3.49 did: SHA-1/3DES PBE (OID 1.2.840.113549.1.12.5.1.3)."""
    key, iv = legacy_3des_key_iv(salt, pass_key)
    padder = sympad.PKCS7(64).padder()
    enc = Cipher(TripleDES(key), modes.CBC(iv)).encryptor()
    ct = enc.update(padder.update(plain) + padder.finalize()) + enc.finalize()
    params = der.encode(
        der.SEQUENCE, der.encode(der.OCTET_STRING, salt) + der.encode(der.INTEGER, b"\x01")
    )
    alg = der.encode(der.SEQUENCE, der.encode_oid(OID_PKCS12_SHA1_3DES) + params)
    return der.encode(der.SEQUENCE, alg + der.encode(der.OCTET_STRING, ct))


def test_legacy_3des_entries_are_read(tmp_path: Path) -> None:
    """Keys written by pre-AES NSS (RHEL 8.0 era) carry 3DES blobs and no MACs."""
    db_dir = _new_db(tmp_path / "nss", None)
    ckaid = nsstools.generate_key(str(db_dir), "rsa", bits=2192)
    with _open(db_dir, None) as db:
        want = db.private_key(ckaid).private_numbers()
    conn = sqlite3.connect(db_dir / "key4.db")
    gsalt = conn.execute("SELECT item1 FROM metaData WHERE id='password'").fetchone()[0]
    pass_key = hashlib.sha1(gsalt).digest()
    row = conn.execute("SELECT id, a123, a124, a125, a126, a127, a128 FROM nssPrivate").fetchone()
    for col, blob in zip(("a123", "a124", "a125", "a126", "a127", "a128"), row[1:], strict=True):
        legacy = _legacy_blob(pbe_decrypt(blob, pass_key), pass_key, os.urandom(20))
        conn.execute(f"UPDATE nssPrivate SET {col} = ?", (legacy,))
    check = _legacy_blob(b"password-check", pass_key, os.urandom(20))
    conn.execute("UPDATE metaData SET item2 = ? WHERE id = 'password'", (check,))
    conn.execute("DELETE FROM metaData WHERE id LIKE 'sig_key_%'")
    conn.commit()
    conn.close()
    with _open(db_dir, None) as db:
        assert db.private_key(ckaid).private_numbers() == want
