"""Read an NSS `sql:` database (cert9.db + key4.db) without NSS.

The daemon must sign with a host key that `ipsec newhostkey` put in the DB
with no certificate, so it cannot go through `pk12util -o`: it reads key4.db
itself. Both files are SQLite; each PKCS#11 object is a row whose columns
`a<hex>` hold attribute values (CK_ULONGs as 4 big-endian bytes, empty values
as the marker a5 00 5a). Private-key secrets are PBES2 blobs (PBKDF2-HMAC-
SHA256 + AES-256-CBC) keyed by SHA-1(global salt || password); the metaData
row `password` holds the encrypted string "password-check" that proves the
password, and `sig_*` rows hold PBMAC1 HMACs over the values NSS protects
(key material and certificate trust). Writes are left to NSS's own tools.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from cygnet import paths
from cygnet.pki import der
from cygnet.pki.ckaid import PublicKey, ckaid_of, parse_ckaid
from cygnet.pki.nsspassword import (
    command_line_password_log_line,
    find_password,
    token_name,
)

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

# PKCS#11 object classes, key types and attribute types NSS stores.
CKO_CERTIFICATE = 1
CKO_PUBLIC_KEY = 2
CKO_PRIVATE_KEY = 3
CKO_NSS_TRUST = 0xCE534353
CKK_RSA = 0
CKK_EC = 3
CKA_CLASS = 0x0
CKA_LABEL = 0x3
CKA_VALUE = 0x11
CKA_ISSUER = 0x81
CKA_SERIAL_NUMBER = 0x82
CKA_KEY_TYPE = 0x100
CKA_ID = 0x102
CKA_MODULUS = 0x120
CKA_PUBLIC_EXPONENT = 0x122
CKA_PRIVATE_EXPONENT = 0x123
CKA_PRIME_1 = 0x124
CKA_PRIME_2 = 0x125
CKA_EXPONENT_1 = 0x126
CKA_EXPONENT_2 = 0x127
CKA_COEFFICIENT = 0x128
CKA_EC_PARAMS = 0x180
CKA_EC_POINT = 0x181
CKA_NSS_DB = 0xD5A0DB00
CKA_TRUST_SERVER_AUTH = 0xCE536358
CKA_TRUST_CLIENT_AUTH = 0xCE536359
CKA_CERT_SHA1_HASH = 0xCE5363B4
CKT_NSS_TRUSTED = 0xCE534351
CKT_NSS_TRUSTED_DELEGATOR = 0xCE534352

#: SFTK_KEYDB_TYPE | SFTK_TOKEN_TYPE, bits NSS may add to an id in a MAC's name.
_KEYDB_TOKEN_BITS = 0xC0000000

#: NSS's on-disk stand-in for a zero-length attribute value.
SQL_EMPTY = b"\xa5\x00\x5a"

OID_PBES2 = "1.2.840.113549.1.5.13"
OID_PBKDF2 = "1.2.840.113549.1.5.12"
OID_PBMAC1 = "1.2.840.113549.1.5.14"
OID_AES256_CBC = "2.16.840.1.101.3.4.1.42"
OID_AES128_CBC = "2.16.840.1.101.3.4.1.2"
OID_PKCS12_SHA1_3DES = "1.2.840.113549.1.12.5.1.3"
_PRF_HASH = {
    "1.2.840.113549.2.7": "sha1",
    "1.2.840.113549.2.9": "sha256",
    "1.2.840.113549.2.10": "sha384",
    "1.2.840.113549.2.11": "sha512",
}
_EC_CURVES: dict[str, ec.EllipticCurve] = {
    "1.2.840.10045.3.1.7": ec.SECP256R1(),
    "1.3.132.0.34": ec.SECP384R1(),
    "1.3.132.0.35": ec.SECP521R1(),
}
PASSWORD_CHECK = b"password-check"


class NssError(Exception):
    """Anything that stops us using the database; str() is the message to show."""


class NssDbError(NssError):
    """Missing, unreadable or corrupt database files."""


class NssAuthError(NssError):
    """Wrong or missing password for the token; `token` names it for Libreswan's wording."""

    def __init__(self, message: str, token: str = "NSS Certificate DB") -> None:
        super().__init__(message)
        self.token = token


