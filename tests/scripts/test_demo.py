"""The README's first command, `scripts/demo.sh`, end to end: it must keep working."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cygnet.lab.netns import is_root, netns_available

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(not (is_root() and netns_available()), reason="needs root and netns"),
]


def test_demo_brings_up_the_spec_tunnel_and_only_esp_crosses() -> None:
    p = subprocess.run(["bash", str(ROOT / "scripts" / "demo.sh")], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out[-4000:]
    assert '"mytunnel"' in out and "initiator established Child SA" in out, out[-4000:]
    assert "(only ESP crossed the link)" in out, out[-4000:]
    assert "type=ESP" in out, out[-4000:]  # ipsec trafficstatus printed the SA
    leftovers = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "cyg-west" not in leftovers and "cyg-east" not in leftovers, leftovers
