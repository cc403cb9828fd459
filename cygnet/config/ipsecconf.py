"""Read ipsec.conf files into sections of typed settings.

This is the syntax layer: it follows `include` (globs relative to the
including file, as deep as Libreswan's limit of 10), checks that every
keyword exists in its section and that its value parses, and keeps each
setting's file and line so that later errors can point at it. It does not
merge `also=` or `%default`; `conn.py` builds the effective connections.

Libreswan 4.10's rules kept here: a literal include that is missing only
warns (`warning: could not open include filename: 'X'`) and a wildcard
include matching nothing is silent; an obsolete keyword warns and is
ignored; a keyword of the other section warns and is ignored; an unknown
keyword is an error; the same keyword set twice in one section with a
different value is an error.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field

from cygnet.config import keywords as K
from cygnet.config.errors import ConfigError, format_diag
from cygnet.config.lexer import CONN, INCLUDE, KEYWORD, SETUP, VERSION, Token, tokenize

MAX_INCLUDE_DEPTH = 10


@dataclass(frozen=True)
class Setting:
    """One `keyword=value` as written: the keyword, its typed value, and its place."""

    keyword: K.Keyword
    side: str | None
    value: object
    text: str
    file: str
    line: int

    @property
    def name(self) -> str:
        """The canonical spelling (`leftsubnet`, `salifetime` for `keylife`)."""
        return K.spelled(self.keyword, self.side)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class Section:
    """A `config setup` or `conn NAME` section and its settings in file order."""

    kind: str  # "config setup" or "conn"
    name: str
    file: str
    line: int
    settings: dict[str, Setting] = field(default_factory=dict)
    also: list[Setting] = field(default_factory=list)


@dataclass
class ParsedFile:
    """Everything read from one ipsec.conf and its includes."""

    setup: Section
    conns: dict[str, Section]
    defaults: list[Section]
    warnings: list[str]
    files: list[str]


class _Reader:
    def __init__(self) -> None:
        self.setup = Section(K.SETUP, "setup", "", 0)
        self.conns: dict[str, Section] = {}
        self.defaults: list[Section] = []
        self.warnings: list[str] = []
        self.files: list[str] = []
        self.current: Section | None = None

    def warn(self, tok: Token, message: str) -> None:
        self.warnings.append(format_diag(f"warning: {message}", tok.file, tok.line, None))

    def read_file(self, path: str, depth: int) -> None:
        try:
            with open(path, encoding="utf-8", errors="surrogateescape") as f:
                text = f.read()
        except OSError as e:
            raise ConfigError(f"can't load file '{path}': {e.strerror}") from None
        self.files.append(path)
        for tok in tokenize(text, path):
            self.token(tok, depth)

    def token(self, tok: Token, depth: int) -> None:
        if tok.kind == VERSION:
            return
        if tok.kind == SETUP:
            self.current = self.setup
            if not self.setup.file:
                self.setup.file, self.setup.line = tok.file, tok.line
            return
        if tok.kind == CONN:
            sec = Section(K.CONN, tok.value, tok.file, tok.line)
            if tok.value == "%default":
                self.defaults.append(sec)
            else:
                old = self.conns.get(tok.value)
                if old is not None:
                    raise ConfigError(
                        f'conn "{tok.value}" is already defined at {old.file}:{old.line}',
                        file=tok.file,
                        line=tok.line,
                    )
                self.conns[tok.value] = sec
            self.current = sec
            return
        if tok.kind == INCLUDE:
            self.include(tok, depth)
            self.current = None
            return
        assert tok.kind == KEYWORD
        self.keyword(tok)

    def include(self, tok: Token, depth: int) -> None:
        pattern = tok.value
        if not os.path.isabs(pattern):
            pattern = os.path.join(os.path.dirname(tok.file), pattern)
        if depth + 1 >= MAX_INCLUDE_DEPTH:
            raise ConfigError(
                f"include '{tok.value}': max inclusion depth reached", file=tok.file, line=tok.line
            )
        matches = sorted(glob.glob(pattern))
        if not matches:
            if not glob.has_magic(pattern):
                self.warn(tok, f"could not open include filename: '{tok.value}'")
            return
        for path in matches:
            self.read_file(path, depth + 1)

    def keyword(self, tok: Token) -> None:
        sec = self.current
        if sec is None:
            raise ConfigError(
                "keyword outside of any section (a 'config setup' or 'conn NAME' line must come first)",
                file=tok.file,
                line=tok.line,
                keyword=tok.key,
            )
        if sec.kind == K.SETUP:
            kw: K.Keyword | None = K.lookup_setup(tok.key)
            side = None
            if kw is None and K.lookup_conn(tok.key) is not None:
                self.warn(tok, f"invalid 'config setup' keyword ignored: {tok.key}={tok.value}")
                return
        else:
            found = K.lookup_conn(tok.key)
            kw, side = found if found else (None, None)
            if kw is None and K.lookup_setup(tok.key) is not None:
                where = "'conn %default'" if sec.name == "%default" else "conn"
                self.warn(tok, f"invalid {where} keyword ignored: {tok.key}={tok.value}")
                return
        if kw is None:
            raise ConfigError("unrecognized keyword", file=tok.file, line=tok.line, keyword=tok.key)
        section_word = {K.SETUP: "'config setup'"}.get(
            sec.kind, "'conn %default'" if sec.name == "%default" else "conn"
        )
        if kw.obsolete:
            self.warn(tok, f"obsolete {section_word} keyword ignored: {tok.key}={tok.value}")
            return
        if tok.value == "" and not tok.quoted:
            # Libreswan: `keyword=` with nothing after it is meaningless and ignored
            return
        if kw.name == "also" and sec.name == "%default":
            self.warn(tok, f"invalid 'conn %default' keyword ignored: {tok.key}={tok.value}")
            return
        try:
            value = kw.parse(tok.value)
        except ValueError as e:
            raise ConfigError(str(e), file=tok.file, line=tok.line, keyword=tok.key) from None
        setting = Setting(kw, side, value, tok.value, tok.file, tok.line)
        if kw.repeatable:
            sec.also.append(setting)
            return
        old = sec.settings.get(setting.name)
        if old is not None:
            if old.value == value:
                return
            what = "config setup" if sec.kind == K.SETUP else f'conn "{sec.name}"'
            raise ConfigError(
                f"duplicate key in {what}: '{old.text}' was already set at {old.where}",
                file=tok.file,
                line=tok.line,
                keyword=tok.key,
            )
        sec.settings[setting.name] = setting


def parse_file(path: str) -> ParsedFile:
    """Read `path` and its includes; raise ConfigError on the first error."""
    r = _Reader()
    r.read_file(path, 0)
    return ParsedFile(r.setup, r.conns, r.defaults, r.warnings, r.files)


def parse_text(text: str, path: str = "<string>") -> ParsedFile:
    """Parse ipsec.conf text (includes resolve relative to `path`'s folder)."""
    r = _Reader()
    r.files.append(path)
    for tok in tokenize(text, path):
        r.token(tok, 0)
    return ParsedFile(r.setup, r.conns, r.defaults, r.warnings, r.files)
