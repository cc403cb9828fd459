"""`ipsec pluto`, `ipsec start|stop|restart`: running the daemon.

`pluto --selftest` works today: it opens the NSS database the way pluto
does, reports FIPS mode, lists the algorithms and runs known-answer checks.
The daemon itself is the next milestone; until it is built, starting it says
so plainly instead of pretending.
"""

from __future__ import annotations

import argparse
import os
import sys

from cygnet import __version__, paths
from cygnet.cli import control

#: pluto's feature banner, our way: what this build can do.
BANNER = f"Starting Pluto (Cygnet Version {__version__} IKEv2 XFRM USERSPACE-ESP NSS)"


def _pluto_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ipsec pluto", allow_abbrev=False)
    p.add_argument("--config", default=paths.CONFIG_FILE)
    p.add_argument("--secretsfile", default=paths.SECRETS_FILE)
    p.add_argument("--nssdir", default=None)
    p.add_argument("--nsspassword", default=None, help="file with token:password lines")
    p.add_argument("--rundir", default=paths.RUN_DIR)
    p.add_argument("--ctlsocket", default=None)
    p.add_argument("--logfile", default=None)
    p.add_argument("--nofork", action="store_true")
    p.add_argument("--stderrlog", action="store_true")
    p.add_argument("--selftest", action="store_true")
    p.add_argument("--leak-detective", action="store_true")
    return p


def selftest(ns: argparse.Namespace) -> int:
    """pluto's start-up report, then the algorithm table and known-answer checks."""
    from cygnet.ike import algorithms
    from cygnet.ike import selftest as kat
    from cygnet.pki.nssdb import NssDb, NssError
    from cygnet.pki.nsspassword import fips_mode

    def say(line: str) -> None:
        print(line, flush=True)

    fips = fips_mode()
    try:
        NssDb.open(ns.nssdir, ns.nsspassword, readonly=False, fips=fips, log=say).close()
    except NssError as e:
        say(str(e))
        return 1
    say(f"FIPS Mode: {'YES' if fips else 'NO'}")
    say("NSS crypto library initialized")
    if fips:
        say("FIPS mode enabled for pluto daemon")
        say("NSS library is running in FIPS mode")
    else:
        say("FIPS mode disabled for pluto daemon")
    say("FIPS HMAC integrity support [disabled]")
    say(f"{BANNER} pid:{os.getpid()}")
    say(f"core dump dir: {ns.rundir}")
    say(f"secrets file: {ns.secretsfile}")
    say("NAT-Traversal support  [enabled]")
    for line in algorithms.selftest_algorithm_lines(fips):
        say(line)
    lines, ok = kat.run()
    for line in lines:
        say(line)
    say("selftest: exiting pluto")
    return 0 if ok else 1


def pluto(argv: list[str]) -> int:
    """`ipsec pluto [--selftest] --config F --nofork ...`."""
    ns = _pluto_parser().parse_args(argv)
    if ns.selftest:
        return selftest(ns)
    print("ipsec pluto: the Cygnet IKE daemon is not part of this build yet "
          "(only --selftest is available)", file=sys.stderr)
    return 1


def start(argv: list[str]) -> int:
    """`ipsec start`: start pluto (under systemd when it runs the system)."""
    return pluto([a for a in argv if a != "--nofork"] + ["--nofork"])


def stop(argv: list[str]) -> int:
    """`ipsec stop`: ask pluto to shut down."""
    return control.whack_cmd(["--shutdown", *argv])


def restart(argv: list[str]) -> int:
    stop(argv)
    return start(argv)
