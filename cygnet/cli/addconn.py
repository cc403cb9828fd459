"""`ipsec addconn` and `ipsec readwriteconf`: Libreswan's configuration checks.

`--checkconfig` parses and prints nothing on success (exit 0), or the one
error on stderr (exit 3, like Libreswan's addconn for a bad config);
`--configsetup` prints `config setup` as shell `export` lines in Libreswan
4.10's order and value encoding (times in milliseconds, enums as numbers);
`--liststack` the protostack; `--listall`/`--listadd`/`--liststart`/
`--listroute`/`--listignore` conn names by `auto=`. Loading conns into a
running daemon is `ipsec auto --add` (cygnet.cli.control).
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta

from cygnet import paths
from cygnet.config import keywords as K
from cygnet.config.conn import DEFAULT, Config, format_setting, format_value, load_config
from cygnet.config.errors import ConfigError

#: exit code Libreswan's addconn uses when the config cannot be read
RC_BAD_CONFIG = 3

# Libreswan stores these enums as numbers and --configsetup prints the number.
_ENUM_NUMBERS = {
    "ikev1-policy": {"accept": 0, "reject": 1, "drop": 2},
    "ddos-mode": {"auto": 1, "busy": 2, "unlimited": 3},
}


def _parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, add_help=True)
    p.add_argument("--config", default=paths.CONFIG_FILE)
    p.add_argument("--ctlsocket", default=None)
    p.add_argument("--rootdir", default=None)
    p.add_argument("--verbose", "-v", action="count", default=0)
    for flag in (
        "checkconfig",
        "configsetup",
        "liststack",
        "listall",
        "listadd",
        "liststart",
        "listroute",
        "listignore",
        "autoall",
        "defaultroute",
    ):
        p.add_argument(f"--{flag}", action="store_true")
    p.add_argument("names", nargs="*")
    return p


def _load(path: str, verbose: int) -> Config | None:
    if verbose:
        print(f"opening file: {path}", file=sys.stderr)
    try:
        cfg = load_config(path)
    except ConfigError as e:
        print(str(e), file=sys.stderr)
        return None
    for w in cfg.warnings:
        print(w, file=sys.stderr)
    return cfg


def export_value(name: str, value: object) -> str:
    """A `config setup` value the way 4.10's `--configsetup` prints it."""
    if name in _ENUM_NUMBERS and isinstance(value, str):
        return str(_ENUM_NUMBERS[name][value])
    if name == "plutodebug" and isinstance(value, tuple) and set(value) <= {"none"}:
        return "0"
    if isinstance(value, timedelta):
        return str(round(value.total_seconds() * 1000))
    return format_value(value)


def configsetup_lines(cfg: Config, config_file: str, ctlsocket: str) -> list[str]:
    """The `export key='value'` lines of `ipsec addconn --configsetup`."""
    out = [
        "export confreadstatus=''",
        f"export configfile='{config_file}'",
        f"export ctlsocket='{ctlsocket}'",
    ]
    for name in K.SETUP_ORDER:
        if name not in cfg.setup.options:
            continue
        val = export_value(name, cfg.setup.options[name])
        out.append(f"export {name.replace('-', '_')}='{val}'")
        if name == "logfile":
            out.append(f"export plutostderrlog='{val}'")
    return out


_LISTS = {
    "listadd": ("add",),
    "liststart": ("start",),
    "listroute": ("ondemand",),
    "listignore": ("ignore",),
}


def addconn(argv: list[str]) -> int:
    """`ipsec addconn`."""
    args = _parser("ipsec addconn").parse_args(argv)
    cfg = _load(args.config, args.verbose)
    if cfg is None:
        return RC_BAD_CONFIG
    if args.checkconfig:
        return 0
    if args.configsetup:
        ctl = paths.ctl_socket(override=args.ctlsocket)
        print("\n".join(configsetup_lines(cfg, args.config, ctl)))
        return 0
    if args.liststack:
        stack = cfg.setup.protostack
        print("xfrm" if stack in ("netkey", "native", "auto", "xfrm") else stack)
        return 0
    if args.listall:
        print("".join(f"{n} " for n in cfg.conns))
        return 0
    for flag, autos in _LISTS.items():
        if getattr(args, flag):
            print("".join(f"{n} " for n, c in cfg.conns.items() if c.auto in autos))
            return 0
    if args.names or args.autoall:
        missing = [n for n in args.names if n not in cfg.conns]
        if missing:
            print(f"conn '{missing[0]}' not found (tried aliases)", file=sys.stderr)
            return RC_BAD_CONFIG
        print(
            "ipsec addconn: loading conns needs the daemon; use 'ipsec auto --add NAME'",
            file=sys.stderr,
        )
        return 1
    return 0


def normalised(cfg: Config, include_defaults: bool = False) -> str:
    """ipsec.conf text of the effective config (what `readwriteconf` prints)."""
    lines = ["config setup"]
    for name, value in cfg.setup.options.items():
        if include_defaults or not cfg.setup.is_default(name):
            mark = "\t# default" if cfg.setup.is_default(name) else ""
            lines.append(f"\t{name}={_quote(format_setting(name, value))}{mark}")
    for conn in cfg.conns.values():
        lines.append("")
        lines.append(f"conn {conn.name}")
        items: list[tuple[str, object, bool]] = []
        for end in conn.ends:
            for key, value in end.options.items():
                items.append((f"{end.side}{key}", value, end.origins.get(key) == DEFAULT))
        for key, value in conn.options.items():
            items.append((key, value, conn.is_default(key)))
        for key, value, is_def in items:
            if include_defaults or not is_def:
                mark = "\t# default" if is_def else ""
                lines.append(f"\t{key}={_quote(format_setting(key, value))}{mark}")
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    return f'"{text}"' if (not text or any(c in text for c in " \t#")) else text


def readwriteconf(argv: list[str]) -> int:
    """`ipsec readwriteconf --config F`: the config as Cygnet understood it."""
    args = _parser("ipsec readwriteconf").parse_args(argv)
    cfg = _load(args.config, args.verbose)
    if cfg is None:
        return RC_BAD_CONFIG
    sys.stdout.write(normalised(cfg))
    return 0
