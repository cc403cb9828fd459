"""The client side of pluto's control socket ("whack").

The socket speaks JSON lines: one request object, then a stream of reply
objects `{"rc": N, "line": "..."}` (console lines, printed as they come, the
way `ipsec auto --up` streams progress) or `{"json": {...}}` for `--json`
answers, closed by `{"done": true, "rc": N}`.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Iterator
from typing import Any

from cygnet import paths

#: Libreswan's whack exits 1 ("RC_WHACK_PROBLEM") when it cannot reach pluto.
RC_WHACK_PROBLEM = 1


class PlutoNotRunning(Exception):
    """No daemon listens on the control socket."""

    def __init__(self, path: str) -> None:
        super().__init__(f'whack: Pluto is not running (no "{path}")')
        self.path = path


def _connect(path: str) -> socket.socket:
    if not os.path.exists(path):
        raise PlutoNotRunning(path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    except (ConnectionRefusedError, FileNotFoundError) as e:
        s.close()
        raise PlutoNotRunning(path) from e
    return s


def request(ctl: str, verb: str, **args: Any) -> Iterator[dict[str, Any]]:
    """Send one request and yield the daemon's reply objects until `done`."""
    with _connect(ctl) as s:
        s.sendall(json.dumps({"verb": verb, "args": args}).encode() + b"\n")
        buf = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if line:
                    reply = json.loads(line)
                    yield reply
                    if reply.get("done"):
                        return


def run(ctl: str, verb: str, *, as_json: bool = False, **args: Any) -> int:
    """Run a verb against pluto, print what it says, return the exit code.

    Console lines keep Libreswan's numeric prefixes (`002 "c" #1: ...`).
    """
    rc = 0
    collected: list[Any] = []
    try:
        for reply in request(ctl, verb, json=as_json, **args):
            if "line" in reply:
                print(reply["line"], flush=True)
            if "json" in reply:
                collected.append(reply["json"])
            if reply.get("done"):
                rc = int(reply.get("rc", 0))
    except PlutoNotRunning as e:
        print(e, file=sys.stderr)
        return RC_WHACK_PROBLEM
    except (OSError, ValueError) as e:
        print(f"whack: lost contact with pluto: {e}", file=sys.stderr)
        return RC_WHACK_PROBLEM
    if as_json:
        doc = collected[0] if len(collected) == 1 else collected
        print(json.dumps(doc, indent=2, sort_keys=True))
    return rc


def default_ctl(rundir: str | None = None, ctlsocket: str | None = None) -> str:
    return paths.ctl_socket(rundir, ctlsocket)
