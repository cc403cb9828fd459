"""The `ipsec`/`cygnet` dispatcher: every verb in the table resolves, unknown ones fail."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cygnet.cli import main


@pytest.mark.parametrize("verb", sorted({**main.IPSEC_VERBS, **main.CYGNET_VERBS}))
def test_every_verb_resolves_to_a_function(verb: str) -> None:
    table = {**main.IPSEC_VERBS, **main.CYGNET_VERBS}
    assert callable(main._resolve(table[verb]))


def test_unknown_verb_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main.ipsec_main(["frobnicate"]) == 2
    assert "ipsec: unknown command: frobnicate" in capsys.readouterr().err


def test_cygnet_only_verbs_are_not_on_ipsec(capsys: pytest.CaptureFixture[str]) -> None:
    assert main.ipsec_main(["config", "show"]) == 2


def test_version_aliases(capsys: pytest.CaptureFixture[str]) -> None:
    assert main.ipsec_main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("Cygnet ")


def test_console_script_runs() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "cygnet.cli.main", "version"],
        capture_output=True, text=True, check=True,
    )
    assert out.stdout.startswith("Cygnet ")
