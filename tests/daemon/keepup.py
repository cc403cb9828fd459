"""Helpers for the daemon's namespace tests (rekeying, liveness, NAT, ...), shared with the
in-VM kernel-ESP tests: hosts with a Cygnet each, conns, traffic, rekeys."""

from __future__ import annotations

import re
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cygnet.lab.netns import Lab, Namespace, wait_for
from cygnet.lab.node import CygnetNode
from cygnet.lab.topology import build_topology

PSK = "a-test-secret-that-is-long-enough-for-fips"
SECRET = f'@west @east : PSK "{PSK}"\n'


@dataclass
class PingResult:
    sent: int
    received: int
    missing: list[int]

    @property
    def lost(self) -> int:
        return len(self.missing)


class Pinger:
    """`ping -i 0.01` in the background; `stop()` returns what got through.

    Requests still unanswered when ping is stopped (the last ~second) are not losses.
    """

    def __init__(self, ns: Namespace, dst: str, src: str | None = None,
                 interval: float = 0.01) -> None:
        cmd = ["ping", "-n", "-i", str(interval), "-W", "2"]
        if src:
            cmd += ["-I", src]
        if ":" in dst:
            cmd.append("-6")
        self.interval = interval
        # a file, not a pipe: nobody reads until stop(), and a full pipe (~1000 lines)
        # would block ping - it would stop sending and its last requests look lost
        self.out = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(ns.argv([*cmd, dst]), stdout=self.out,
                                     stderr=subprocess.STDOUT, text=True)

    def stop(self) -> PingResult:
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=10)
        self.out.seek(0)
        out = self.out.read()
        self.out.close()
        m = re.search(r"(\d+) packets transmitted, (\d+) received", out)
        assert m, out[-2000:]
        sent = int(m.group(1))
        got = {int(x) for x in re.findall(r"icmp_seq=(\d+) ttl", out)}
        tail = int(1.0 / self.interval)
        missing = [s for s in range(1, sent - tail) if s not in got]
        return PingResult(sent, len(got), missing)


class Iperf:
    """An iperf3 TCP stream (rate-limited: two shared cores) through the tunnel."""

    def __init__(self, server_ns: Namespace, client_ns: Namespace, dst: str,
                 seconds: int = 900, rate: str = "5M") -> None:
        self.server = subprocess.Popen(server_ns.argv(["iperf3", "-s", "-1"]),
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)
        self.client = subprocess.Popen(
            client_ns.argv(["iperf3", "-c", dst, "-t", str(seconds), "-b", rate, "-i", "0",
                            "--connect-timeout", "3000"]),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # -i 0: one report

    def stop(self) -> str:
        self.client.send_signal(signal.SIGINT)
        try:
            out, _ = self.client.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.client.kill()
            out, _ = self.client.communicate()
        self.server.kill()
        self.server.wait()
        return out


def child_serials(node: CygnetNode, conn: str | None = None) -> list[int]:
    out = []
    for t in node.status_json("trafficstatus")["trafficstatus"]:
        if conn is None or t["connection"] == conn:
            out.append(int(t["serial"]))
    return sorted(out)


def ike_serials(node: CygnetNode) -> list[int]:
    return sorted(int(s["serial"]) for s in node.status_json("showstates")["states"]
                  if s["kind"] == "IKE" and s["established"])


def whack(node: CygnetNode, *args: str, check: bool = True) -> str:
    return node.ipsec("whack", *args, *node.paths(), check=check)


def wait(pred: Callable[[], object], timeout: float, what: str, interval: float = 0.1):
    return wait_for(pred, timeout=timeout, interval=interval, what=what)


def setup_node(node: CygnetNode, conn_text: str, secrets: str = SECRET,
               setup: str = "config setup\n") -> CygnetNode:
    node.write_config(setup)
    node.write_conn_file("test.conf", conn_text)
    node.write_secrets(secrets)
    node.initnss()
    node.start()
    return node


def psk_conn(name: str = "tun", extra: str = "", left: str = "192.1.2.45",
             right: str = "192.1.2.23") -> str:
    return (f"conn {name}\n    authby=secret\n    left={left}\n    leftid=@west\n"
            f"    right={right}\n    rightid=@east\n" + extra)


def kill_node(node: CygnetNode) -> None:
    """The peer vanishes: SIGKILL its pluto (and its data plane workers), no Delete sent."""
    import contextlib
    import os

    assert node.pluto is not None
    with contextlib.suppress(ProcessLookupError):
        os.killpg(node.pluto.pid, signal.SIGKILL)
    node.pluto.proc.wait(10)
    with contextlib.suppress(FileNotFoundError):
        node.ctl.unlink()


def restart_node(node: CygnetNode, *conns: str) -> None:
    """Start a killed node again (its stale policy rule is the data plane's to replace)."""
    with __import__("contextlib").suppress(FileNotFoundError):
        node.ctl.unlink()
    node.start()
    for c in conns:
        node.add(c)


def log_time(line: str) -> float:
    """Seconds-of-day of a pluto log line (`Nov 27 13:57:51.546884: ...`)."""
    m = re.match(r"\w+ +\d+ (\d+):(\d+):(\d+\.\d+):", line)
    assert m, line
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))


