"""Verbs that talk to the running daemon: `ipsec auto`, `ipsec whack`, status verbs.

Libreswan spells the same operation several ways (`ipsec auto --up c`,
`ipsec up c`, `ipsec whack --name c --initiate`); all of them become one
control request here, so the daemon has one implementation of each.
"""

from __future__ import annotations

import argparse

from cygnet import paths
from cygnet.cli import whack

#: `ipsec auto` operations -> control verbs.
AUTO_OPS = {
    "add": "add",
    "delete": "delete",
    "replace": "replace",
    "up": "up",
    "down": "down",
    "route": "route",
    "unroute": "unroute",
    "ondemand": "route",
    "start": "up",
}

#: Status verbs: control verb for `ipsec NAME` and `ipsec whack --NAME`.
STATUS_VERBS = (
    "status",
    "trafficstatus",
    "briefstatus",
    "globalstatus",
    "showstates",
    "shuntstatus",
    "fipsstatus",
)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ctlsocket", help="pluto's control socket")
    p.add_argument("--rundir", help="pluto's run directory (holds pluto.ctl)")
    p.add_argument("--json", action="store_true", help="answer in JSON")


def _ctl(ns: argparse.Namespace) -> str:
    return whack.default_ctl(ns.rundir, ns.ctlsocket)


def auto(argv: list[str]) -> int:
    """`ipsec auto --add|--delete|--replace|--up|--down|--route|--unroute NAME`."""
    p = argparse.ArgumentParser(prog="ipsec auto", allow_abbrev=False)
    ops = p.add_mutually_exclusive_group(required=True)
    for op in AUTO_OPS:
        ops.add_argument(f"--{op}", dest="op", action="store_const", const=op)
    for verb in ("status", "rereadsecrets", "rereadall"):
        ops.add_argument(f"--{verb}", dest="op", action="store_const", const=verb)
    p.add_argument("--config", default=paths.CONFIG_FILE)
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--asynchronous", action="store_true")
    _common(p)
    p.add_argument("name", nargs="?")
    ns = p.parse_args(argv)
    if ns.op in ("status", "rereadsecrets", "rereadall"):
        return whack.run(_ctl(ns), ns.op, as_json=ns.json)
    if not ns.name:
        p.error(f"--{ns.op} needs a connection name")
    return whack.run(
        _ctl(ns),
        AUTO_OPS[ns.op],
        as_json=ns.json,
        name=ns.name,
        config=ns.config,
        asynchronous=ns.asynchronous,
    )


def _named(verb: str, argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog=f"ipsec {verb}", allow_abbrev=False)
    p.add_argument("--config", default=paths.CONFIG_FILE)
    p.add_argument("--asynchronous", action="store_true")
    _common(p)
    p.add_argument("name")
    ns = p.parse_args(argv)
    return whack.run(
        _ctl(ns), verb, as_json=ns.json, name=ns.name, config=ns.config,
        asynchronous=ns.asynchronous,
    )


def add(argv: list[str]) -> int:
    """`ipsec add NAME` (Libreswan 5 spelling of `auto --add`)."""
    return _named("add", argv)


def delete(argv: list[str]) -> int:
    return _named("delete", argv)


def up(argv: list[str]) -> int:
    return _named("up", argv)


def down(argv: list[str]) -> int:
    return _named("down", argv)


def route(argv: list[str]) -> int:
    return _named("route", argv)


def unroute(argv: list[str]) -> int:
    return _named("unroute", argv)


def replace(argv: list[str]) -> int:
    return _named("replace", argv)


def _status(verb: str, argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog=f"ipsec {verb}", allow_abbrev=False)
    _common(p)
    ns = p.parse_args(argv)
    return whack.run(_ctl(ns), verb, as_json=ns.json)


def status(argv: list[str]) -> int:
    return _status("status", argv)


def trafficstatus(argv: list[str]) -> int:
    return _status("trafficstatus", argv)


def briefstatus(argv: list[str]) -> int:
    return _status("briefstatus", argv)


def globalstatus(argv: list[str]) -> int:
    return _status("globalstatus", argv)


def showstates(argv: list[str]) -> int:
    return _status("showstates", argv)


def shuntstatus(argv: list[str]) -> int:
    return _status("shuntstatus", argv)


def fipsstatus(argv: list[str]) -> int:
    return _status("fipsstatus", argv)


def rereadsecrets(argv: list[str]) -> int:
    return _status("rereadsecrets", argv)


def rereadall(argv: list[str]) -> int:
    return _status("rereadall", argv)


def xfrmstat(argv: list[str]) -> int:
    """`cygnet xfrmstat`: the data plane's /proc/net/xfrm_stat counters (same names)."""
    return _status("xfrmstat", argv)


def connectionstatus(argv: list[str]) -> int:
    """`ipsec connectionstatus [NAME]`."""
    p = argparse.ArgumentParser(prog="ipsec connectionstatus", allow_abbrev=False)
    _common(p)
    p.add_argument("name", nargs="?")
    ns = p.parse_args(argv)
    return whack.run(_ctl(ns), "connectionstatus", as_json=ns.json, name=ns.name)


def whack_cmd(argv: list[str]) -> int:
    """`ipsec whack --status|--trafficstatus|--shutdown|--name N --initiate|...`."""
    p = argparse.ArgumentParser(prog="ipsec whack", allow_abbrev=False)
    ops = p.add_mutually_exclusive_group(required=True)
    for verb in (*STATUS_VERBS, "shutdown", "rereadsecrets", "connectionstatus"):
        ops.add_argument(f"--{verb}", dest="op", action="store_const", const=verb)
    for flag, verb in (
        ("initiate", "up"),
        ("terminate", "down"),
        ("delete", "delete"),
        ("route", "route"),
        ("unroute", "unroute"),
        ("rekey-ike", "rekey-ike"),
        ("rekey-ipsec", "rekey-child"),
        ("rekey-child", "rekey-child"),
    ):
        ops.add_argument(f"--{flag}", dest="op", action="store_const", const=verb)
    p.add_argument("--name")
    p.add_argument("--asynchronous", action="store_true")
    _common(p)
    ns = p.parse_args(argv)
    named = ns.op in ("up", "down", "delete", "route", "unroute", "rekey-ike", "rekey-child")
    if named and not ns.name:
        p.error(f"--{ns.op} needs --name")
    args = {"name": ns.name} if ns.name else {}
    if named:
        args["asynchronous"] = ns.asynchronous
    return whack.run(_ctl(ns), ns.op, as_json=ns.json, **args)

