"""A two-namespace west/east lab with static-key userspace ESP planes (tests and benchmark).

Libreswan's addresses, inside private namespaces only (never linked to the
host): west 192.1.2.45 with westnet 192.0.1.254/32 on lo, east 192.1.2.23
with eastnet 192.0.2.254/32 on lo, joined by one veth pair. Each plane runs
as `agent` under `ip netns exec`. `close()` deletes everything, also after
a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any

__all__ = ["Agent", "NsPair", "static_sa_pair", "netns_available"]

WEST, EAST = "192.1.2.45", "192.1.2.23"
WESTNET, EASTNET = "192.0.1.0/24", "192.0.2.0/24"
WESTNET_HOST, EASTNET_HOST = "192.0.1.254", "192.0.2.254"


def netns_available() -> bool:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return False
    name = f"cyg-usp-{os.getpid()}-probe"
    ok = subprocess.run(["ip", "netns", "add", name], capture_output=True).returncode == 0
    if ok:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return ok and os.path.exists("/dev/net/tun")


def sh(*args: str, check: bool = True, ns: str | None = None, timeout: float = 30,
       ) -> subprocess.CompletedProcess:
    cmd = (["ip", "netns", "exec", ns] if ns else []) + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode:
        raise RuntimeError(f"{' '.join(cmd)}: {r.returncode} {r.stderr.strip()}")
    return r


def static_sa_pair(serial: int, *, encr_id: int = 20, bits: int = 128, integ_id: int = 0,
                   integ_key: int = 0, esn: bool = False, udp_encap: bool = False,
                   mode: str = "tunnel", west_ts: list[str], east_ts: list[str],
                   spi_base: int = 0x1000, replay_window: int = 128,
                   ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Matching SA configs for west and east (west's out = east's in), random keys."""
    enc_len = bits // 8 + (4 if encr_id in (13, 18, 19, 20, 28) else 0)
    k1, k2 = os.urandom(enc_len).hex(), os.urandom(enc_len).hex()
    i1, i2 = os.urandom(integ_key).hex(), os.urandom(integ_key).hex()
    s1 = (spi_base + serial * 2).to_bytes(4, "big").hex()
    s2 = (spi_base + serial * 2 + 1).to_bytes(4, "big").hex()
    common = {"serial": serial, "encr_id": encr_id, "encr_key_bits": bits, "integ_id": integ_id,
              "esn": esn, "udp_encap": udp_encap, "mode": mode, "replay_window": replay_window}
    west = dict(common, spi_in=s1, spi_out=s2, key_in_encr=k1, key_out_encr=k2,
                key_in_integ=i1, key_out_integ=i2, ts_local=west_ts, ts_remote=east_ts,
                local=WEST, remote=EAST)
    east = dict(common, spi_in=s2, spi_out=s1, key_in_encr=k2, key_out_encr=k1,
                key_in_integ=i2, key_out_integ=i1, ts_local=east_ts, ts_remote=west_ts,
                local=EAST, remote=WEST)
    return west, east


class Agent:
    """One `agent` process in a namespace; `cmd()` sends a line and reads one JSON answer."""

    def __init__(self, ns: str, cfg: dict[str, Any], tmp: str) -> None:
        self.events: list[dict[str, Any]] = []
        path = os.path.join(tmp, f"{ns}.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-m", "cygnet.dataplane.userspace.agent",
             path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
        )
        self.ready = self.read()
        if "ready" not in self.ready:
            raise RuntimeError(f"agent in {ns}: {self.ready}")

    def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("agent exited")
            obj = json.loads(line)
            if "acquire" in obj or "expire" in obj or "ike" in obj:
                self.events.append(obj)
                continue
            return obj

    def cmd(self, line: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.read()

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.cmd("stop")
                self.proc.wait(5)
            except Exception:
                self.proc.kill()
                self.proc.wait()


class NsPair:
    """west and east namespaces joined by a veth; planes started with `start()`."""

    def __init__(self, tag: str = "") -> None:
        pid = os.getpid()
        self.west = f"cyg-usp-{pid}-{tag}w"
        self.east = f"cyg-usp-{pid}-{tag}e"
        self.tmp = tempfile.mkdtemp(prefix="cyg-usp-")
        self.agents: dict[str, Agent] = {}
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def _build(self) -> None:
        w, e = self.west, self.east
        sh("ip", "netns", "add", w)
        sh("ip", "netns", "add", e)
        sh("ip", "link", "add", "veth-w", "type", "veth", "peer", "name", "veth-e", ns=w)
        sh("ip", "link", "set", "veth-e", "netns", e, ns=w)
        for ns, dev, addr, host in ((w, "veth-w", WEST, WESTNET_HOST), (e, "veth-e", EAST, EASTNET_HOST)):
            sh("ip", "link", "set", "lo", "up", ns=ns)
            sh("ip", "addr", "add", f"{addr}/24", "dev", dev, ns=ns)
            sh("ip", "addr", "add", f"{host}/32", "dev", "lo", ns=ns)
            sh("ip", "link", "set", dev, "up", ns=ns)

    def start(self, west_cfg: dict[str, Any], east_cfg: dict[str, Any]) -> tuple[Agent, Agent]:
        aw = Agent(self.west, west_cfg, self.tmp)
        self.agents["west"] = aw
        ae = Agent(self.east, east_cfg, self.tmp)
        self.agents["east"] = ae
        return aw, ae

    def close(self) -> None:
        for a in self.agents.values():
            a.stop()
        self.agents.clear()
        for ns in (self.west, self.east):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        shutil.rmtree(self.tmp, ignore_errors=True)