class NssKeyNotFound(NssError, KeyError):
    """No private key or certificate by that CKAID or nickname."""

    def __str__(self) -> str:  # KeyError would add quotes
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class KeyInfo:
    """A private key in the DB, described by its public half."""

    ckaid: bytes
    key_type: str  # 'RSA' or 'ECDSA'
    public_key: PublicKey
    label: str
    object_id: int

    @property
    def ckaid_hex(self) -> str:
        """Lower-case hex CKAID, as Libreswan prints it."""
        return self.ckaid.hex()


@dataclass(frozen=True)
class CertInfo:
    """A certificate in the DB with its nickname and CKA_ID."""

    nickname: str
    certificate: x509.Certificate
    ckaid: bytes
    object_id: int


@dataclass(frozen=True)
class Trust:
    """The SSL trust bits that matter to IKE, as `certutil -L` shows them."""

    server_auth: int | None
    client_auth: int | None

    @property
    def trusted_ca(self) -> bool:
        """'C' or 'T': a CA we accept peers' certificates from."""
        return CKT_NSS_TRUSTED_DELEGATOR in (self.server_auth, self.client_auth)


def _ulong(value: bytes) -> int:
    return int.from_bytes(value, "big")


def _normalise_dir(nssdir: str) -> str:
    return nssdir[4:] if nssdir.startswith("sql:") else nssdir


# --- PBE --------------------------------------------------------------------


def _pbkdf2_params(alg: der.Tlv) -> tuple[bytes, int, int | None, str]:
    """(salt, iterations, key length, hash) from a PBKDF2 AlgorithmIdentifier."""
    parts = alg.expect(der.SEQUENCE).children()
    if parts[0].as_oid() != OID_PBKDF2:
        raise NssDbError(f"NSS: unsupported key derivation {parts[0].as_oid()}")
    params = parts[1].expect(der.SEQUENCE).children()
    salt = params[0].expect(der.OCTET_STRING).value
    iterations = params[1].as_int()
    keylen: int | None = None
    prf = "sha1"
    for p in params[2:]:
        if p.tag == der.INTEGER:
            keylen = p.as_int()
        elif p.tag == der.SEQUENCE:
            oid = p.children()[0].as_oid()
            if oid not in _PRF_HASH:
                raise NssDbError(f"NSS: unsupported PBKDF2 PRF {oid}")
            prf = _PRF_HASH[oid]
    return salt, iterations, keylen, prf


def pbe_decrypt(blob: bytes, pass_key: bytes) -> bytes:
    """Decrypt one NSS-encrypted attribute; raises NssAuthError on a bad key."""
    return pbe_decrypt_ex(blob, pass_key)[0]


def pbe_decrypt_ex(blob: bytes, pass_key: bytes) -> tuple[bytes, bool]:
    """Decrypt; also say whether NSS MACs this kind of entry (AES-256 ones only)."""
    try:
        top = der.parse(blob).expect(der.SEQUENCE).children()
        alg = top[0].expect(der.SEQUENCE).children()
        oid = alg[0].as_oid()
        ciphertext = top[1].expect(der.OCTET_STRING).value
        if oid == OID_PKCS12_SHA1_3DES:
            params = alg[1].expect(der.SEQUENCE).children()
            salt = params[0].expect(der.OCTET_STRING).value
            return _legacy_3des_decrypt(ciphertext, salt, pass_key), False
        if oid != OID_PBES2:
            raise NssDbError(f"NSS: unsupported encryption algorithm {oid} in key4.db")
        kdf, enc = alg[1].expect(der.SEQUENCE).children()
        salt, iterations, keylen, prf = _pbkdf2_params(kdf)
        enc_parts = enc.expect(der.SEQUENCE).children()
        cipher_oid = enc_parts[0].as_oid()
        iv = enc_parts[1].expect(der.OCTET_STRING).value
    except (der.DerError, IndexError, ValueError) as err:
        raise NssDbError(f"NSS: corrupt encrypted attribute in key4.db: {err}") from err
    if cipher_oid not in (OID_AES256_CBC, OID_AES128_CBC):
        raise NssDbError(f"NSS: unsupported cipher {cipher_oid} in key4.db")
    size = 32 if cipher_oid == OID_AES256_CBC else 16
    key = hashlib.pbkdf2_hmac(prf, pass_key, salt, iterations, keylen or size)
    if len(iv) == 14:
        # NSS stores the AES IV's own DER header (04 0e) as the IV's first
        # two bytes and only the remaining 14 bytes in the parameters.
        iv = b"\x04\x0e" + iv
    if len(iv) != 16 or len(ciphertext) % 16 or not ciphertext:
        raise NssDbError("NSS: corrupt encrypted attribute in key4.db")
    dec = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = dec.update(ciphertext) + dec.finalize()
    return _unpad(padded, 128), cipher_oid == OID_AES256_CBC


