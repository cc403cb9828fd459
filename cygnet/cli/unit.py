"""`cygnet install-unit`: put the systemd unit in place so `systemctl enable ipsec --now` works.

The unit is shipped in the package with the `ipsec` path left open; this
fills in the path of the `ipsec` command that is actually installed (a venv
or /usr/local), which a static unit file cannot know.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from importlib import resources


def unit_text(ipsec: str) -> str:
    return resources.files("cygnet").joinpath("data/ipsec.service").read_text().replace(
        "@IPSEC@", ipsec)


def install_unit(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="cygnet install-unit")
    p.add_argument("--dest", default="/etc/systemd/system/ipsec.service")
    p.add_argument("--ipsec", default=shutil.which("ipsec") or "/usr/sbin/ipsec")
    p.add_argument("--print", action="store_true", help="print the unit instead of writing it")
    ns = p.parse_args(argv)
    text = unit_text(ns.ipsec)
    if ns.print:
        sys.stdout.write(text)
        return 0
    with open(ns.dest, "w") as f:
        f.write(text)
    print(f"wrote {ns.dest}; now: systemctl daemon-reload && systemctl enable ipsec --now")
    return 0
