"""The shipped systemd unit names the installed ipsec and runs pluto in the foreground."""

from __future__ import annotations

from pathlib import Path

from cygnet.cli import main


def test_unit_is_filled_in(tmp_path: Path) -> None:
    dest = tmp_path / "ipsec.service"
    assert main.cygnet_main(["install-unit", "--dest", str(dest), "--ipsec", "/opt/x/ipsec"]) == 0
    text = dest.read_text()
    assert "Description=Internet Key Exchange (IKE) Protocol Daemon for IPsec" in text
    assert "ExecStart=/opt/x/ipsec pluto --config /etc/ipsec.conf --nofork" in text
    assert "@IPSEC@" not in text
