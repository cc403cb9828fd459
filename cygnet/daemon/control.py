"""The control socket: whack's side of `ipsec auto`, `ipsec whack`, the status verbs.

One JSON request per connection; replies are console lines (with whack's
numeric code) or one JSON document, then `{"done": true, "rc": N}`. `up`
streams the connection's log lines until its Child SA is up or it fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from typing import TYPE_CHECKING, Any

from cygnet.daemon import status

if TYPE_CHECKING:
    from cygnet.daemon.pluto import Pluto

#: How long `ipsec auto --up` waits before giving up on its own (pluto's whack does the same).
UP_TIMEOUT = 120.0


class ControlServer:
    def __init__(self, pluto: Pluto, path: str) -> None:
        self.pluto = pluto
        self.path = path
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        self._server = await asyncio.start_unix_server(self._serve, path=self.path)
        os.chmod(self.path, 0o600)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        def send(obj: dict[str, Any]) -> None:
            writer.write(json.dumps(obj).encode() + b"\n")

        try:
            line = await reader.readline()
            req = json.loads(line)
            verb, args = str(req["verb"]), dict(req.get("args") or {})
        except (ValueError, KeyError, TypeError):
            send({"rc": 36, "line": "036 malformed request"})
            send({"done": True, "rc": 1})
            await writer.drain()
            writer.close()
            return
        try:
            rc = await self.dispatch(verb, args, send)
        except Exception as e:  # a bug must not kill the daemon; say it and carry on
            self.pluto.log.log(f"ERROR: control request {verb} failed: {e!r}")
            send({"rc": 36, "line": f"036 internal error: {e}"})
            rc = 1
        send({"done": True, "rc": rc})
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    async def dispatch(self, verb: str, args: dict[str, Any], send: Any) -> int:
        p = self.pluto
        name = args.get("name")
        as_json = bool(args.get("json"))

        def console(rc: int, text: str) -> None:
            send({"rc": rc, "line": f"{rc:03d} {text}"})

        def for_conn(rc: int, text: str) -> None:
            if name and (text.startswith(f'"{name}"') or f'"{name}"' in text[:len(name) + 12]):
                console(rc, text)

        if verb in status.VERBS:
            if as_json:
                send({"json": status.as_json(p, verb, name)})
            else:
                for line in status.lines(p, verb, name):
                    send({"rc": 0, "line": line})
            return 0
        if verb == "shutdown":
            p.request_stop()
            return 0
        if verb == "rereadsecrets":
            p.reread_secrets()
            return 0
        if verb == "rereadall":
            p.reread_secrets()
            return 0
        if not name:
            console(36, f"{verb}: a connection name is required")
            return 1
        def errors_only(rc: int, text: str) -> None:
            if rc:  # `ipsec auto --add` is silent unless something is wrong (Libreswan 4.10)
                console(rc, text)

        detach = p.log.attach(for_conn if verb not in ("add", "replace") else errors_only)
        try:
            if verb == "add":
                return p.add_conn(name, args.get("config"))
            if verb == "replace":
                p.delete_conn(name)
                return p.add_conn(name, args.get("config"))
            if verb == "delete":
                p.delete_conn(name)
                return 0
            if verb == "down":
                p.terminate(name)
                return 0
            if verb == "route":
                p.route_conn(name)
                return 0
            if verb in ("rekey-ike", "rekey-child"):
                return p.rekey(name, "ike" if verb == "rekey-ike" else "child")
            if verb == "unroute":
                p.unroute_conn(name)
                return 0
            if verb == "up":
                waiter = p.initiate(name)
                if waiter is None:
                    return 36
                if args.get("asynchronous"):
                    return 0
                try:
                    return await asyncio.wait_for(asyncio.shield(waiter.done), UP_TIMEOUT)
                except TimeoutError:
                    return 1
            console(36, f"unknown request {verb}")
            return 1
        finally:
            detach()
