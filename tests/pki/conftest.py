"""Shared fixtures for the key-store tests: Libreswan's reference outputs and NSS DBs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REFERENCE = Path(__file__).resolve().parents[3] / "shared/reference/libreswan-4.10-outputs"


def reference(name: str) -> str:
    """A reference output without the harness's trailing `# plab: rc=N` line."""
    path = REFERENCE / name
    if not path.exists():
        pytest.skip(f"reference output {name} not available")
    lines = path.read_text().splitlines(keepends=True)
    return "".join(line for line in lines if not line.startswith("# plab:"))


needs_nss = pytest.mark.skipif(
    shutil.which("certutil") is None or shutil.which("pk12util") is None,
    reason="NSS tools (certutil, pk12util) not installed",
)


def certutil(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run certutil for a test, failing loudly."""
    return subprocess.run(["certutil", *args], capture_output=True, text=True, check=check)


def make_p12(folder: Path, password: str = "p12secret", key: str = "ec") -> Path:
    """openssl: a self-signed CA, a node cert it signs, and node.p12 (friendly name node)."""
    def ossl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
         "-subj", "/CN=Cygnet Test CA", "-days", "30",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    newkey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] if key == "ec" else [
        "-newkey", "rsa:2048"]
    ossl("req", *newkey, "-nodes", "-keyout", "node.key", "-out", "node.csr",
         "-subj", "/CN=node.example.org")
    ossl("x509", "-req", "-in", "node.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
         "-CAcreateserial", "-out", "node.crt", "-days", "30")
    ossl("pkcs12", "-export", "-in", "node.crt", "-inkey", "node.key", "-certfile", "ca.crt",
         "-name", "node", "-out", "node.p12", "-passout", f"pass:{password}")
    return folder / "node.p12"
