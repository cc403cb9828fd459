"""iperf3 TCP through two Cygnet userspace ESP planes (static keys) in network namespaces.

    python -m bench.esp_forwarder [--time 10] [--udp-encap] [--no-offload] [--suite gcm128]

Builds west/east namespaces (nothing linked to the host), starts a
`UserspaceDataplane` in each with a subnet-to-subnet SA (westnet ↔ eastnet),
runs one iperf3 TCP stream west → east, and prints Gbit/s and the CPU
seconds the planes (daemon side + workers, both namespaces) spent per GB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from cygnet.dataplane.userspace.nslab import (
    EAST,
    EASTNET,
    EASTNET_HOST,
    WEST,
    WESTNET,
    WESTNET_HOST,
    NsPair,
    netns_available,
    sh,
    static_sa_pair,
)

SUITES = {
    "gcm128": dict(encr_id=20, bits=128),
    "gcm256": dict(encr_id=20, bits=256),
    "chacha": dict(encr_id=28, bits=256),
    "cbc128-sha256": dict(encr_id=12, bits=128, integ_id=12, integ_key=32),
}


def plane_cpu(ns: str) -> float:
    """CPU seconds (user + system) of the Cygnet processes in namespace `ns`."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"cygnet.dataplane.userspace" not in f.read():
                    continue
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            continue
    return total


def run(seconds: float, udp_encap: bool, offload: bool, suite: str,
        bare: bool = False) -> dict[str, float]:
    lab = NsPair("b")
    try:
        src, dst = WESTNET_HOST, EASTNET_HOST
        if bare:  # the veth alone, no planes: what this machine's load leaves for anything
            src, dst = WEST, EAST
        else:
            w, e = static_sa_pair(1, west_ts=[WESTNET], east_ts=[EASTNET], udp_encap=udp_encap,
                                  **SUITES[suite])  # type: ignore[arg-type]
            cfg = {"tun": "ipsec0", "offload": offload}
            lab.start(dict(cfg, sas=[w]), dict(cfg, sas=[e]))
        srv = subprocess.Popen(["ip", "netns", "exec", lab.east, "iperf3", "-s", "-1", "-B", dst],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        cpu0 = plane_cpu(lab.west) + plane_cpu(lab.east)
        r = sh("iperf3", "-c", dst, "-B", src, "-t", str(seconds), "-J",
               ns=lab.west, timeout=seconds + 30)
        cpu1 = plane_cpu(lab.west) + plane_cpu(lab.east)
        srv.wait(10)
        res = json.loads(r.stdout)["end"]
        rx = res["sum_received"]
        gbytes = rx["bytes"] / 1e9
        return {
            "gbit_s": rx["bits_per_second"] / 1e9,
            "retransmits": res["sum_sent"].get("retransmits", 0),
            "cpu_s": cpu1 - cpu0,
            "cpu_s_per_gb": (cpu1 - cpu0) / gbytes if gbytes else float("nan"),
        }
    finally:
        lab.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--time", type=float, default=10)
    ap.add_argument("--udp-encap", action="store_true", help="ESP-in-UDP 4500 (RFC 3948)")
    ap.add_argument("--no-offload", dest="offload", action="store_false",
                    help="no UDP GSO/GRO batching, no coalesced TUN writes (IFF_VNET_HDR)")
    ap.add_argument("--suite", choices=sorted(SUITES), default="gcm128")
    ap.add_argument("--bare", action="store_true", help="plain veth, no planes (a baseline)")
    a = ap.parse_args()
    if not netns_available():
        print("needs root, ip netns and /dev/net/tun", file=sys.stderr)
        return 2
    r = run(a.time, a.udp_encap, a.offload, a.suite, a.bare)
    mode = ("udp-encap" if a.udp_encap else "raw-esp") + ("" if a.offload else " no-offload")
    if a.bare:
        print(f"bare veth: {r['gbit_s']:.2f} Gbit/s (load average {os.getloadavg()[0]:.1f})")
        return 0
    print(f"{a.suite} {mode}: {r['gbit_s']:.2f} Gbit/s, {r['cpu_s_per_gb']:.2f} CPU s/GB "
          f"({r['cpu_s']:.1f} CPU s, {r['retransmits']} retransmits, {a.time:g} s, "
          f"load average {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