def _unpad(padded: bytes, block_bits: int) -> bytes:
    unpadder = padding.PKCS7(block_bits).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError as err:
        raise NssAuthError("bad padding: wrong password") from err


def legacy_3des_key_iv(salt: bytes, pass_key: bytes) -> tuple[bytes, bytes]:
    """NSS's key/IV derivation for its old SHA-1/3DES entries (before NSS 3.49's AES)."""
    padded_salt = salt + b"\x00" * max(0, 20 - len(salt))
    chp = hashlib.sha1(pass_key + salt).digest()
    k1 = hmac.new(chp, padded_salt + salt, hashlib.sha1).digest()
    tk = hmac.new(chp, padded_salt, hashlib.sha1).digest()
    k2 = hmac.new(chp, tk + salt, hashlib.sha1).digest()
    k = k1 + k2
    return k[:24], k[-8:]


def _legacy_3des_decrypt(ciphertext: bytes, salt: bytes, pass_key: bytes) -> bytes:
    if len(ciphertext) % 8 or not ciphertext:
        raise NssDbError("NSS: corrupt encrypted attribute in key4.db")
    key, iv = legacy_3des_key_iv(salt, pass_key)
    dec = Cipher(TripleDES(key), modes.CBC(iv)).decryptor()
    return _unpad(dec.update(ciphertext) + dec.finalize(), 64)


def pbmac_verify(blob: bytes, pass_key: bytes, object_id: int, attr: int, value: bytes) -> bool:
    """Check an NSS PBMAC1 attribute signature (HMAC over id || type || value)."""
    try:
        top = der.parse(blob).expect(der.SEQUENCE).children()
        alg = top[0].expect(der.SEQUENCE).children()
        if alg[0].as_oid() != OID_PBMAC1:
            return False
        kdf, mac_alg = alg[1].expect(der.SEQUENCE).children()
        salt, iterations, keylen, _prf = _pbkdf2_params(kdf)
        mac_oid = mac_alg.expect(der.SEQUENCE).children()[0].as_oid()
        digest = top[1].expect(der.OCTET_STRING).value
    except (der.DerError, IndexError, ValueError, NssDbError):
        return False
    hash_name = _PRF_HASH.get(mac_oid)
    if hash_name is None:
        return False
    key = hashlib.pbkdf2_hmac(
        hash_name, pass_key, salt, iterations, keylen or hashlib.new(hash_name).digest_size
    )
    msg = object_id.to_bytes(4, "big") + attr.to_bytes(4, "big") + value
    return hmac.compare_digest(hmac.new(key, msg, hash_name).digest(), digest)


# --- the database -------------------------------------------------------------


def _connect(path: str) -> sqlite3.Connection:
    if not os.path.isfile(path):
        raise NssDbError(f"missing {path}")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as err:
        raise NssDbError(f"cannot read {path}: {err}") from err
    return conn


def _objects(conn: sqlite3.Connection, table: str) -> list[tuple[int, dict[int, bytes]]]:
    """Every row of an object table as (id, {attribute type: value})."""
    try:
        # `table` is one of our two constants, never user input.
        cur = conn.execute(f"SELECT * FROM {table} ORDER BY rowid")
    except sqlite3.Error as err:
        raise NssDbError(f"cannot read table {table}: {err}") from err
    names = [d[0] for d in cur.description]
    out: list[tuple[int, dict[int, bytes]]] = []
    for row in cur.fetchall():
        attrs: dict[int, bytes] = {}
        object_id = 0
        for name, value in zip(names, row, strict=True):
            if name == "id":
                object_id = int(value)
            elif value is not None and name.startswith("a"):
                raw = bytes(value)
                attrs[int(name[1:], 16)] = b"" if raw == SQL_EMPTY else raw
        out.append((object_id, attrs))
    return out


