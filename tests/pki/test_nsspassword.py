"""The nsspassword file, parsed and logged exactly as Libreswan's password callback does."""

from __future__ import annotations

from pathlib import Path

from cygnet.pki.nsspassword import (
    FIPS_TOKEN_NAME,
    TOKEN_NAME,
    find_password,
    fips_mode,
    password_log_line,
    token_name,
    write_password_file,
)


def test_spec_journal_line() -> None:
    # RHEL 9 §4.9: "...with length 20 passed to NSS" for MyStrongPasswordHere.
    assert password_log_line("/etc/ipsec.d/nsspassword", TOKEN_NAME, 20) == (
        'NSS Password from file "/etc/ipsec.d/nsspassword" for token "NSS Certificate DB" '
        "with length 20 passed to NSS"
    )


def test_finds_token_among_lines(tmp_path: Path) -> None:
    f = tmp_path / "nsspassword"
    f.write_bytes(b"other token:nope\r\nNSS Certificate DB:MyStrongPasswordHere\n")
    found = find_password(TOKEN_NAME, str(f))
    assert found.password == "MyStrongPasswordHere"
    assert found.log == [password_log_line(str(f), TOKEN_NAME, 20)]


def test_password_may_contain_colons_and_spaces(tmp_path: Path) -> None:
    f = tmp_path / "pw"
    f.write_text("NSS Certificate DB:a b:c\n")
    assert find_password(TOKEN_NAME, str(f)).password == "a b:c"


def test_unterminated_last_line_is_ignored_like_libreswan(tmp_path: Path) -> None:
    f = tmp_path / "pw"
    f.write_text("NSS Certificate DB:secret")
    found = find_password(TOKEN_NAME, str(f))
    assert found.password is None
    assert "ends with a partial line (ignored)" in found.log[0]


def test_missing_file_and_missing_token(tmp_path: Path) -> None:
    missing = find_password(TOKEN_NAME, str(tmp_path / "none"))
    assert missing.password is None
    assert missing.log == [
        f'NSS Password file "{tmp_path / "none"}" for token "NSS Certificate DB" '
        "could not be opened for reading"
    ]
    f = tmp_path / "pw"
    f.write_text("NSS FIPS 140-2 Certificate DB:x\n")
    other = find_password(TOKEN_NAME, str(f))
    assert other.password is None
    assert other.log[-1] == f'NSS Password file "{f}" does not contain token "NSS Certificate DB"'
    assert find_password(FIPS_TOKEN_NAME, str(f)).password == "x"


def test_token_name_follows_fips_mode(tmp_path: Path) -> None:
    flag = tmp_path / "fips_enabled"
    flag.write_text("1\n")
    assert fips_mode(str(flag))
    flag.write_text("0\n")
    assert not fips_mode(str(flag))
    assert not fips_mode(str(tmp_path / "absent"))
    assert token_name(True) == FIPS_TOKEN_NAME
    assert token_name(False) == TOKEN_NAME


def test_write_password_file_is_private(tmp_path: Path) -> None:
    f = tmp_path / "pw"
    write_password_file(str(f), "pw")
    assert f.read_text() == "NSS Certificate DB:pw\n"
    assert f.stat().st_mode & 0o777 == 0o600
