"""The line rules of Libreswan's scanner: columns, quotes, comments."""

from __future__ import annotations

import pytest

from cygnet.config.errors import ConfigError
from cygnet.config.lexer import CONN, INCLUDE, KEYWORD, SETUP, VERSION, tokenize


def toks(text: str) -> list[tuple[str, str, str, int]]:
    return [(t.kind, t.key, t.value, t.line) for t in tokenize(text, "f.conf")]


def test_sections_keywords_and_comments() -> None:
    text = (
        "# a comment\n"
        "version 2.0\n"
        "\n"
        "config setup\n"
        "\tlogfile=/tmp/x.log   # trailing comment\n"
        "conn west  # named\n"
        "    left = 192.1.2.45\n"
        "  \t  # indented comment\n"
        '    modecfgdns="1.2.3.4, 5.6.7.8"\n'
        "    leftsubnets={192.0.1.0/24 192.0.3.0/24}\n"
        "include /etc/ipsec.d/*.conf\n"
    )
    assert toks(text) == [
        (VERSION, "", "2.0", 2),
        (SETUP, "", "", 4),
        (KEYWORD, "logfile", "/tmp/x.log", 5),
        (CONN, "", "west", 6),
        (KEYWORD, "left", "192.1.2.45", 7),
        (KEYWORD, "modecfgdns", "1.2.3.4, 5.6.7.8", 9),
        (KEYWORD, "leftsubnets", "192.0.1.0/24 192.0.3.0/24", 10),
        (INCLUDE, "", "/etc/ipsec.d/*.conf", 11),
    ]


def test_version_2_accepted() -> None:
    assert toks("version 2\n") == [(VERSION, "", "2", 1)]


def test_hash_inside_a_value_is_kept() -> None:
    # `#` starts a comment only after whitespace
    assert toks("conn a\n\tleftid=@#abcd\n")[1][2] == "@#abcd"


def test_empty_value() -> None:
    assert toks("conn a\n\tleftid=\n")[1][1:3] == ("leftid", "")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('conn a\n\tmodecfgbanner="hello\n', "f.conf:2: modecfgbanner: unterminated quoted string"),
        (
            "conn a\nleftid=@west\n",
            "f.conf:2: leftid: keyword line 'leftid=@west' must be indented with spaces or tabs",
        ),
        ("conn a\n  conn b\n", "f.conf:2: section header 'conn b' must start in column 0"),
        ("conn\n", "f.conf:1: conn without a name"),
        ("conn a\n\tleft 1.2.3.4\n", "f.conf:2: left: syntax error, expected 'left=value'"),
        ("conn a\n\tleft=1.2.3.4 junk\n", "f.conf:2: left: unexpected text 'junk' after the value"),
        ("config stuff\n", "f.conf:1: syntax error in 'config stuff', expected 'config setup'"),
        ("version 3\n", "f.conf:1: unsupported version '3', expected 2 or 2.0"),
        ("hello world\n", "f.conf:1: syntax error in 'hello world'"),
    ],
)
def test_malformed_lines(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        toks(text)
    assert str(e.value) == message


def test_only_newline_ends_a_line() -> None:
    """Libreswan counts `\\n` only; a form feed inside a value must not shift line numbers."""
    assert toks("conn a\n\tleftid=@x\x0cy\n\tleft=1.2.3.4")[2] == (KEYWORD, "left", "1.2.3.4", 3)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("\x1f", "<string>:1: syntax error in '\\x1f'"),
        ("conn\x1fx", "<string>:1: syntax error in 'conn\\x1fx'"),
        ("\x0b\n", "<string>:1: syntax error in '\\x0b'"),
    ],
)
def test_only_spaces_and_tabs_are_blanks(text: str, message: str) -> None:
    """Python's str.split() splits at \\x1c-\\x1f and \\v too; Libreswan's lexer does not."""
    with pytest.raises(ConfigError) as e:
        list(tokenize(text, "<string>"))
    assert str(e.value) == message
