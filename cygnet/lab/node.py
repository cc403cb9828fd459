"""A Cygnet host in the lab: its own /etc-like folder, NSS database and pluto.

Each node keeps every path private (`--config`, `--secretsfile`, `--nssdir`,
`--rundir`), so several plutos share one machine, one per namespace, exactly
as an admin would run `ipsec` on separate hosts.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from cygnet.lab.netns import BackgroundProcess, Namespace, wait_for


@dataclass
class CygnetNode:
    """`ipsec` commands and a pluto for one namespace."""

    ns: Namespace
    root: Path
    protostack: str = "userspace"
    pluto: BackgroundProcess | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for d in ("nss", "ipsec.d", "run"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        if not (self.root / "ipsec.conf").exists():
            self.write_config("config setup\n")
        if not (self.root / "ipsec.secrets").exists():
            self.write_secrets("")

    # ------------------------------------------------------------------ files

    @property
    def config(self) -> Path:
        return self.root / "ipsec.conf"

    @property
    def ctl(self) -> Path:
        return self.root / "run" / "pluto.ctl"

    def write_config(self, text: str) -> None:
        """ipsec.conf; `include` of this node's ipsec.d/*.conf is appended, as on RHEL."""
        self.config.write_text(text + f"\ninclude {self.root}/ipsec.d/*.conf\n")

    def write_conn_file(self, name: str, text: str) -> None:
        (self.root / "ipsec.d" / name).write_text(text)

    def write_secrets(self, text: str) -> None:
        path = self.root / "ipsec.secrets"
        path.write_text(text)
        os.chmod(path, 0o600)

    # ------------------------------------------------------------------ commands

    def ipsec(self, *args: str, check: bool = True, timeout: float = 60.0) -> str:
        """Run `ipsec ARGS` inside the namespace with this node's paths; stdout+stderr."""
        argv = [sys.executable, "-m", "cygnet.cli.main", *args]
        p = self.ns.exec(argv, check=False, timeout=timeout)
        out = p.stdout + p.stderr
        if check and p.returncode != 0:
            raise AssertionError(f"ipsec {' '.join(args)} failed ({p.returncode}):\n{out}")
        return out

    def paths(self) -> list[str]:
        return ["--ctlsocket", str(self.ctl)]

    def initnss(self) -> None:
        self.ipsec("initnss", "--nssdir", str(self.root / "nss"))

    def newhostkey(self, *extra: str) -> str:
        """`ipsec newhostkey`; returns the CKAID it printed."""
        out = self.ipsec("newhostkey", "--nssdir", str(self.root / "nss"), *extra)
        m = re.search(r"with CKAID ([0-9a-f]+) was stored", out)
        assert m, out
        return m.group(1)

    def showhostkey(self, side: str, ckaid: str) -> str:
        """The `leftrsasigkey=...` line (value only) from `ipsec showhostkey --left/--right`."""
        out = self.ipsec(
            "showhostkey", "--nssdir", str(self.root / "nss"), f"--{side}", "--ckaid", ckaid
        )
        m = re.search(rf"{side}(?:rsasig|ecdsa)key=(\S+)", out)
        assert m, out
        return m.group(1)

    def start(self, timeout: float = 90.0) -> None:
        """`ipsec pluto --nofork` in the background; waits for the control socket."""
        argv = [
            sys.executable,
            "-m",
            "cygnet.cli.main",
            "pluto",
            "--nofork",
            "--stderrlog",
            "--config",
            str(self.config),
            "--secretsfile",
            str(self.root / "ipsec.secrets"),
            "--nssdir",
            str(self.root / "nss"),
            "--rundir",
            str(self.root / "run"),
            "--protostack",
            self.protostack,
        ]
        self.pluto = self.ns.spawn(argv, f"pluto-{self.ns.role}.log")
        wait_for(
            lambda: self.ctl.exists() or not self.pluto.running(),
            timeout=timeout,
            interval=0.1,
            what=f"pluto on {self.ns.name}",
        )
        if not self.ctl.exists():
            raise AssertionError(f"pluto did not start:\n{self.pluto.log()}")

    def stop(self) -> None:
        if self.pluto is not None and self.pluto.running():
            self.ipsec("whack", "--shutdown", *self.paths(), check=False, timeout=20)
            self.pluto.stop()

    def log(self) -> str:
        return self.pluto.log() if self.pluto else ""

    def add(self, conn: str) -> str:
        return self.ipsec("auto", "--add", conn, "--config", str(self.config), *self.paths())

    def up(self, conn: str, check: bool = True) -> str:
        return self.ipsec(
            "auto",
            "--up",
            conn,
            "--config",
            str(self.config),
            *self.paths(),
            check=check,
            timeout=150,
        )

    def down(self, conn: str) -> str:
        return self.ipsec("auto", "--down", conn, *self.paths())

    def trafficstatus(self) -> str:
        return self.ipsec("trafficstatus", *self.paths())

    def status_json(self, verb: str = "status") -> dict:
        import json

        return json.loads(self.ipsec(verb, "--json", *self.paths()))
