"""Shared builders for the XFRM tests, and a way to run code in a throw-away netns."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from ipaddress import ip_address

import pytest

from cygnet.dataplane.base import ChildSaPlacement
from cygnet.ike.events import ChildSaKeys
from cygnet.ike.iana import EncrId, IntegId
from cygnet.ike.natd import Endpoint
from cygnet.ike.payloads import TrafficSelector

WEST = ip_address("192.1.2.45")
EAST = ip_address("192.1.2.23")
WESTNET = (ip_address("192.0.1.0"), ip_address("192.0.1.255"))
EASTNET = (ip_address("192.0.2.0"), ip_address("192.0.2.255"))


def host_ts(a, proto: int = 0, port: int | None = None) -> TrafficSelector:
    lo, hi = (0, 65535) if port is None else (port, port)
    return TrafficSelector(a, a, proto, lo, hi)


def child_sa(
    serial: int = 2,
    *,
    mode: str = "tunnel",
    spi_in: int = 0xC0FFEE01,
    spi_out: int = 0xB38F20AF,
    encr: int = EncrId.AES_CBC,
    integ: int = IntegId.HMAC_SHA2_256_128,
    esn: bool = False,
    ts_local: tuple[TrafficSelector, ...] | None = None,
    ts_remote: tuple[TrafficSelector, ...] | None = None,
    udp_encap: bool = False,
    key_out_encr: bytes = bytes(range(16)),
    key_out_integ: bytes = bytes(range(16, 48)),
) -> ChildSaKeys:
    return ChildSaKeys(
        serial=serial,
        protocol=3,
        mode=mode,
        spi_in=spi_in.to_bytes(4, "big"),
        spi_out=spi_out.to_bytes(4, "big"),
        encr_id=encr,
        encr_key_bits=len(key_out_encr) * 8,
        integ_id=integ,
        esn=esn,
        key_in_encr=bytes(len(key_out_encr)),
        key_in_integ=bytes(len(key_out_integ)),
        key_out_encr=key_out_encr,
        key_out_integ=key_out_integ,
        ts_local=ts_local or (host_ts(WEST),),
        ts_remote=ts_remote or (host_ts(EAST),),
        udp_encap=udp_encap,
    )


def placement(
    local=WEST, remote=EAST, lport: int = 500, rport: int = 500, **kw
) -> ChildSaPlacement:
    return ChildSaPlacement(Endpoint(local, lport), Endpoint(remote, rport), **kw)


def need_root_netns() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("needs unshare(1) and ip(8)")


PRELUDE = """
import json, subprocess, sys
def sh(*a):
    return subprocess.run(list(a), capture_output=True, text=True).stdout
sh("ip", "link", "set", "lo", "up")
OUT = {}
"""


def run_in_netns(code: str, timeout: float = 60) -> dict:
    """Run `code` in a fresh network namespace (gone when the process exits).

    The code fills the dict OUT, which comes back as JSON; the host's XFRM
    tables are never touched.
    """
    need_root_netns()
    script = PRELUDE + code + "\nprint('@@' + json.dumps(OUT))\n"
    p = subprocess.run(
        ["unshare", "--net", "--", sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    if p.returncode != 0:
        raise AssertionError(f"netns script failed ({p.returncode}):\n{p.stderr}")
    line = next(x for x in p.stdout.splitlines() if x.startswith("@@"))
    return json.loads(line[2:])


def policy_blocks(text: str) -> list[str]:
    """`ip xfrm policy` output as normalised blocks (one per policy, whitespace folded)."""
    blocks: list[list[str]] = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if not line[0].isspace():
            blocks.append([])
        blocks[-1].append(" ".join(line.split()))
    return sorted(" | ".join(b) for b in blocks)
