"""`cygnet config show`: the effective connections after `also=` and `%default`.

Human output is ipsec.conf syntax with every value, built-in defaults marked
`# default`; `--json` is a stable object:
`{"config": FILE, "setup": {KEY: {"value": V, "default": BOOL}},
  "conns": {NAME: {"source": "FILE:LINE", "options": {...},
  "left": {...}, "right": {...}}}, "warnings": [...]}` with durations in
seconds and lists as arrays.
"""

from __future__ import annotations

import argparse
import json
import sys

from cygnet import paths
from cygnet.cli.addconn import normalised
from cygnet.config.conn import DEFAULT, Config, ConnSpec, End, json_value, load_config
from cygnet.config.errors import ConfigError


def _opts(options: object, origins: object) -> dict[str, dict[str, object]]:
    return {
        (k or "host"): {"value": json_value(v), "default": origins.get(k) == DEFAULT}  # type: ignore[attr-defined]
        for k, v in sorted(options.items())  # type: ignore[attr-defined]
    }


def _end(end: End) -> dict[str, object]:
    return _opts(end.options, end.origins)


def _conn(conn: ConnSpec) -> dict[str, object]:
    return {
        "source": f"{conn.file}:{conn.line}",
        "options": _opts(conn.options, conn.origins),
        "left": _end(conn.left),
        "right": _end(conn.right),
    }


def to_json(cfg: Config, path: str) -> dict[str, object]:
    """The stable JSON form of a loaded config."""
    return {
        "config": path,
        "setup": _opts(cfg.setup.options, cfg.setup.origins),
        "conns": {name: _conn(c) for name, c in cfg.conns.items()},
        "warnings": list(cfg.warnings),
    }


def config(argv: list[str]) -> int:
    """`cygnet config show [--config F] [--json] [NAME...]`."""
    p = argparse.ArgumentParser(prog="cygnet config")
    sub = p.add_subparsers(dest="cmd", required=True)
    show = sub.add_parser("show", help="print the effective configuration")
    show.add_argument("--config", default=paths.CONFIG_FILE)
    show.add_argument("--json", action="store_true")
    show.add_argument("--orient", action="store_true",
                      help="also say which end is this host (as pluto would on 'auto --add')")
    show.add_argument("names", nargs="*")
    args = p.parse_args(argv)
    try:
        cfg = load_config(args.config)
    except ConfigError as e:
        print(str(e), file=sys.stderr)
        return 3
    for name in args.names:
        if name not in cfg.conns:
            print(f"cygnet config: no conn named '{name}' in {args.config}", file=sys.stderr)
            return 1
    if args.names:
        cfg = Config(cfg.setup, {n: cfg.conns[n] for n in args.names}, cfg.warnings, cfg.files)
    sides = _orientation(cfg) if args.orient else {}
    if args.json:
        doc = to_json(cfg, args.config)
        for name, where in sides.items():
            doc["conns"][name]["this_host"] = where  # type: ignore[index]
        json.dump(doc, sys.stdout, indent=2, sort_keys=False)
        sys.stdout.write("\n")
        return 0
    for w in cfg.warnings:
        print(w, file=sys.stderr)
    sys.stdout.write(normalised(cfg, include_defaults=True))
    for name, where in sides.items():
        print(f'# conn "{name}": {where}')
    return 0


def _orientation(cfg: Config) -> dict[str, str]:
    """For each conn, which end is this host, or Libreswan's reason why none is."""
    from cygnet.config.orient import local_addresses, orient

    addrs, default = local_addresses()
    out: dict[str, str] = {}
    for name, conn in cfg.conns.items():
        try:
            o = orient(conn, addrs, default)
            out[name] = f"this host is {o.local.side} ({o.local_addr})"
        except ConfigError as e:
            out[name] = e.message
    return out
