"""Real Libreswan 4.10 (pluto) peers in a lab namespace, from its unpacked .deb.

Libreswan conflicts with strongSwan in apt, so (per `reference/peers-lab.md`)
its .deb is unpacked into a cache folder and each pluto runs in a private
mount namespace that overlays that folder's `usr` on /usr, the node's own
`etc` on /etc, a private NSS folder on /var/lib/ipsec/nss and a private /run.
Its tools then use their compiled-in paths unchanged, and several plutos can
share one machine. `ipsec start` needs systemd, so we run its steps:
`addconn --checkconfig`, `ipsec --checknss`, `pluto --config ... --nofork`.

On kernels without ESP (our build machines) pluto's IKE SA establishes but
its own Child SA install fails (errno 93): test IKE-level interop there.

Typical use::

    pluto = Pluto(topo.west.ns, tmp_path, "west")
    pluto.configure(render_ipsec_conf({"plab": {...}}, pluto.setup()),
                    psk_secret("@west", "@east", "secret"))
    pluto.start()
    pluto.add("plab"); pluto.up("plab")
    pluto.wait_log(r"established IKE SA")
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from cygnet.lab.netns import BackgroundProcess, LabError, Namespace, run, wait_for

# Where setup.sh unpacks the .deb (outside the work tree, so a fresh clone
# on the same machine reuses it); CYGNET_LIBRESWAN_ROOT overrides.
DEFAULT_CACHE = Path("/var/cache/cygnet-lab/libreswan")
IPSEC = "/usr/sbin/ipsec"  # absolute: Cygnet's own `ipsec` may be first on PATH
PLUTO = "/usr/libexec/ipsec/pluto"


class LibreswanUnavailable(LabError):
    """The Libreswan .deb is neither cached nor downloadable here."""


def libreswan_root(cache: Path | None = None) -> Path:
    env = os.environ.get("CYGNET_LIBRESWAN_ROOT")
    if env:
        return Path(env)
    return (cache or DEFAULT_CACHE) / "root"


def libreswan_available(cache: Path | None = None) -> bool:
    return (libreswan_root(cache) / PLUTO.lstrip("/")).exists()


def ensure_libreswan(cache: Path | None = None) -> Path:
    """Return the unpacked Libreswan root, downloading and unpacking it if needed.

    Idempotent; offline-safe once cached. Library dependencies come from
    setup.sh (apt), not from here.
    """
    root = libreswan_root(cache)
    if (root / PLUTO.lstrip("/")).exists():
        return root
    cache_dir = root.parent
    cache_dir.mkdir(parents=True, exist_ok=True)
    debs = sorted(cache_dir.glob("libreswan_*.deb"))
    if not debs:
        cp = subprocess.run(
            ["apt-get", "download", "libreswan"], cwd=cache_dir, capture_output=True, text=True
        )
        debs = sorted(cache_dir.glob("libreswan_*.deb"))
        if cp.returncode != 0 or not debs:
            raise LibreswanUnavailable(f"apt-get download libreswan failed: {cp.stderr.strip()}")
    tmp = cache_dir / "root.tmp"
    run(["rm", "-rf", str(tmp)])
    run(["dpkg-deb", "-x", str(debs[-1]), str(tmp)])
    os.replace(tmp, root)
    return root


def psk_secret(left_id: str, right_id: str, psk: str) -> str:
    """An ipsec.secrets line for a PSK between two ids (or addresses)."""
    return f'{left_id} {right_id} : PSK "{psk}"\n'


def render_ipsec_conf(conns: Mapping[str, Mapping[str, str]], setup: Mapping[str, str]) -> str:
    """ipsec.conf text: `config setup` from `setup`, then one `conn` per entry."""
    lines = ["config setup"]
    lines += [f"\t{k}={v}" for k, v in setup.items()]
    for name, opts in conns.items():
        lines += ["", f"conn {name}"]
        lines += [f"\t{k}={v}" for k, v in opts.items()]
    return "\n".join(lines) + "\n"


class Pluto:
    """One Libreswan pluto in a namespace, with its own /etc, NSS db and /run."""

    def __init__(
        self, ns: Namespace, workdir: Path | str, name: str | None = None, root: Path | None = None
    ):
        self.ns = ns
        self.name = name or ns.role
        self.root = root or libreswan_root()
        self.nodedir = Path(workdir) / f"libreswan-{self.name}"
        self.etc = self.nodedir / "etc"
        self.nss = self.nodedir / "nss"
        self.rundir = self.nodedir / "run"
        self.varlib = self.nodedir / "varlib"  # only holds the ipsec/nss mount point
        self.log_path = self.nodedir / "pluto.log"
        for d in (
            self.etc / "ipsec.d" / "policies",
            self.nss,
            self.rundir / "pluto",
            self.varlib / "ipsec" / "nss",
        ):
            d.mkdir(parents=True, exist_ok=True)
        self.proc: BackgroundProcess | None = None

    def setup(self, **extra: str) -> dict[str, str]:
        """A `config setup` that logs to this node's pluto.log (with time stamps)."""
        base = {
            "logfile": str(self.log_path),
            "logappend": "no",
            "logtime": "yes",
            "plutodebug": "none",
            "dumpdir": "/run/pluto",
            "dnssec-enable": "no",
        }
        base.update(extra)
        return base

    def configure(self, ipsec_conf: str, secrets: str = "") -> None:
        """Write the node's /etc/ipsec.conf and /etc/ipsec.secrets."""
        (self.etc / "ipsec.conf").write_text(ipsec_conf)
        sec = self.etc / "ipsec.secrets"
        sec.write_text(secrets)
        sec.chmod(0o600)

    def _mounts(self) -> str:
        r, n = self.root, self.nodedir
        return " && ".join(
            [
                f"mount -t overlay overlay -o lowerdir={r}/usr:/usr /usr",
                f"mount -t overlay overlay -o lowerdir={self.etc}:{r}/etc:/etc /etc",
                f"mount -t overlay overlay -o lowerdir={self.varlib}:/var/lib /var/lib",
                f"mount --bind {self.nss} /var/lib/ipsec/nss",
                f"mount --bind {n}/run /run",
            ]
        )

    def argv(self, cmd: Sequence[str]) -> list[str]:
        """argv running `cmd` in this node's namespace and private mounts."""
        script = self._mounts() + ' && exec "$@"'
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *cmd]

    def exec(
        self, cmd: Sequence[str], check: bool = True, timeout: float = 30.0
    ) -> subprocess.CompletedProcess[str]:
        return self.ns.exec(self.argv(cmd), check=check, timeout=timeout)

    def ipsec(
        self, *args: str, check: bool = True, timeout: float = 30.0
    ) -> subprocess.CompletedProcess[str]:
        """Libreswan's own `ipsec` command, as on a Libreswan host."""
        return self.exec([IPSEC, *args], check=check, timeout=timeout)

    # lifecycle
    def start(self, timeout: float = 15.0) -> None:
        """`ipsec start` without systemd: check config, init NSS, run pluto in front."""
        if not libreswan_available() and self.root == libreswan_root():
            raise LibreswanUnavailable(f"no Libreswan under {self.root}; run scripts/setup.sh")
        self.ipsec("addconn", "--checkconfig")
        self.ipsec("--checknss")
        self.proc = self.ns.spawn(
            self.argv([PLUTO, "--config", "/etc/ipsec.conf", "--nofork"]), f"pluto-{self.name}.out"
        )
        ctl = self.rundir / "pluto" / "pluto.ctl"

        def ready() -> bool:
            if self.proc and not self.proc.running():
                raise LabError(f"pluto {self.name} exited:\n{self.proc.log()}\n{self.log()}")
            return ctl.exists() and self.ipsec("whack", "--status", check=False).returncode == 0

        wait_for(ready, timeout=timeout, interval=0.1, what=f"pluto {self.name} control socket")

    def stop(self) -> None:
        if self.proc and self.proc.running():
            self.ipsec("whack", "--shutdown", check=False, timeout=10)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.proc.wait(5)
        if self.proc:
            self.proc.stop()

    def running(self) -> bool:
        return bool(self.proc and self.proc.running())

    # the verbs
    def add(self, conn: str) -> str:
        return self.ipsec("auto", "--add", conn).stdout

    def up(
        self, conn: str, wait: bool = False, timeout: float = 20.0
    ) -> subprocess.CompletedProcess[str]:
        """`ipsec auto --up`; asynchronous by default (pluto here never completes a Child SA)."""
        args = ["auto", "--up", conn] if wait else ["auto", "--asynchronous", "--up", conn]
        return self.ipsec(*args, check=False, timeout=timeout)

    def down(self, conn: str) -> subprocess.CompletedProcess[str]:
        return self.ipsec("auto", "--down", conn, check=False)

    def delete(self, conn: str) -> subprocess.CompletedProcess[str]:
        return self.ipsec("auto", "--delete", conn, check=False)

    def status(self) -> str:
        return self.ipsec("whack", "--status").stdout

    def trafficstatus(self) -> str:
        return self.ipsec("whack", "--trafficstatus").stdout

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern: str, timeout: float = 15.0) -> re.Match[str]:
        """Poll pluto's log until `pattern` (a regex) appears; return the match."""
        rx = re.compile(pattern)
        return wait_for(
            lambda: rx.search(self.log()),
            timeout=timeout,
            interval=0.1,
            what=f"pluto {self.name} log: {pattern}",
        )
