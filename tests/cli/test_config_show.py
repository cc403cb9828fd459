"""`cygnet config show`: effective conns, human and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cygnet.cli.config_show import config

TEXT = """\
config setup
	listen-tcp=yes
conn %default
	ikelifetime=1h
conn base
	left=192.1.2.45
	right=192.1.2.23
	authby=secret
conn west
	also=base
	dpddelay=30s
	modecfgdns="1.2.3.4, 5.6.7.8"
"""


@pytest.fixture
def conf(tmp_path: Path) -> str:
    p = tmp_path / "ipsec.conf"
    p.write_text(TEXT)
    return str(p)


def test_json(conf: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert config(["show", "--config", conf, "--json", "west"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"config", "setup", "conns", "warnings"}
    assert data["setup"]["listen-tcp"] == {"value": True, "default": False}
    assert data["setup"]["logtime"] == {"value": True, "default": True}
    west = data["conns"]["west"]
    assert list(data["conns"]) == ["west"]
    assert west["source"] == f"{conf}:9"
    assert west["options"]["ikelifetime"] == {"value": 3600, "default": False}
    assert west["options"]["salifetime"] == {"value": 28800, "default": True}
    assert west["options"]["dpddelay"] == {"value": 30, "default": False}
    assert west["options"]["authby"] == {"value": ["secret"], "default": False}
    assert west["options"]["modecfgdns"]["value"] == ["1.2.3.4", "5.6.7.8"]
    assert west["left"]["host"] == {"value": "192.1.2.45", "default": False}
    assert west["right"]["sendcert"] == {"value": "sendifasked", "default": True}


def test_human(conf: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert config(["show", "--config", conf]) == 0
    out = capsys.readouterr().out
    assert "\tlisten-tcp=yes\n" in out
    assert "\tlogtime=yes\t# default\n" in out
    assert "conn base\n" in out and "conn west\n" in out
    assert "\tikelifetime=1h\n" in out
    assert "\tsalifetime=8h\t# default\n" in out
    assert "\tretransmit-interval=500ms\t# default\n" in out
    assert "\tmodecfgdns=1.2.3.4,5.6.7.8\n" in out


def test_unknown_name(conf: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert config(["show", "--config", conf, "nosuch"]) == 1
    assert "no conn named 'nosuch'" in capsys.readouterr().err


def test_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "bad.conf"
    p.write_text("conn a\n\tbogus=1\n")
    assert config(["show", "--config", str(p)]) == 3
    assert capsys.readouterr().err == f"{p}:2: bogus: unrecognized keyword\n"
