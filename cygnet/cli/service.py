"""`ipsec pluto`, `ipsec start|stop|restart`: running the daemon.

`pluto --selftest` opens the NSS database the way pluto does, reports FIPS
mode, lists the algorithms and runs known-answer checks; plain `pluto` runs
the daemon (`--nofork` in the foreground, as under systemd).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from cygnet import __version__, paths

#: pluto's feature banner, our way: what this build can do.
BANNER = f"Starting Pluto (Cygnet Version {__version__} IKEv2 XFRM USERSPACE-ESP NSS)"


def _pluto_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ipsec pluto", allow_abbrev=False)
    p.add_argument("--config", default=paths.CONFIG_FILE)
    p.add_argument("--secretsfile", default=None)
    p.add_argument("--nssdir", default=None)
    p.add_argument("--nsspassword", default=None, help="file with token:password lines")
    p.add_argument("--rundir", default=paths.RUN_DIR)
    p.add_argument("--ctlsocket", default=None)
    p.add_argument("--logfile", default=None)
    p.add_argument("--nofork", action="store_true")
    p.add_argument("--stderrlog", action="store_true")
    p.add_argument("--selftest", action="store_true")
    p.add_argument("--leak-detective", action="store_true")
    p.add_argument("--protostack", choices=("xfrm", "userspace", "auto"), default=None,
                   help="data plane (overrides config setup protostack=)")
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
    say(f"secrets file: {ns.secretsfile or paths.SECRETS_FILE}")
    say("NAT-Traversal support  [enabled]")
    for line in algorithms.selftest_algorithm_lines(fips):
        say(line)
    lines, ok = kat.run()
    for line in lines:
        say(line)
    say("selftest: exiting pluto")
    return 0 if ok else 1


def _options(ns: argparse.Namespace) -> tuple[Any, Any]:
    """pluto's options and log from the command line and `config setup` (command line wins)."""
    from cygnet.config.conn import load_config
    from cygnet.daemon.log import PlutoLog
    from cygnet.daemon.pluto import Options

    setup = load_config(ns.config).setup
    debug = frozenset(str(x) for x in (setup.get("plutodebug") or ()) if str(x) != "none")
    log = PlutoLog(
        logfile=ns.logfile or setup.get("logfile"), stderr=ns.stderrlog,
        logtime=bool(setup.get("logtime", True)), logappend=bool(setup.get("logappend", True)),
        debug=debug,
    )
    opts = Options(
        config=ns.config, secretsfile=ns.secretsfile or str(setup.get("secretsfile")),
        nssdir=ns.nssdir or setup.get("nssdir"), nsspassword=ns.nsspassword, rundir=ns.rundir,
        ctlsocket=ns.ctlsocket, logfile=ns.logfile, stderrlog=ns.stderrlog,
        protostack=ns.protostack,
    )
    return opts, log


def pluto(argv: list[str]) -> int:
    """`ipsec pluto [--selftest] --config F [--nofork] [--stderrlog] ...`."""
    from cygnet.config.errors import ConfigError

    ns = _pluto_parser().parse_args(argv)
    if ns.selftest:
        return selftest(ns)
    try:
        opts, log = _options(ns)
    except ConfigError as e:
        print(e, file=sys.stderr)
        return 3
    if not ns.nofork and os.fork() > 0:
        return 0  # the parent returns; the child carries on as the daemon
    if not ns.nofork:
        os.setsid()
    from cygnet.daemon.pluto import main

    return main(opts, log)


def start(argv: list[str]) -> int:
    """`ipsec start`: check the config and the NSS database, then start pluto in the background."""
    from cygnet.cli import addconn, nss, whack

    ns, _ = _pluto_parser().parse_known_args(argv)
    if addconn.addconn(["--checkconfig", "--config", ns.config]) != 0:
        return 3
    nss.checknss(["--nssdir", ns.nssdir] if ns.nssdir else [])
    ctl = whack.default_ctl(ns.rundir, ns.ctlsocket)
    if os.path.exists(ctl) and whack.run(ctl, "briefstatus") == 0:
        print("pluto is already running", file=sys.stderr)
        return 1
    import subprocess

    cmd = [sys.executable, "-m", "cygnet.cli.main", "pluto", "--nofork", *argv]
    subprocess.Popen(cmd, start_new_session=True, stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if os.path.exists(ctl):
            return 0
        time.sleep(0.1)
    print("ipsec start: pluto did not start; see its log", file=sys.stderr)
    return 1


def stop(argv: list[str]) -> int:
    """`ipsec stop`: ask pluto to shut down and wait for it."""
    from cygnet.cli import whack

    ns, _ = _pluto_parser().parse_known_args(argv)
    ctl = whack.default_ctl(ns.rundir, ns.ctlsocket)
    rc = whack.run(ctl, "shutdown")
    for _ in range(100):
        if not os.path.exists(ctl):
            break
        time.sleep(0.1)
    return rc


def restart(argv: list[str]) -> int:
    stop(argv)
    return start(argv)
