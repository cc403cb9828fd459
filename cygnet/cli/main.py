"""Entry points for `ipsec` and `cygnet`.

Verbs are looked up in a static table and their modules imported only when
used, so `ipsec showhostkey` does not pay for the IKE engine's imports.
Each verb is a function `(argv: list[str]) -> int` that parses its own flags,
the way Libreswan's `ipsec` script hands each verb to its own program.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

from cygnet import VERSION_STRING

#: Libreswan's verbs (and the Libreswan 4.x `--verb` spellings) -> "module:function".
IPSEC_VERBS: dict[str, str] = {
    # the key store (cygnet.cli.nss)
    "initnss": "cygnet.cli.nss:initnss",
    "checknss": "cygnet.cli.nss:checknss",
    "newhostkey": "cygnet.cli.nss:newhostkey",
    "showhostkey": "cygnet.cli.nss:showhostkey",
    "import": "cygnet.cli.nss:import_p12",
    # configuration checks (cygnet.cli.addconn)
    "addconn": "cygnet.cli.addconn:addconn",
    "readwriteconf": "cygnet.cli.addconn:readwriteconf",
    # verbs that talk to the daemon (cygnet.cli.control)
    "auto": "cygnet.cli.control:auto",
    "add": "cygnet.cli.control:add",
    "delete": "cygnet.cli.control:delete",
    "up": "cygnet.cli.control:up",
    "down": "cygnet.cli.control:down",
    "route": "cygnet.cli.control:route",
    "unroute": "cygnet.cli.control:unroute",
    "replace": "cygnet.cli.control:replace",
    "whack": "cygnet.cli.control:whack_cmd",
    "trafficstatus": "cygnet.cli.control:trafficstatus",
    "status": "cygnet.cli.control:status",
    "briefstatus": "cygnet.cli.control:briefstatus",
    "globalstatus": "cygnet.cli.control:globalstatus",
    "showstates": "cygnet.cli.control:showstates",
    "shuntstatus": "cygnet.cli.control:shuntstatus",
    "fipsstatus": "cygnet.cli.control:fipsstatus",
    "connectionstatus": "cygnet.cli.control:connectionstatus",
    "rereadsecrets": "cygnet.cli.control:rereadsecrets",
    "rereadall": "cygnet.cli.control:rereadall",
    # the service (cygnet.cli.service)
    "start": "cygnet.cli.service:start",
    "stop": "cygnet.cli.service:stop",
    "restart": "cygnet.cli.service:restart",
    "pluto": "cygnet.cli.service:pluto",
    "version": "cygnet.cli.main:version",
}

#: Libreswan 4.x still accepts `ipsec --checknss` style spellings.
IPSEC_ALIASES: dict[str, str] = {
    "--checknss": "checknss",
    "--initnss": "initnss",
    "--version": "version",
    "--import": "import",
    "--status": "status",
}

#: Our own verbs, only on `cygnet`.
CYGNET_VERBS: dict[str, str] = {
    "config": "cygnet.cli.config_show:config",
    "install-unit": "cygnet.cli.unit:install_unit",
    "xfrmstat": "cygnet.cli.control:xfrmstat",
}


def version(argv: list[str]) -> int:
    """Print the version the way `ipsec --version` does."""
    print(VERSION_STRING)
    return 0


def _usage(prog: str, verbs: dict[str, str]) -> str:
    names = " ".join(sorted(verbs))
    return f"usage: {prog} <command> [argument ...]\ncommands: {names}\n"


def _resolve(target: str) -> Callable[[list[str]], int]:
    module_name, func_name = target.split(":")
    return getattr(importlib.import_module(module_name), func_name)


def _dispatch(prog: str, verbs: dict[str, str], argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        sys.stdout.write(_usage(prog, verbs))
        return 0 if argv else 2
    name = IPSEC_ALIASES.get(argv[0], argv[0])
    target = verbs.get(name)
    if target is None:
        sys.stderr.write(f"{prog}: unknown command: {argv[0]}\n")
        sys.stderr.write(_usage(prog, verbs))
        return 2
    try:
        return int(_resolve(target)(argv[1:]) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


def ipsec_main(argv: list[str] | None = None) -> int:
    """`ipsec`: exactly Libreswan's verbs."""
    return _dispatch("ipsec", IPSEC_VERBS, sys.argv[1:] if argv is None else argv)


def cygnet_main(argv: list[str] | None = None) -> int:
    """`cygnet`: Libreswan's verbs plus our own."""
    verbs = {**IPSEC_VERBS, **CYGNET_VERBS}
    return _dispatch("cygnet", verbs, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(cygnet_main())
