"""Writing the NSS database through NSS's own tools.

Creating a DB, generating a key pair and importing a PKCS#12 are rare,
administrator-driven events; doing them with `certutil`/`pk12util` (as
Libreswan's own `ipsec initnss`/`import` scripts do) keeps every byte NSS
writes — integrity MACs, trust objects, the public-key twin in cert9.db —
exactly as NSS expects, so the reader in `nssdb` only has to follow NSS.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from cryptography import x509

from cygnet.pki.nssdb import CKT_NSS_TRUSTED_DELEGATOR, NssDb, NssError, key_ids

#: Curve names `ipsec newhostkey --curve` accepts -> certutil's names.
CURVES = {"secp256r1": "nistp256", "secp384r1": "nistp384", "secp521r1": "nistp521"}


class NssToolError(NssError):
    """certutil/pk12util missing or failing; str() carries their complaint."""


@dataclass
class ToolResult:
    """A finished tool run."""

    returncode: int
    stdout: str
    stderr: str


def tool(name: str) -> str:
    """Path of an NSS tool, or a clear error naming the package that has it."""
    path = shutil.which(name)
    if path is None:
        raise NssToolError(f"{name} not found: install nss-tools (RHEL) or libnss3-tools (Debian)")
    return path


def have_nss_tools() -> bool:
    """True when certutil and pk12util are both installed."""
    return shutil.which("certutil") is not None and shutil.which("pk12util") is not None


def run(argv: Sequence[str], *, capture: bool = True) -> ToolResult:
    """Run an NSS tool; with capture=False it talks to the terminal (prompts)."""
    cmd = [tool(argv[0]), *argv[1:]]
    if capture:
        p = subprocess.run(cmd, capture_output=True, text=True, check=False)
        return ToolResult(p.returncode, p.stdout, p.stderr)
    p = subprocess.run(cmd, check=False)
    return ToolResult(p.returncode, "", "")


@contextmanager
def secret_file(content: str) -> Iterator[str]:
    """A 0600 temporary file holding `content` (a `-f`/`-k`/`-w` password file)."""
    fd, path = tempfile.mkstemp(prefix="cygnet-nss-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(content + "\n")
        yield path
    finally:
        os.unlink(path)


def create_db(nssdir: str, password: str | None = None) -> ToolResult:
    """`certutil -N`: an empty-password DB unless a password is given."""
    os.makedirs(nssdir, exist_ok=True)
    if password is None:
        return run(["certutil", "-N", "-d", f"sql:{nssdir}", "--empty-password"])
    with secret_file(password) as pw:
        return run(["certutil", "-N", "-d", f"sql:{nssdir}", "-f", pw])


def change_password(nssdir: str, old: str, new: str) -> ToolResult:
    """`certutil -W` without prompts (tests use it to protect a DB)."""
    with secret_file(old) as oldf, secret_file(new) as newf:
        return run(["certutil", "-W", "-d", f"sql:{nssdir}", "-f", oldf, "-@", newf])


def generate_key(
    nssdir: str,
    keytype: str = "rsa",
    bits: int | None = None,
    curve: str = "secp256r1",
    password: str = "",
) -> bytes:
    """Generate a key pair inside the DB; return its CKAID (found by diffing the DB)."""
    before = set(key_ids(nssdir))
    argv = ["certutil", "-G", "-d", f"sql:{nssdir}"]
    if keytype == "rsa":
        argv += ["-k", "rsa", "-g", str(bits or 3072)]
    elif keytype == "ecdsa":
        if curve not in CURVES:
            raise NssToolError(f"unknown curve {curve}")
        argv += ["-k", "ec", "-q", CURVES[curve]]
    else:
        raise NssToolError(f"unknown key type {keytype}")
    with secret_file(password) as pw, tempfile.NamedTemporaryFile(prefix="cygnet-noise-") as nz:
        nz.write(os.urandom(2048))
        nz.flush()
        r = run([*argv, "-z", nz.name, "-f", pw])
    if r.returncode != 0:
        raise NssToolError(f"key pair generation failed: {(r.stderr or r.stdout).strip()}")
    new = [k for k in key_ids(nssdir) if k not in before]
    if len(new) != 1:
        raise NssToolError("key pair generation left no new key in the NSS database")
    return new[0]


def pk12_import(
    nssdir: str,
    p12_file: str,
    *,
    p12_password: str | None = None,
    p12_password_file: str | None = None,
    db_password: str | None = None,
    interactive: bool = False,
) -> ToolResult:
    """`pk12util -i`; without a .p12 password it lets pk12util prompt for one."""
    argv = ["pk12util", "-i", p12_file, "-d", f"sql:{nssdir}"]
    if p12_password is not None:
        argv += ["-W", p12_password]
    elif p12_password_file is not None:
        argv += ["-w", p12_password_file]
    if db_password is not None:
        argv += ["-K", db_password]
    return run(argv, capture=not interactive)


def fix_ca_trust(nssdir: str, db: NssDb, db_password: str | None = None) -> list[str]:
    """Give every CA certificate lacking it 'CT,,' trust, as `ipsec import` does.

    Returns the nicknames corrected; raises if certutil refuses.
    """
    fixed: list[str] = []
    for info in db.certificates():
        try:
            ext = info.certificate.extensions.get_extension_for_class(x509.BasicConstraints)
        except (x509.ExtensionNotFound, ValueError):
            continue
        if not ext.value.ca:
            continue
        t = db.trust(info.certificate)
        if t is not None and t.server_auth == t.client_auth == CKT_NSS_TRUSTED_DELEGATOR:
            continue
        argv = ["certutil", "-M", "-d", f"sql:{nssdir}", "-n", info.nickname, "-t", "CT,,"]
        with secret_file(db_password or "") as pw:
            r = run([*argv, "-f", pw])
        if r.returncode != 0:
            raise NssToolError(f"setting trust on {info.nickname}: {r.stderr.strip()}")
        fixed.append(info.nickname)
    return fixed
