"""Network namespaces, veths and background processes with guaranteed cleanup.

Everything a lab creates carries one name prefix (``cyg<pid>n<seq>-``), so a
leftover of a crashed run is recognisable and parallel runs never collide.
Links are always created *inside* a namespace (``ip -n NS link add ... peer
... netns OTHER``): nothing is ever attached to the host's own network.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

PREFIX_RE = re.compile(r"^cyg(\d+)n\d+-")
_SEQ = itertools.count(1)


class LabError(RuntimeError):
    """A lab command failed; the message carries the command and its output."""


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    input: str | None = None,
    timeout: float = 30.0,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion, text in/out; raise LabError on failure if asked."""
    try:
        cp = subprocess.run(
            list(argv),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"timed out after {timeout}s: {shlex.join(argv)}") from exc
    if check and cp.returncode != 0:
        raise LabError(
            f"exit {cp.returncode}: {shlex.join(argv)}\nstdout: {cp.stdout}\nstderr: {cp.stderr}"
        )
    return cp


def wait_for(
    predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.1, what: str = ""
) -> Any:
    """Poll until predicate() is truthy and return its value; LabError after timeout.

    Bounded polling instead of sleeps keeps tests fast on an idle machine and
    still patient on a busy shared one.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise LabError(f"timed out after {timeout}s waiting for {what or predicate!r}")
        time.sleep(interval)


def is_root() -> bool:
    return os.geteuid() == 0


def netns_available() -> bool:
    """True when we may create namespaces (root and the `ip` tool present)."""
    return is_root() and subprocess.run(["ip", "-V"], capture_output=True).returncode == 0


def list_netns() -> list[str]:
    cp = run(["ip", "-j", "netns", "list"], check=False)
    if cp.returncode != 0 or not cp.stdout.strip():
        return []
    return [entry["name"] for entry in json.loads(cp.stdout)]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_netns_pids(name: str) -> None:
    """Kill every process still inside namespace `name`, by pid."""
    cp = run(["ip", "netns", "pids", name], check=False)
    pids = [int(p) for p in cp.stdout.split() if p.isdigit()]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + 2.0
        while pids and time.monotonic() < deadline:
            pids = [p for p in pids if _pid_alive(p) and not _is_zombie(p)]
            if pids:
                time.sleep(0.05)
        if not pids:
            return


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return True


def delete_netns(name: str) -> None:
    """Kill what runs inside, then delete; veths inside vanish with the namespace."""
    _kill_netns_pids(name)
    run(["ip", "netns", "del", name], check=False)


def cleanup_stale() -> list[str]:
    """Delete lab namespaces left by runs whose process is gone; return their names."""
    removed = []
    for name in list_netns():
        m = PREFIX_RE.match(name)
        if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
            delete_netns(name)
            removed.append(name)
    return removed


class BackgroundProcess:
    """A daemon started inside a namespace, with stdout+stderr in a log file."""

    def __init__(self, argv: Sequence[str], log_path: Path, env: dict[str, str] | None = None):
        self.argv = list(argv)
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log: IO[bytes] = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its own process group: stop() reaches children
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def running(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM the process group, SIGKILL after `timeout`; return the exit code."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout)
        if not self._log.closed:
            self._log.close()
        return self.proc.returncode


class Namespace:
    """One named network namespace owned by a Lab."""

    def __init__(self, lab: Lab, name: str, role: str):
        self.lab = lab
        self.name = name
        self.role = role

    def __repr__(self) -> str:
        return f"Namespace({self.name!r})"

    def argv(self, cmd: Sequence[str]) -> list[str]:
        """The argv that runs `cmd` inside this namespace."""
        return ["ip", "netns", "exec", self.name, *cmd]

    def exec(
        self,
        cmd: Sequence[str] | str,
        *,
        check: bool = True,
        input: str | None = None,
        timeout: float = 30.0,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside; a str is split with shlex."""
        argv = shlex.split(cmd) if isinstance(cmd, str) else list(cmd)
        return run(self.argv(argv), check=check, input=input, timeout=timeout, env=env)

    def ip(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run(["ip", "-n", self.name, *args], check=check)

    def ip_json(self, *args: str) -> list[dict[str, Any]]:
        out = run(["ip", "-n", self.name, "-j", *args]).stdout.strip()
        return json.loads(out) if out else []

    def sysctl(self, key: str, value: str) -> None:
        self.exec(["sysctl", "-q", "-w", f"{key}={value}"])

    def spawn(
        self, cmd: Sequence[str], log_name: str, env: dict[str, str] | None = None
    ) -> BackgroundProcess:
        """Start a background process inside; the Lab stops it on close."""
        proc = BackgroundProcess(self.argv(cmd), self.lab.workdir / "logs" / log_name, env=env)
        self.lab._processes.append(proc)
        return proc

    def ping(self, dst: str, count: int = 1, timeout: int = 2, src: str | None = None) -> bool:
        """One bounded ping; True if answered."""
        cmd = ["ping", "-n", "-q", "-c", str(count), "-W", str(timeout)]
        if src:
            cmd += ["-I", src]
        if ":" in dst:
            cmd.append("-6")
        return self.exec([*cmd, dst], check=False, timeout=count * timeout + 5).returncode == 0

    def wait_ping(self, dst: str, timeout: float = 10.0, src: str | None = None) -> None:
        """Ping until answered (ARP/ND and tunnels take a moment to come up)."""
        wait_for(
            lambda: self.ping(dst, src=src),
            timeout=timeout,
            interval=0.2,
            what=f"{self.name} ping {dst}",
        )

    def links(self) -> list[dict[str, Any]]:
        return self.ip_json("-d", "link", "show")

    def peer_namespaces(self) -> dict[int, str | None]:
        """nsid -> iproute2 name of the namespaces this one has ids for (None: unnamed)."""
        out = self.ip("netns", "list-id").stdout
        ids: dict[int, str | None] = {}
        for line in out.splitlines():
            m = re.match(r"nsid (\d+)(?: \(iproute2 netns name: (\S+)\))?", line)
            if m:
                ids[int(m.group(1))] = m.group(2)
        return ids


class Lab:
    """A set of namespaces under one unique prefix; `close()` removes them all.

    Use as a context manager (or the pytest fixture) so a failing test still
    tears everything down.
    """

    def __init__(self, workdir: Path | str, prefix: str | None = None):
        self.prefix = prefix or f"cyg{os.getpid()}n{next(_SEQ)}-"
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.namespaces: dict[str, Namespace] = {}
        self._processes: list[BackgroundProcess] = []
        self._closers: list[Callable[[], None]] = []
        self.closed = False

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getitem__(self, role: str) -> Namespace:
        return self.namespaces[role]

    def add_namespace(self, role: str) -> Namespace:
        """Create namespace `<prefix><role>` with loopback up and IPv6 DAD off."""
        if role in self.namespaces:
            return self.namespaces[role]
        name = self.prefix + role
        run(["ip", "netns", "add", name])
        ns = Namespace(self, name, role)
        self.namespaces[role] = ns
        ns.ip("link", "set", "lo", "up")
        # Instant IPv6 addresses: no duplicate-address detection wait.
        for key in ("net.ipv6.conf.all.accept_dad", "net.ipv6.conf.default.accept_dad"):
            ns.sysctl(key, "0")
        return ns

    def add_veth(self, a: Namespace, a_if: str, b: Namespace, b_if: str) -> None:
        """A veth pair created directly between two lab namespaces."""
        a.ip("link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", b.name)
        a.ip("link", "set", a_if, "up")
        b.ip("link", "set", b_if, "up")

    def on_close(self, fn: Callable[[], None]) -> None:
        """Register a teardown step (run in reverse order before namespaces go)."""
        self._closers.append(fn)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for fn in reversed(self._closers):
            with contextlib.suppress(Exception):
                fn()
        for proc in reversed(self._processes):
            with contextlib.suppress(Exception):
                proc.stop()
        for ns in reversed(list(self.namespaces.values())):
            delete_netns(ns.name)
        self.namespaces.clear()

    def leftovers(self) -> list[str]:
        """Namespaces with this lab's prefix that still exist (should be none after close)."""
        return [n for n in list_netns() if n.startswith(self.prefix)]

    def host_links_to_lab(self) -> list[str]:
        """Interfaces of any lab namespace whose peer is *not* a lab namespace.

        An empty list proves nothing is linked to the host (or anywhere else).
        """
        ours = {ns.name for ns in self.namespaces.values()}
        bad = []
        for ns in self.namespaces.values():
            ids = ns.peer_namespaces()
            for link in ns.links():
                kind = link.get("linkinfo", {}).get("info_kind")
                if kind in ("veth", "vxlan", "macvlan", "ipvlan", "vlan") or "link_netnsid" in link:
                    nsid = link.get("link_netnsid")
                    if kind == "veth" and nsid is None:
                        continue  # both ends inside this namespace
                    if ids.get(nsid) not in ours:
                        bad.append(f"{ns.name}:{link['ifname']}")
        return bad


def host_link_names() -> set[str]:
    """Interface names in the host's (our own) namespace, for before/after checks."""
    out = run(["ip", "-j", "link", "show"]).stdout
    return {link["ifname"] for link in json.loads(out)}
