"""`ipsec addconn` and `ipsec readwriteconf` against Libreswan 4.10's real outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from cygnet.cli.addconn import addconn, readwriteconf

REFERENCE = Path(__file__).parents[2].parent / "shared/reference/libreswan-4.10-outputs"
USED = REFERENCE / "ipsec.conf.used"

needs_reference = pytest.mark.skipif(
    not USED.exists(), reason=f"no Libreswan reference at {REFERENCE}"
)


def _reference(name: str) -> str:
    """A reference output without plab's `# plab: rc=N` trailer."""
    return "".join(
        line
        for line in (REFERENCE / name).read_text().splitlines(True)
        if not line.startswith("# plab:")
    )


@needs_reference
def test_checkconfig_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert addconn(["--checkconfig", "--config", str(USED)]) == 0
    out, err = capsys.readouterr()
    assert out == _reference("A-addconn-checkconfig.txt") == ""
    assert err == ""


def test_checkconfig_error_goes_to_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = tmp_path / "ipsec.conf"
    conf.write_text("conn a\n\tleft=1.2.3.4\n\tright=1.2.3.5\n\tleftsubnet=192.0.1.0/33\n")
    assert addconn(["--checkconfig", "--config", str(conf)]) == 3
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"{conf}:4: leftsubnet: '192.0.1.0/33' is not a valid subnet\n"


def test_checkconfig_prints_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "ipsec.conf"
    conf.write_text("config setup\n\tnat_traversal=yes\n")
    assert addconn(["--checkconfig", "--config", str(conf)]) == 0
    assert (
        capsys.readouterr().err
        == f"{conf}:2: warning: obsolete 'config setup' keyword ignored: nat_traversal=yes\n"
    )


@needs_reference
def test_configsetup_matches_libreswan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Same keys, same order, same encoding as 4.10 (times in ms, enums as numbers)."""
    assert addconn(["--configsetup", "--config", str(USED)]) == 0
    out = capsys.readouterr().out.replace(f"configfile='{USED}'", "configfile='/etc/ipsec.conf'")
    assert out == _reference("A-addconn-configsetup.txt")


def test_configsetup_defaults_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "ipsec.conf"
    conf.write_text("config setup\n\tlisten-tcp=yes\n\tikev1-policy=accept\n\tshuntlifetime=1m\n")
    assert addconn(["--configsetup", "--config", str(conf), "--ctlsocket", "/x.ctl"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:4] == [
        "export confreadstatus=''",
        f"export configfile='{conf}'",
        "export ctlsocket='/x.ctl'",
        "export ikev1_policy='0'",
    ]
    assert "export listen_tcp='yes'" in lines
    assert "export shuntlifetime='60000'" in lines
    assert "export logtime='yes'" in lines and "export logappend='yes'" in lines
    assert not any(line.startswith(("export logfile", "export plutodebug")) for line in lines)


@needs_reference
def test_liststack(capsys: pytest.CaptureFixture[str]) -> None:
    assert addconn(["--liststack", "--config", str(USED)]) == 0
    assert capsys.readouterr().out == _reference("A-addconn-liststack.txt")


def test_liststack_none(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "ipsec.conf"
    conf.write_text("config setup\n\tprotostack=netkey\n")
    assert addconn(["--liststack", "--config", str(conf)]) == 0
    assert capsys.readouterr().out == "xfrm\n"


def test_list_by_auto(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "ipsec.conf"
    conf.write_text(
        "conn a\n\tauto=add\nconn b\n\tauto=start\nconn c\n\tauto=route\nconn d\n\tauto=ondemand\nconn e\n"
    )
    expected = {
        "--listall": "a b c d e \n",
        "--listadd": "a \n",
        "--liststart": "b \n",
        "--listroute": "c d \n",
        "--listignore": "e \n",
    }
    for flag, out in expected.items():
        assert addconn([flag, "--config", str(conf)]) == 0
        assert capsys.readouterr().out == out, flag


def test_missing_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert addconn(["--checkconfig", "--config", str(tmp_path / "none.conf")]) == 3
    assert "can't load file" in capsys.readouterr().err


@needs_reference
def test_readwriteconf(capsys: pytest.CaptureFixture[str]) -> None:
    assert readwriteconf(["--config", str(USED)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("config setup\n\tplutodebug=none\n\tlogfile=/run/lab/west/pluto.log\n")
    assert "conn plab\n\tleft=192.1.2.45\n\tleftid=@west\n" in out
    assert "\tike=aes128-sha2_256;modp2048\n" in out
    assert "# default" not in out


def test_normalised_config_reads_back_the_same(tmp_path: Path) -> None:
    """What readwriteconf / config show print is itself a valid ipsec.conf with the same meaning."""
    from cygnet.cli.addconn import normalised
    from cygnet.config import loads_config
    from tests.config.spec_blocks import SPEC, extract_blocks, fill_elisions

    if not SPEC.exists():
        pytest.skip(f"the spec is not at {SPEC}")
    for _, block in extract_blocks(SPEC.read_text()):
        first = loads_config(fill_elisions(block))
        for with_defaults in (False, True):
            again = loads_config(normalised(first, include_defaults=with_defaults))
            assert list(again.conns) == list(first.conns)
            for name, conn in first.conns.items():
                other = again.conns[name]
                assert dict(other.options) == dict(conn.options)
                assert dict(other.left.options) == dict(conn.left.options)
                assert dict(other.right.options) == dict(conn.right.options)
            assert dict(again.setup.options) == dict(first.setup.options)


def test_protostack_userspace_is_ours_to_list(tmp_path) -> None:
    """Cygnet's own stack name (ESP over TUN) is accepted and listed like Libreswan's."""
    import subprocess
    import sys

    conf = tmp_path / "ipsec.conf"
    conf.write_text("config setup\n\tprotostack=userspace\n")
    out = subprocess.run([sys.executable, "-m", "cygnet.cli.main", "addconn", "--config",
                          str(conf), "--liststack"], capture_output=True, text=True)
    assert (out.returncode, out.stdout) == (0, "userspace\n")