def first_line(log: str, text: str, after: float = 0.0) -> str | None:
    for line in log.splitlines():
        if text in line and log_time(line) >= after:
            return line
    return None


def nft(ns: Namespace, ruleset: str) -> None:
    """Load an nftables ruleset inside a namespace (firewalls in the troubleshooting tests)."""
    p = subprocess.run(ns.argv(["nft", "-f", "-"]), input=ruleset, text=True,
                       capture_output=True)
    assert p.returncode == 0, p.stderr


#: The spec's §4.13 line for a peer whose host answers IKE with ICMP port unreachable.
ICMP_ERROR_LINE = (r'"icmp" #\d+: ERROR: asynchronous network error report on eth1 '
                   r"\(192\.1\.2\.23:500\), complainant 192\.1\.2\.23: Connection refused "
                   r"\[errno 111, origin ICMP type 3 code 3 \(not authenticated\)\]")


def up_against_icmp_reject(node: CygnetNode, peer_ns: Namespace, conn: str = "icmp") -> str:
    """`ipsec auto --up` while the peer's host rejects UDP 500 with ICMP; the console output."""
    nft(peer_ns, "table inet rjtest {\n chain in {\n type filter hook input priority 0;"
                 "\n udp dport 500 reject with icmp type port-unreachable\n }\n}\n")
    try:
        return node.up(conn, check=False)
    finally:
        peer_ns.exec(["nft", "delete", "table", "inet", "rjtest"], check=False)


@contextmanager
def cygnet_hosts(workdir: Path, names: Sequence[str] = ("west", "east"),
                 protostack: str = "userspace") -> Iterator[tuple]:
    """The lab topology's `names` hosts, each with its own Cygnet (not started):
    (node, node, topo). Stops them and prints their logs' tails on the way out."""
    with Lab(workdir / "lab") as lab:
        topo = build_topology(lab, list(names))
        nodes = [CygnetNode(topo[n].ns, workdir / n, protostack=protostack) for n in names]
        try:
            yield (*nodes, topo)
        finally:
            for n in nodes:
                n.stop()
            for n in nodes:
                print(f"===== pluto {n.ns.role} =====\n{n.log()[-6000:]}")


def rekey_alternately(west: CygnetNode, east: CygnetNode, conn: str, n_child: int,
                      n_ike: int) -> None:
    """Alternate sides: `n_child` Child SA rekeys and, spread among them, `n_ike` IKE rekeys."""
    ike_every = max(1, n_child // max(1, n_ike))
    ike_done = 0
    for i in range(n_child):
        side = west if i % 2 == 0 else east
        before = child_serials(west, conn)
        whack(side, "--rekey-child", "--name", conn)
        wait(lambda b=before: (lambda now: len(now) == 1 and now[0] > max(b))(
            child_serials(west, conn)), 15, f"child rekey {i + 1} on west")
        wait(lambda: len(child_serials(east, conn)) == 1, 15, "old child gone on east")
        if ike_done < n_ike and (i + 1) % ike_every == 0:
            side = east if ike_done % 2 == 0 else west
            old = ike_serials(west)
            whack(side, "--rekey-ike", "--name", conn)
            wait(lambda o=old: (lambda now: len(now) == 1 and now[0] > max(o))(ike_serials(west)),
                 15, f"IKE rekey {ike_done + 1}")
            wait(lambda: len(ike_serials(east)) == 1, 15, "old IKE SA gone on east")
            ike_done += 1
    assert ike_done == n_ike


def rekeys_under_traffic(west: CygnetNode, east: CygnetNode, topo, conn: str,
                         n_child: int = 20, n_ike: int = 5) -> tuple[PingResult, str]:
    """`conn` is up west → east (192.1.2.23): a 10 ms ping and an iperf3 stream run through
    it while `rekey_alternately` does its rekeys. (ping result, iperf3's report)"""
    topo.west.ns.wait_ping("192.1.2.23")
    ping = Pinger(topo.west.ns, "192.1.2.23")
    iperf = Iperf(topo.east.ns, topo.west.ns, "192.1.2.23")
    time.sleep(0.5)
    rekey_alternately(west, east, conn, n_child, n_ike)
    report = iperf.stop()
    return ping.stop(), report
