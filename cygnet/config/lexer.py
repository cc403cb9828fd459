"""Split ipsec.conf into lines the way Libreswan's scanner reads them.

Libreswan's grammar is line based: section headers (`config setup`,
`conn NAME`), `include FILE` and `version 2` start in column 0; the
`keyword=value` lines of a section start with spaces or tabs. `#` starts a
comment anywhere after whitespace; a value may be `"quoted"` (to hold
spaces) or `{braced}` (leftsubnets). A blank or comment-only line is skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from cygnet.config.errors import ConfigError

#: token kinds produced by `tokenize`
VERSION, SETUP, CONN, INCLUDE, KEYWORD = "version", "setup", "conn", "include", "keyword"

_KEY = re.compile(r"[^\s=\"#]+")


@dataclass(frozen=True)
class Token:
    """One meaningful line: its kind, the words on it, and where it came from."""

    kind: str
    file: str
    line: int
    key: str = ""
    value: str = ""
    quoted: bool = False


def _value(rest: str, file: str, lineno: int, key: str) -> tuple[str, bool, str]:
    """Read one value from `rest`; return (value, quoted, what follows it)."""
    if rest.startswith('"'):
        end = rest.find('"', 1)
        if end < 0:
            raise ConfigError("unterminated quoted string", file=file, line=lineno, keyword=key)
        return rest[1:end], True, rest[end + 1 :]
    if rest.startswith("{"):
        end = rest.find("}", 1)
        if end < 0:
            raise ConfigError("unterminated '{' list", file=file, line=lineno, keyword=key)
        return rest[1:end].strip(), True, rest[end + 1 :]
    m = re.match(r"[^ \t\"]*", rest)  # Libreswan: only spaces and tabs separate
    assert m is not None
    val = m.group(0)
    if "#" in val and val.index("#") == 0:
        return "", False, rest
    return val, False, rest[m.end() :]


def _trailing(after: str, file: str, lineno: int, key: str | None) -> None:
    after = after.strip(" \t")
    if after and not after.startswith("#"):
        raise ConfigError(
            f"unexpected text '{after}' after the value", file=file, line=lineno, keyword=key
        )


def _words(text: str) -> list[str]:
    """Split off the first word at spaces/tabs only: Libreswan's lexer knows no other
    blanks (Python's str.split() would also split at \x1c-\x1f and friends)."""
    return re.split(r"[ \t]+", text, maxsplit=1)


def _show(text: str) -> str:
    """Text for an error message, with control characters made visible."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def tokenize(text: str, file: str) -> Iterator[Token]:
    """Yield the tokens of one file; raise ConfigError on a malformed line."""
    for lineno, raw in enumerate(text.split("\n"), start=1):  # only \n ends a line
        line = raw.rstrip("\r")
        stripped = line.strip(" \t")
        if not stripped or stripped.startswith("#"):
            continue
        if line[0] in " \t":
            word = _words(stripped)[0]
            if word in ("conn", "config", "include", "version") and "=" not in word:
                raise ConfigError(
                    f"section header '{_show(stripped)}' must start in column 0",
                    file=file,
                    line=lineno,
                )
            m = _KEY.match(stripped)
            if m is None:
                raise ConfigError(f"syntax error in '{_show(stripped)}'", file=file, line=lineno)
            key = m.group(0)
            rest = stripped[m.end() :].lstrip(" \t")
            if not rest.startswith("="):
                raise ConfigError(
                    f"syntax error, expected '{key}=value'", file=file, line=lineno, keyword=key
                )
            rest = rest[1:].lstrip(" \t")
            value, quoted, after = _value(rest, file, lineno, key)
            _trailing(after, file, lineno, key)
            yield Token(KEYWORD, file, lineno, key, value, quoted)
            continue
        words = _words(stripped)
        head, rest = words[0], (words[1] if len(words) > 1 else "")
        if head == "config":
            if rest.split("#", 1)[0].strip() != "setup":
                raise ConfigError(
                    f"syntax error in '{_show(stripped)}', expected 'config setup'", file=file, line=lineno
                )
            yield Token(SETUP, file, lineno)
        elif head == "conn":
            if not rest or rest.startswith("#"):
                raise ConfigError("conn without a name", file=file, line=lineno)
            name, quoted, after = _value(rest, file, lineno, None)  # type: ignore[arg-type]
            _trailing(after, file, lineno, None)
            if not name:
                raise ConfigError("conn without a name", file=file, line=lineno)
            yield Token(CONN, file, lineno, value=name)
        elif head == "include":
            if not rest or rest.startswith("#"):
                raise ConfigError("include without a file name", file=file, line=lineno)
            name, quoted, after = _value(rest, file, lineno, None)  # type: ignore[arg-type]
            _trailing(after, file, lineno, None)
            yield Token(INCLUDE, file, lineno, value=name)
        elif head == "version":
            ver = rest.split("#", 1)[0].strip()
            if ver not in ("2", "2.0"):
                raise ConfigError(
                    f"unsupported version '{ver}', expected 2 or 2.0", file=file, line=lineno
                )
            yield Token(VERSION, file, lineno, value=ver)
        elif "=" in head:
            raise ConfigError(
                f"keyword line '{_show(stripped)}' must be indented with spaces or tabs",
                file=file,
                line=lineno,
                keyword=head.split("=", 1)[0],
            )
        else:
            raise ConfigError(f"syntax error in '{_show(stripped)}'", file=file, line=lineno)
