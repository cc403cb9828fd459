"""Run a `UserspaceDataplane` with static keys, driven by JSON lines on stdin.

No IKE: for namespace tests, the benchmark and hand-built labs, where each
namespace runs `ip netns exec NS python -m cygnet.dataplane.userspace.agent
CONFIG.json`. It prints `{"ready": ...}` once the plane runs, then answers
one JSON line per command line: `counters SERIAL`, `stat`, `install N`
(the N-th SA of the config), `remove SERIAL`, `route ID`, `unroute ID`,
`send_ike HEX LOCAL REMOTE`, `sleep SECONDS`, `stop`. Events (acquire,
expire, ike) are printed as they happen.

Config: {"tun": "ipsec0", "nat_port": 4500, "offload": true,
"sas": [{"serial", "spi_in", "spi_out" (hex), "encr_id", "encr_key_bits",
"integ_id", "esn", "key_in_encr", "key_in_integ", "key_out_encr",
"key_out_integ" (hex), "ts_local", "ts_remote" (CIDR lists), "mode",
"udp_encap", "local", "remote" (addresses), "replay_window", "lifetime" (SaLifetime
fields)}],
"install": true, "routes": [{"id", "local", "remote"}]}.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import asdict
from ipaddress import ip_address, ip_network
from typing import Any

from cygnet.dataplane.base import ChildSaPlacement, DataplaneEvents, SaLifetime
from cygnet.dataplane.userspace.plane import UserspaceDataplane
from cygnet.ike.events import ChildSaKeys
from cygnet.ike.natd import Endpoint
from cygnet.ike.payloads import TrafficSelector

__all__ = ["child_from_json", "main", "ts_from_cidr"]


def ts_from_cidr(cidr: str) -> TrafficSelector:
    net = ip_network(cidr, strict=False)
    return TrafficSelector(net[0], net[-1])


def child_from_json(d: dict[str, Any]) -> tuple[ChildSaKeys, ChildSaPlacement]:
    h = bytes.fromhex
    child = ChildSaKeys(
        serial=d["serial"], protocol=3, mode=d.get("mode", "tunnel"),
        spi_in=h(d["spi_in"]), spi_out=h(d["spi_out"]), encr_id=d["encr_id"],
        encr_key_bits=d["encr_key_bits"], integ_id=d.get("integ_id", 0), esn=d.get("esn", False),
        key_in_encr=h(d["key_in_encr"]), key_in_integ=h(d.get("key_in_integ", "")),
        key_out_encr=h(d["key_out_encr"]), key_out_integ=h(d.get("key_out_integ", "")),
        ts_local=tuple(ts_from_cidr(c) for c in d["ts_local"]),
        ts_remote=tuple(ts_from_cidr(c) for c in d["ts_remote"]),
        udp_encap=d.get("udp_encap", False),
    )
    port = 4500 if child.udp_encap else 0
    where = ChildSaPlacement(
        local=Endpoint(ip_address(d["local"]), d.get("local_port", port)),
        remote=Endpoint(ip_address(d["remote"]), d.get("remote_port", port)),
        replay_window=d.get("replay_window", 128),
        lifetime=SaLifetime(**d.get("lifetime", {})),
    )
    return child, where


async def _run(cfg: dict[str, Any]) -> None:
    out = sys.stdout
    loop = asyncio.get_running_loop()

    def emit(obj: dict[str, Any]) -> None:
        out.write(json.dumps(obj) + "\n")
        out.flush()

    events = DataplaneEvents(
        on_acquire=lambda r, s, d: emit({"acquire": r, "src": str(s.start), "dst": str(d.start)}),
        on_expire=lambda serial, hard: emit({"expire": serial, "hard": hard}),
        on_ike=lambda data, lo, re: emit({"ike": data.hex(), "local": str(lo), "remote": str(re)}),
    )
    plane = UserspaceDataplane(
        cfg.get("tun", "ipsec0"), nat_port=cfg.get("nat_port", 4500),
        offload=cfg.get("offload", True), mtu=cfg.get("mtu", 1400),
    )
    await plane.start(events)
    sas = [child_from_json(d) for d in cfg.get("sas", [])]
    if cfg.get("install", True):
        for child, where in sas:
            plane.install(child, where)
    emit({"ready": plane.tun_name, "mark": plane.ike_socket_mark})
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while True:
            line = (await reader.readline()).decode().strip()
            if not line:
                if reader.at_eof():
                    break
                continue
            cmd, _, arg = line.partition(" ")
            if cmd == "stop":
                break
            if cmd == "counters":
                emit(asdict(plane.counters(int(arg))))
            elif cmd == "stat":
                emit(plane.xfrm_stat())
            elif cmd == "install":
                child, where = sas[int(arg)]
                plane.install(child, where)
                emit({"ok": True})
            elif cmd == "remove":
                plane.remove(int(arg))
                emit({"ok": True})
            elif cmd == "route":
                r = next(x for x in cfg["routes"] if x["id"] == int(arg))
                plane.route(r["id"], ts_from_cidr(r["local"]), ts_from_cidr(r["remote"]))
                emit({"ok": True})
            elif cmd == "send_ike":
                data, local, remote = arg.split()
                port = plane.nat_port
                ok = plane.send_ike(bytes.fromhex(data), Endpoint(ip_address(local), port),
                                    Endpoint(ip_address(remote), port))
                emit({"ok": ok})
            elif cmd == "unroute":
                plane.unroute(int(arg))
                emit({"ok": True})
            elif cmd == "sleep":
                await asyncio.sleep(float(arg))
                emit({"ok": True})
            else:
                emit({"error": f"unknown command {cmd}"})
    finally:
        await plane.stop()
        emit({"stopped": True})


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    with open(argv[0]) as f:
        cfg = json.load(f)
    asyncio.run(_run(cfg))
    return 0


if __name__ == "__main__":
    sys.exit(main())
