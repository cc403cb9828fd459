"""Daemon verbs: argument forms, and Libreswan's answer when pluto is not running."""

from __future__ import annotations

import json
import os
import socket
import threading
from pathlib import Path

import pytest

from cygnet.cli import control, main


@pytest.mark.parametrize(
    "argv",
    [
        ["auto", "--up", "mytunnel"],
        ["auto", "--add", "mytunnel"],
        ["up", "mytunnel"],
        ["trafficstatus"],
        ["whack", "--trafficstatus"],
        ["whack", "--fipsstatus"],
        ["whack", "--name", "c", "--initiate"],
        ["status", "--json"],
    ],
)
def test_pluto_not_running(argv: list[str], tmp_path: Path, capsys) -> None:
    ctl = tmp_path / "pluto.ctl"
    assert main.ipsec_main([*argv, "--ctlsocket", str(ctl)]) == 1
    err = capsys.readouterr().err
    assert err == f'whack: Pluto is not running (no "{ctl}")\n'


def test_auto_requires_a_name(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as e:
        control.auto(["--up", "--ctlsocket", str(tmp_path / "x")])
    assert e.value.code == 2


class FakePluto:
    """A control socket that records the request and answers with canned lines.

    Stands in for the daemon only to test the client's framing; the daemon's
    own tests exercise the real server.
    """

    def __init__(self, path: Path, replies: list[dict]) -> None:
        self.path = path
        self.replies = replies
        self.request: dict | None = None
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(1)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            data = b""
            while not data.endswith(b"\n"):
                data += conn.recv(4096)
            self.request = json.loads(data)
            for r in self.replies:
                conn.sendall(json.dumps(r).encode() + b"\n")

    def close(self) -> None:
        self.thread.join(timeout=5)
        self.sock.close()
        os.unlink(self.path)


def test_up_streams_lines_and_returns_rc(tmp_path: Path, capsys) -> None:
    ctl = tmp_path / "pluto.ctl"
    pluto = FakePluto(ctl, [
        {"rc": 181, "line": '181 "c" #1: initiating IKEv2 connection'},
        {"rc": 3, "line": '003 "c" #1: IKE SA authentication request rejected by peer: AUTHENTICATION_FAILED'},
        {"done": True, "rc": 36},
    ])
    rc = main.ipsec_main(["auto", "--up", "c", "--ctlsocket", str(ctl)])
    pluto.close()
    assert rc == 36
    assert pluto.request == {
        "verb": "up",
        "args": {"json": False, "name": "c", "config": "/etc/ipsec.conf", "asynchronous": False},
    }
    assert capsys.readouterr().out.splitlines() == [
        '181 "c" #1: initiating IKEv2 connection',
        '003 "c" #1: IKE SA authentication request rejected by peer: AUTHENTICATION_FAILED',
    ]


def test_json_answer_is_printed_as_json(tmp_path: Path, capsys) -> None:
    ctl = tmp_path / "pluto.ctl"
    doc = {"states": [{"serial": 2, "connection": "c", "inBytes": 84}]}
    pluto = FakePluto(ctl, [{"json": doc}, {"done": True, "rc": 0}])
    rc = main.ipsec_main(["trafficstatus", "--json", "--ctlsocket", str(ctl)])
    pluto.close()
    assert rc == 0
    assert json.loads(capsys.readouterr().out) == doc
