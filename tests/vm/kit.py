"""Shared helpers for the in-VM kernel-ESP tests."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cygnet.lab.netns import Namespace, wait_for
from cygnet.lab.node import CygnetNode
from tests.daemon.keepup import SECRET, cygnet_hosts, setup_node

TRAFFIC_RE = re.compile(
    r'#(\d+): "([^"]+)"(?:\[\d+\])?(?: [^,]*)?, type=ESP, add_time=\d+, inBytes=(\d+), '
    r"outBytes=(\d+)"
)


def conn(name: str, extra: str = "", auth: str = "authby=secret") -> str:
    return (
        f"conn {name}\n"
        f"    {auth}\n"
        "    left=192.1.2.45\n    leftid=@west\n"
        "    right=192.1.2.23\n    rightid=@east\n" + extra
    )


def start_pair(west: CygnetNode, east: CygnetNode, conn_text: str, secrets: str = SECRET) -> None:
    for n in (west, east):
        setup_node(n, conn_text, secrets)


def traffic(node: CygnetNode) -> dict[str, tuple[int, int]]:
    """`ipsec trafficstatus` as {conn: (inBytes, outBytes)} (newest Child SA per conn)."""
    out = node.trafficstatus()
    return {m.group(2): (int(m.group(3)), int(m.group(4))) for m in TRAFFIC_RE.finditer(out)}


def xfrm(ns: Namespace, what: str) -> str:
    """`ip -s xfrm state` / `ip xfrm policy` inside a namespace."""
    args = ["ip", "-s", "xfrm", "state"] if what == "state-stats" else ["ip", "xfrm", what]
    return ns.exec(args).stdout


def kernel_sa_bytes(ns: Namespace) -> list[int]:
    """Byte counters of each kernel SA (`ip -s xfrm state`: "lifetime current: N(bytes)")."""
    return [int(x) for x in re.findall(r"(\d+)\(bytes\)", xfrm(ns, "state-stats"))]


@contextmanager
def capture(ns: Namespace, iface: str, filt: str = "not arp and not icmp6") -> Iterator[list[str]]:
    """tcpdump on `iface` in `ns` while the body runs; the list fills with the packet lines."""
    lines: list[str] = []
    p = subprocess.Popen(
        ["ip", "netns", "exec", ns.name, "tcpdump", "-n", "-l", "-i", iface, "-c", "500",
         "-U", filt],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert p.stderr is not None
    # tcpdump says "listening on ..." once the capture is open
    wait_for(lambda: "listening" in (p.stderr.readline() or "listening"), timeout=30,
             what="tcpdump start")
    try:
        yield lines
    finally:
        time.sleep(0.5)
        p.terminate()
        out, _ = p.communicate(timeout=30)
        lines.extend(x for x in out.splitlines() if x.strip())


def only_esp(lines: list[str]) -> list[str]:
    """The captured lines that are neither ESP nor IKE (should be none through a tunnel)."""
    return [x for x in lines if not ("ESP" in x or "isakmp" in x.lower() or ".500:" in x
                                     or ".4500:" in x or "UDP-encap" in x)]


def iperf(client_ns: Namespace, server_ns: Namespace, server_addr: str, seconds: int = 2,
          reverse: bool = False, bind: str | None = None) -> str:
    """A short iperf3 TCP run from client to server (or back with -R); returns the client's text."""
    srv = subprocess.Popen(
        ["ip", "netns", "exec", server_ns.name, "iperf3", "-s", "-1", "-B", server_addr],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        def connect() -> subprocess.CompletedProcess[str] | None:
            cmd = ["iperf3", "-c", server_addr, "-t", str(seconds), "-f", "m"]
            if reverse:
                cmd.append("-R")
            if bind:
                cmd += ["-B", bind]
            cp = client_ns.exec(cmd, check=False, timeout=seconds + 60)
            return cp if cp.returncode == 0 else None

        cp = wait_for(connect, timeout=60, interval=0.5, what="iperf3")
        return cp.stdout
    finally:
        srv.kill()
        srv.wait()


def node_pair(topo, tmp: Path, protostack: str = "xfrm") -> tuple[CygnetNode, CygnetNode]:
    return (CygnetNode(topo.west.ns, tmp / "west", protostack=protostack),
            CygnetNode(topo.east.ns, tmp / "east", protostack=protostack))


@contextmanager
def kernel_pair(tmp: Path, conn_text: str) -> Iterator[tuple]:
    """A west/east lab with a pluto each (XFRM), `conn_text` loaded: (west, east, topo)."""
    with cygnet_hosts(tmp, protostack="xfrm") as (west, east, topo):
        add_subnet_routes(topo)
        start_pair(west, east, conn_text)
        yield west, east, topo


def add_subnet_routes(topo) -> None:
    """Routes for the inside subnets, as Libreswan's test hosts have them: a default
    route via the (absent) nic, 192.1.2.254 / 2001:db8:1:2::254. Tunnel-mode XFRM only
    needs *a* route for the inner destination; the SA decides where the packet goes.
    (Libreswan's _updown.xfrm adds a route only for conns with mtu= or leftsourceip=;
    Cygnet's XFRM back end, likewise, only for mtu=.)"""
    for name in ("west", "east"):
        if name in topo.hosts:
            ns = topo[name].ns
            ns.ip("route", "replace", "default", "via", "192.1.2.254", check=False)
            ns.ip("-6", "route", "replace", "default", "via", "2001:db8:1:2::254", check=False)


def normalise_xfrm(text: str, swap: tuple[str, str] | None = None) -> list[str]:
    """`ip xfrm state`/`policy` output with SPIs, keys, reqids, marks, counters and
    timestamps masked, blocks sorted: equal for equal installs. `swap` exchanges two
    addresses (compare a mirror-image peer's view)."""
    if swap:
        a, b = swap
        text = text.replace(a, "\0A").replace(b, a).replace("\0A", b)
    text = re.sub(r"spi 0x[0-9a-f]+", "spi SPI", text)
    text = re.sub(r"reqid \d+", "reqid REQID", text)
    text = re.sub(r"0x[0-9a-f]{16,}", "KEY", text)
    text = re.sub(r"(seq|oseq|iseq|replay|bitmap) 0x[0-9a-f]+", r"\1 N", text)
    text = re.sub(r"index \d+", "index N", text)
    text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "TIME", text)
    blocks: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if re.fullmatch(r"\s*([0-9a-f]{8} ?)+\s*", line):
            line = "\tBITMAP"  # the replay bitmap's words
        if line and not line[0].isspace():
            blocks.append(line.strip())
        elif blocks:
            blocks[-1] += " | " + line.strip()
    return sorted(blocks)
