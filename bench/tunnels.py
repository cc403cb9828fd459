"""iperf3 TCP through real tunnels in namespaces, Cygnet against strongSwan, in one run.

    python -m bench.tunnels [--seconds 10] [--rounds 2] [--json out.json]

Pairs (west → east, host-to-host, ESP AES-GCM-128, IKE aes_gcm128/sha2_256/dh19):
  cygnet-cygnet      Cygnet ↔ Cygnet, userspace ESP over TUN, encapsulation=yes
                     (ESP-in-UDP 4500: the wire format libipsec always uses)
  cygnet-cygnet-raw  the same with encapsulation=auto: raw ESP (IP protocol 50)
  swan-swan          strongSwan ↔ strongSwan, kernel-libipsec (the reference)
  cygnet-swan        Cygnet initiating to strongSwan
Reports Gbit/s (median of rounds), the ratio to swan-swan, and CPU: the
CPU-seconds all tunnel processes in both namespaces used per GB carried
(iperf3 itself excluded), i.e. the cost of the VPN.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from cygnet.lab.netns import Lab, Namespace
from cygnet.lab.node import CygnetNode
from cygnet.lab.strongswan import Charon, SwanConn
from cygnet.lab.topology import build_topology

PSK = "benchmark-psk-not-a-secret-0123456789"
SWAN_IKE, SWAN_ESP = "aes128gcm16-prfsha256-ecp256", "aes128gcm16"
CYG_IKE, CYG_ESP = "aes_gcm128-sha2_256;dh19", "aes_gcm128"
CLK = os.sysconf("SC_CLK_TCK")


def _pids(ns: Namespace) -> list[int]:
    out = subprocess.run(["ip", "netns", "pids", ns.name], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def _cpu(pids: list[int], skip: tuple[str, ...] = ("iperf3",)) -> float:
    """CPU seconds (user+system, incl. reaped children) of `pids`, minus processes in `skip`."""
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        if comm in skip:
            continue
        f = stat[stat.rindex(")") + 2 :].split()
        total += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
    return total / CLK


def _wire(west: Namespace) -> str:
    """What the tunnel's packets look like on west's link: raw ESP or ESP-in-UDP 4500."""
    r = west.exec(["timeout", "3", "tcpdump", "-n", "-p", "-i", "any", "-c", "20",
                   "esp or udp port 4500"], check=False, timeout=10)
    lines = r.stdout.splitlines()
    udp = sum(".4500" in line for line in lines)  # tcpdump: "... .4500: UDP-encap: ESP(...)"
    esp = sum(" ESP(" in line and ".4500" not in line for line in lines)
    return "ESP-in-UDP" if udp > esp else "raw ESP" if esp else "?"


def _iperf(west: Namespace, east: Namespace, dst: str, seconds: int) -> tuple[float, float, str]:
    """(Gbit/s, tunnel CPU seconds, wire format) of one iperf3 TCP run west → east."""
    server = east.spawn(["iperf3", "-s", "-1", "-B", dst], "iperf3-server.log")
    time.sleep(0.5)
    before = _cpu(_pids(west) + _pids(east))
    client = subprocess.Popen(west.argv(["iperf3", "-c", dst, "-t", str(seconds), "-J", "-O", "1"]),
                              stdout=subprocess.PIPE, text=True)
    time.sleep(2)
    wire = _wire(west)  # tcpdump's own CPU is not a tunnel process: it is not counted
    out, _ = client.communicate(timeout=seconds + 30)
    after = _cpu(_pids(west) + _pids(east), skip=("iperf3", "tcpdump", "timeout"))
    server.stop()
    bps = json.loads(out)["end"]["sum_received"]["bits_per_second"]
    return bps / 1e9, after - before, wire


def _swan(host, peer_addr: str, my_id: str, peer_id: str, workdir: Path) -> Charon:
    c = Charon(host.ns, workdir, host.name)
    c.configure([SwanConn("bench", host.addr, peer_addr, my_id, peer_id, psk=PSK,
                          proposals=SWAN_IKE, esp_proposals=SWAN_ESP)])
    c.start()
    return c


def _cygnet(host, root: Path, right: str, encapsulation: str = "auto") -> CygnetNode:
    node = CygnetNode(host.ns, root)
    node.write_conn_file("bench.conf", (
        f"conn bench\n    authby=secret\n    left={host.addr}\n    leftid=@{host.name}\n"
        f"    right={right}\n    rightid=@{'east' if host.name == 'west' else 'west'}\n"
        f"    ike={CYG_IKE}\n    esp={CYG_ESP}\n    encapsulation={encapsulation}\n"))
    node.write_secrets(f'@west @east : PSK "{PSK}"\n')
    node.initnss()
    node.start()
    node.add("bench")
    return node


def run_pair(kind: str, seconds: int, workdir: Path) -> tuple[float, float, str]:
    with Lab(workdir / kind) as lab:
        topo = build_topology(lab, ["west", "east"])
        w, e = topo.west, topo.east
        started: list = []
        try:
            if kind == "swan-swan":
                started += [_swan(e, w.addr, "@east", "@west", lab.workdir),
                            _swan(w, e.addr, "@west", "@east", lab.workdir)]
                started[1].initiate(child="bench")
                started[1].wait_established("bench")
            elif kind in ("cygnet-cygnet", "cygnet-cygnet-raw"):
                # libipsec always sends ESP-in-UDP (it fakes a NAT); encapsulation=yes
                # puts Cygnet on the same wire format, -raw shows IP protocol 50
                encap = "auto" if kind.endswith("-raw") else "yes"
                started += [_cygnet(e, workdir / kind / "east", w.addr, encap),
                            _cygnet(w, workdir / kind / "west", e.addr, encap)]
                started[1].up("bench")
            else:
                started.append(_swan(e, w.addr, "@east", "@west", lab.workdir))
                started.append(_cygnet(w, workdir / kind / "west", e.addr))
                started[1].up("bench")
            w.ns.wait_ping(e.addr, timeout=10)
            return _iperf(w.ns, e.ns, e.addr, seconds)
        finally:
            for s in started:
                s.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--pairs", default="swan-swan,cygnet-cygnet,cygnet-cygnet-raw,cygnet-swan")
    ap.add_argument("--json", help="write the raw results here")
    args = ap.parse_args()
    results: dict[str, list[tuple[float, float, str]]] = {}
    with tempfile.TemporaryDirectory(prefix="cygnet-bench-") as tmp:
        for rnd in range(args.rounds):
            for kind in args.pairs.split(","):
                gbps, cpu, wire = run_pair(kind, args.seconds, Path(tmp) / f"r{rnd}")
                results.setdefault(kind, []).append((gbps, cpu, wire))
                print(f"round {rnd + 1} {kind:17s} {gbps:6.2f} Gbit/s  tunnel CPU {cpu:6.1f} s"
                      f"  {wire}", flush=True)
    swan = results.get("swan-swan")
    base = statistics.median(r[0] for r in swan) if swan else None
    print("\n| pair | wire | Gbit/s (median) | × strongSwan libipsec | tunnel CPU s per GB |")
    print("|---|---|---|---|---|")
    for kind, runs in results.items():
        g = statistics.median(r[0] for r in runs)
        gb = sum(r[0] * args.seconds / 8 for r in runs)
        cpu_per_gb = sum(r[1] for r in runs) / gb if gb else float("nan")
        ratio = f"{g / base:.2f}" if base else "n/a"
        wires = "/".join(sorted({r[2] for r in runs}))
        print(f"| {kind} | {wires} | {g:.2f} | {ratio} | {cpu_per_gb:.2f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