class NssDb:
    """An opened, authenticated NSS database; all reads, no writes."""

    def __init__(
        self,
        nssdir: str,
        key_conn: sqlite3.Connection,
        cert_conn: sqlite3.Connection,
        pass_key: bytes,
        token: str,
        needs_login: bool,
    ) -> None:
        self.nssdir = nssdir
        self._key = key_conn
        self._cert = cert_conn
        self._pass_key = pass_key
        self.token = token
        self.needs_login = needs_login

    # -- opening ---------------------------------------------------------------

    @classmethod
    def open(
        cls,
        nssdir: str | None = None,
        password_file: str | None = None,
        password: str | None = None,
        *,
        readonly: bool = True,
        fips: bool | None = None,
        log: Callable[[str], None] | None = None,
    ) -> NssDb:
        """Open and log in like pluto: empty password first, then --password or the file."""
        d = _normalise_dir(paths.nss_dir(nssdir))
        mode = "read-only" if readonly else "read-write"
        if log:
            log(f'Initializing NSS using {mode} database "sql:{d}"')
        try:
            key_conn = _connect(os.path.join(d, "key4.db"))
            cert_conn = _connect(os.path.join(d, "cert9.db"))
        except NssDbError as err:
            raise NssDbError(
                f'NSS: initialization using {mode} database "sql:{d}" failed: '
                "SEC_ERROR_BAD_DATABASE: security library: bad database."
            ) from err
        token = token_name(fips)
        salt, check = cls._password_entry(key_conn)
        empty_key = hashlib.sha1(salt + b"").digest()
        if check is None or cls._check(check, empty_key):
            # No password set: NSS logs in by itself (PK11_NeedLogin is false).
            return cls(d, key_conn, cert_conn, empty_key, token, needs_login=False)
        if password is not None:
            if log:
                log(command_line_password_log_line(token, len(password)))
            source = "the password given"
        else:
            password = find_password(token, password_file, log).password
            source = f'"{password_file or paths.NSS_PASSWORD_FILE}"'
        if password is not None:
            pass_key = hashlib.sha1(salt + password.encode("utf-8")).digest()
            if cls._check(check, pass_key):
                return cls(d, key_conn, cert_conn, pass_key, token, needs_login=True)
            why = f"incorrect password (from {source})"
        else:
            why = f'no password for token "{token}" in {source}'
        key_conn.close()
        cert_conn.close()
        msg = f'authentication of "{token}" failed'
        if log:
            log(msg)
        raise NssAuthError(f"NSS: could not authenticate slot: {msg}: {why}", token)

    @staticmethod
    def _password_entry(conn: sqlite3.Connection) -> tuple[bytes, bytes | None]:
        try:
            row = conn.execute(
                "SELECT item1, item2 FROM metaData WHERE id = 'password'"
            ).fetchone()
        except sqlite3.Error as err:
            raise NssDbError(f"NSS: key4.db has no metaData table: {err}") from err
        if row is None:
            return b"", None
        return bytes(row[0]), bytes(row[1])

    @staticmethod
    def _check(check: bytes, pass_key: bytes) -> bool:
        try:
            return pbe_decrypt(check, pass_key) == PASSWORD_CHECK
        except NssAuthError:
            return False

    def close(self) -> None:
        """Release the SQLite handles."""
        self._key.close()
        self._cert.close()

    def __enter__(self) -> NssDb:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- keys --------------------------------------------------------------------

    def _private_rows(self) -> Iterable[tuple[int, dict[int, bytes]]]:
        for oid, attrs in _objects(self._key, "nssPrivate"):
            if _ulong(attrs.get(CKA_CLASS, b"")) == CKO_PRIVATE_KEY:
                yield oid, attrs

    def _public_from_row(self, oid: int, attrs: dict[int, bytes]) -> PublicKey | None:
        kt = _ulong(attrs.get(CKA_KEY_TYPE, b"\xff"))
        if kt == CKK_RSA:
            n = attrs.get(CKA_MODULUS) or attrs.get(CKA_NSS_DB)
            e = attrs.get(CKA_PUBLIC_EXPONENT)
            if not n or not e:
                return None
            return rsa.RSAPublicNumbers(_ulong(e), _ulong(n)).public_key()
        if kt == CKK_EC:
            curve = self._curve(attrs)
            point = attrs.get(CKA_NSS_DB) or self._public_point(attrs.get(CKA_ID, b""))
            if point is None:
                return None
            return ec.EllipticCurvePublicKey.from_encoded_point(curve, point)
        return None

    @staticmethod
    def _curve(attrs: dict[int, bytes]) -> ec.EllipticCurve:
        try:
            oid = der.parse(attrs.get(CKA_EC_PARAMS, b"")).as_oid()
        except der.DerError as err:
            raise NssDbError("NSS: EC key without curve parameters") from err
        if oid not in _EC_CURVES:
            raise NssDbError(f"NSS: unsupported EC curve {oid}")
        return _EC_CURVES[oid]

    def _public_point(self, ckaid: bytes) -> bytes | None:
        for _oid, attrs in _objects(self._cert, "nssPublic"):
            if (
                _ulong(attrs.get(CKA_CLASS, b"")) == CKO_PUBLIC_KEY
                and attrs.get(CKA_ID) == ckaid
                and attrs.get(CKA_EC_POINT)
            ):
                return der.parse(attrs[CKA_EC_POINT]).expect(der.OCTET_STRING).value
        return None

    def private_keys(self) -> list[KeyInfo]:
        """RSA and ECDSA private keys in DB order (what `showhostkey --list` shows)."""
        out: list[KeyInfo] = []
        for oid, attrs in self._private_rows():
            try:
                pub = self._public_from_row(oid, attrs)
            except (ValueError, NssDbError):
                continue
            if pub is None:
                continue
            ckaid = attrs.get(CKA_ID) or ckaid_of(pub)
            label = attrs.get(0x3, b"").decode("utf-8", "replace")
            kind = "RSA" if isinstance(pub, rsa.RSAPublicKey) else "ECDSA"
            out.append(KeyInfo(ckaid, kind, pub, label, oid))
        return out

    def find_key(self, ckaid_prefix: str) -> KeyInfo:
        """The first key whose hex CKAID starts with the prefix (`--ckaid` semantics)."""
        p = ckaid_prefix.strip().lower()
        for info in self.private_keys():
            if info.ckaid_hex.startswith(p):
                return info
        raise NssKeyNotFound(f"no private key with CKAID {ckaid_prefix}")

    def private_key(self, ckaid: bytes | str) -> PrivateKey:
        """Decrypt and return the private key whose CKAID is exactly `ckaid`."""
        want = parse_ckaid(ckaid) if isinstance(ckaid, str) else ckaid
        for oid, attrs in self._private_rows():
            pub = self._public_from_row(oid, attrs)
            have = attrs.get(CKA_ID) or (ckaid_of(pub) if pub else b"")
            if have == want:
                return self._load_private(oid, attrs, pub)
        raise NssKeyNotFound(f"no private key with CKAID {want.hex()}")

    def _secret(self, oid: int, attrs: dict[int, bytes], attr: int) -> int:
        blob = attrs.get(attr)
        if not blob:
            raise NssDbError(f"NSS: private key {oid:#x} lacks attribute {attr:#x}")
        value, macced = pbe_decrypt_ex(blob, self._pass_key)
        if macced:
            # NSS MACs an encrypted value with object id 0 (CK_INVALID_HANDLE) and
            # files the MAC under the object's id, with or without its type bits.
            sigs = [self._signature("key", i, attr) for i in (oid, oid | _KEYDB_TOKEN_BITS)]
            if not any(
                s is not None and pbmac_verify(s, self._pass_key, 0, attr, value) for s in sigs
            ):
                raise NssDbError(f"NSS: integrity check failed on private key {oid:#x}")
        return _ulong(value)

    def _load_private(
        self, oid: int, attrs: dict[int, bytes], pub: PublicKey | None
    ) -> PrivateKey:
        kt = _ulong(attrs.get(CKA_KEY_TYPE, b"\xff"))
        try:
            if kt == CKK_RSA:
                if not isinstance(pub, rsa.RSAPublicKey):
                    raise NssDbError(f"NSS: RSA key {oid:#x} has no public half")
                nums = rsa.RSAPrivateNumbers(
                    p=self._secret(oid, attrs, CKA_PRIME_1),
                    q=self._secret(oid, attrs, CKA_PRIME_2),
                    d=self._secret(oid, attrs, CKA_PRIVATE_EXPONENT),
                    dmp1=self._secret(oid, attrs, CKA_EXPONENT_1),
                    dmq1=self._secret(oid, attrs, CKA_EXPONENT_2),
                    iqmp=self._secret(oid, attrs, CKA_COEFFICIENT),
                    public_numbers=pub.public_numbers(),
                )
                return nums.private_key()
            if kt == CKK_EC:
                key = ec.derive_private_key(self._secret(oid, attrs, CKA_VALUE), self._curve(attrs))
                if pub is not None and key.public_key() != pub:
                    raise NssDbError(f"NSS: EC key {oid:#x} does not match its public value")
                return key
        except NssAuthError as err:
            raise NssDbError(f"NSS: cannot decrypt private key {oid:#x}") from err
        except ValueError as err:
            raise NssDbError(f"NSS: private key {oid:#x} is inconsistent: {err}") from err
        raise NssDbError(f"NSS: private key {oid:#x} has unsupported key type {kt}")

    def _signature(self, kind: str, oid: int, attr: int) -> bytes | None:
        row = self._key.execute(
            "SELECT item1 FROM metaData WHERE id = ?", (f"sig_{kind}_{oid:08x}_{attr:08x}",)
        ).fetchone()
        return bytes(row[0]) if row else None

    # -- certificates ------------------------------------------------------------

    def certificates(self) -> list[CertInfo]:
        """Every certificate with its nickname (CKA_LABEL), in DB order."""
        out: list[CertInfo] = []
        for oid, attrs in _objects(self._cert, "nssPublic"):
            if _ulong(attrs.get(CKA_CLASS, b"")) != CKO_CERTIFICATE:
                continue
            try:
                cert = x509.load_der_x509_certificate(attrs.get(CKA_VALUE, b""))
            except ValueError:
                continue
            nick = attrs.get(CKA_LABEL, b"").decode("utf-8", "replace")
            out.append(CertInfo(nick, cert, attrs.get(CKA_ID, b""), oid))
        return out

    def _cert_info(self, nickname: str) -> CertInfo:
        for info in self.certificates():
            if info.nickname == nickname:
                return info
        raise NssKeyNotFound(f'certificate with nickname "{nickname}" not found in NSS DB')

    def certificate(self, nickname: str) -> x509.Certificate:
        """The certificate `leftcert=nickname` names."""
        return self._cert_info(nickname).certificate

    def private_key_for_cert(self, nickname: str) -> PrivateKey:
        """The private key paired with a certificate (matched by CKA_ID, else by CKAID)."""
        info = self._cert_info(nickname)
        pub = info.certificate.public_key()
        candidates = [c for c in (info.ckaid, ckaid_of(pub)) if c]  # type: ignore[arg-type]
        for ckaid in candidates:
            try:
                return self.private_key(ckaid)
            except NssKeyNotFound:
                continue
        raise NssKeyNotFound(f'no private key for certificate "{nickname}"')

    def trust(self, certificate: x509.Certificate) -> Trust | None:
        """The trust object for a certificate, if any and if its MACs verify."""
        issuer = certificate.issuer.public_bytes()
        serial = der.encode(der.INTEGER, _int_bytes(certificate.serial_number))
        for oid, attrs in _objects(self._cert, "nssPublic"):
            if _ulong(attrs.get(CKA_CLASS, b"")) != CKO_NSS_TRUST:
                continue
            if attrs.get(CKA_ISSUER) != issuer or attrs.get(CKA_SERIAL_NUMBER) != serial:
                continue
            values: list[int | None] = []
            for attr in (CKA_TRUST_SERVER_AUTH, CKA_TRUST_CLIENT_AUTH):
                raw = attrs.get(attr)
                sig = self._signature("cert", oid, attr)
                if raw is None or sig is None or not pbmac_verify(
                    sig, self._pass_key, oid, attr, raw
                ):
                    values.append(None)
                else:
                    values.append(_ulong(raw))
            return Trust(values[0], values[1])
        return None

    def ca_certificates(self) -> list[CertInfo]:
        """Certificates trusted as CAs for peers ('C' or 'T' in the SSL trust)."""
        out = []
        for info in self.certificates():
            t = self.trust(info.certificate)
            if t is not None and t.trusted_ca:
                out.append(info)
        return out


def _int_bytes(n: int) -> bytes:
    """DER INTEGER content octets for a non-negative integer."""
    return n.to_bytes(n.bit_length() // 8 + 1, "big")


def key_ids(nssdir: str) -> list[bytes]:
    """CKA_IDs of all private keys, readable without the password (for diffing)."""
    d = _normalise_dir(nssdir)
    conn = _connect(os.path.join(d, "key4.db"))
    try:
        return [
            attrs.get(CKA_ID, b"")
            for _oid, attrs in _objects(conn, "nssPrivate")
            if _ulong(attrs.get(CKA_CLASS, b"")) == CKO_PRIVATE_KEY
        ]
    finally:
        conn.close()


def db_exists(nssdir: str) -> bool:
    """Libreswan's test for an initialised DB: cert9.db or key4.db present."""
    d = _normalise_dir(nssdir)
    return os.path.exists(os.path.join(d, "cert9.db")) or os.path.exists(
        os.path.join(d, "key4.db")
    )
