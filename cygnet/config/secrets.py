"""``ipsec.secrets``: pre-shared keys, PPKs and XAUTH passwords, as Libreswan 4.10 reads them.

The file is a sequence of records.  A record starts with a token in the first
column and continues over indented lines; ``#`` after whitespace (or at the
start of a line) begins a comment.  A secret record is::

    [SELECTOR ...] : KIND VALUE...

where the selectors are IKE IDs (``@west``, ``user@example.com``, addresses,
``%any``, ``%any6``, quoted DNs) and KIND is ``PSK``, ``XAUTH`` or ``PPKS``.
``RSA``/``ECDSA`` records are remembered but carry nothing Cygnet uses: since
Libreswan 4.0 private keys live in the NSS database and pluto ignores them.
``include PATTERN`` reads more files (a glob, relative to the including file's
folder), at most 10 levels deep as in Libreswan.

Values are quoted strings (``"..."``, ``'...'`` or backquotes; no escapes) or
Libreswan ``ttodata`` forms: ``0x`` hex (``_`` may separate byte groups),
``0s`` base64 and ``0t`` text running to the end of the line.

Lookups follow Libreswan's ``lsw_find_secret_by_id()`` scoring so that the same
file picks the same key under Cygnet as under pluto; see `Secrets.find`.

Libreswan logs a bad record and skips it.  `load_secrets` raises the first
problem as a `SecretsError` by default (``strict=False`` gives pluto's
skip-and-log behaviour, with the messages on `Secrets.errors`).  Secret values
never appear in reprs or messages.
"""

from __future__ import annotations

import contextlib
import glob
import hmac
import ipaddress
import os
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum, StrEnum

from cygnet.config.errors import FileLineError
from cygnet.config.fileperms import check_permissions

__all__ = [
    "MAX_INCLUDE_DEPTH",
    "Id",
    "IdKind",
    "Record",
    "Secret",
    "SecretKind",
    "Secrets",
    "SecretsError",
    "Token",
    "check_permissions",
    "load_secrets",
    "parse_id",
    "tokenize",
    "ttodata",
]

# Libreswan refuses to open a file more than 10 includes below the top one.
MAX_INCLUDE_DEPTH = 10
# Quoted PSKs shorter than this draw Libreswan's "weak secret" warning.
WEAK_PSK_LENGTH = 8


class SecretsError(FileLineError):
    """A problem in a secrets file, located as ``FILE:LINE: message``."""


# --------------------------------------------------------------------------
# Lexer (Libreswan lib/libswan/lex.c semantics)


@dataclass(frozen=True)
class Token:
    """One token; `quote` is the quote character that surrounded it, if any."""

    text: str
    line: int
    quote: str = ""


@dataclass
class Record:
    """Tokens from a first-column token up to the next one; `line` is where it starts."""

    line: int
    tokens: list[Token]


_BLANKS = " \t"
_TRAILING_SPACE = " \t\n\v\f\r"


def tokenize(text: str, report: Callable[[int, str], None]) -> list[Record]:
    """Split `text` into records the way Libreswan's lexer does.

    `text` is the file decoded as latin-1 so every byte survives.  Problems
    (unterminated quote, leading indentation) go to `report(line, message)`,
    which may raise; if it returns, the lexer recovers as Libreswan does.
    """
    records: list[Record] = []
    current: Record | None = None
    orphans_reported = False
    for lineno, raw in enumerate(text.split("\n"), start=1):
        line = raw.split("\0", 1)[0].rstrip(_TRAILING_SPACE)
        tokens = _tokenize_line(line, lineno, report)
        if not tokens:
            continue
        if line[0] not in _BLANKS:
            current = Record(lineno, tokens)
            records.append(current)
        elif current is not None:
            current.tokens.extend(tokens)
        elif not orphans_reported:
            orphans_reported = True
            report(lineno, "file starts with indentation (continuation notation)")
    return records


def _tokenize_line(line: str, lineno: int, report: Callable[[int, str], None]) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if c in _BLANKS:
            i += 1
        elif c == "#":
            break
        elif c in "\"'`":
            end = line.find(c, i + 1)
            if end < 0:
                report(lineno, "unterminated string")
                tokens.append(Token(line[i:], lineno))
                break
            tokens.append(Token(line[i + 1 : end], lineno, c))
            i = end + 1
        elif line.startswith("0t", i):
            # Libreswan: a 0t (text) token runs to the end of the line.
            tokens.append(Token(line[i:], lineno))
            break
        else:
            j = i + 1
            while j < n and line[j] not in _BLANKS:
                j += 1
            if j - 1 > i and line[j - 1] == ":":
                tokens.append(Token(line[i : j - 1], lineno))
                tokens.append(Token(":", lineno))
            else:
                tokens.append(Token(line[i:j], lineno))
            i = j
    return tokens


# --------------------------------------------------------------------------
# ttodata: 0x / 0s / 0t values


class _DataError(ValueError):
    pass


_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_HEX = "0123456789abcdef"


def _badch(ch: str) -> _DataError:
    shown = ch if ch.isprintable() and ord(ch) < 128 else f"\\{ord(ch) & 0o777:03o}"
    return _DataError(f"unknown character (`{shown}') in input")


def ttodata(text: str, base: int = 0) -> bytes:
    """Decode Libreswan's ``ttodata`` forms: ``0x``hex, ``0s``base64, ``0t``text.

    With `base` 16 the text is bare hex (used by ``@#`` key IDs).  Raises
    ValueError with Libreswan's wording on malformed input.
    """
    src = text
    if base == 0:
        if len(src) < 2:
            raise _DataError("input too short to be valid")
        if src[0] != "0":
            raise _DataError("input does not begin with format prefix")
        prefix = src[1].lower()
        if prefix == "x":
            base = 16
        elif prefix == "s":
            base = 64
        elif prefix == "t":
            base = 256
        else:
            raise _DataError("unknown format prefix")
        src = src[2:]
    out = bytearray()
    if base == 256:
        out += src.encode("latin-1", errors="replace")
    elif base == 16:
        i = 0
        while i < len(src):
            if len(src) - i < 2:
                raise _DataError("input ends in mid-byte, perhaps truncated")
            hi, lo = src[i].lower(), src[i + 1].lower()
            if hi not in _HEX:
                raise _badch(src[i])
            if lo not in _HEX:
                raise _badch(src[i + 1])
            out.append(_HEX.index(hi) << 4 | _HEX.index(lo))
            i += 2
            if len(src) - i > 1 and src[i] == "_":
                i += 1
    elif base == 64:
        for i in range(0, len(src), 4):
            group = src[i : i + 4]
            if len(group) < 4:
                raise _DataError("input ends in mid-byte, perhaps truncated")
            out += _unb64(group)
    else:
        raise _DataError("unknown base")
    if not out:
        raise _DataError("no data bytes specified by input")
    return bytes(out)


def _unb64(g: str) -> bytes:
    for k in (0, 1):
        if g[k] not in _B64:
            raise _badch(g[k])
    b0, b1 = _B64.index(g[0]), _B64.index(g[1])
    first = (b0 << 2 | b1 >> 4) & 0xFF
    if g[2] not in _B64:
        if g[2] == "=" and g[3] == "=":
            if b1 & 0xF:
                raise _DataError("bad (non-zero) padding at end of base64 input")
            return bytes([first])
        raise _badch(g[2])
    b2 = _B64.index(g[2])
    second = ((b1 & 0xF) << 4 | b2 >> 2) & 0xFF
    if g[3] not in _B64:
        if g[3] == "=":
            if b2 & 0x3:
                raise _DataError("bad (non-zero) padding at end of base64 input")
            return bytes([first, second])
        raise _badch(g[3])
    b3 = _B64.index(g[3])
    return bytes([first, second, ((b2 & 0x3) << 6 | b3) & 0xFF])


# --------------------------------------------------------------------------
# IDs (Libreswan lib/libswan/id.c: atoid, any_id, same_id)


class IdKind(Enum):
    """IKE ID kinds as Libreswan's selectors know them (plus unresolved names)."""

    NONE = "none"  # wildcard: %none, 0.0.0.0
    IPV4_ADDR = "ipv4"
    IPV6_ADDR = "ipv6"
    FQDN = "fqdn"  # @west
    USER_FQDN = "user-fqdn"  # user@example.com
    DER_ASN1_DN = "dn"  # "C=CA, O=Libreswan, CN=west"
    KEY_ID = "key-id"  # @#0x..., @[text]
    NULL = "null"  # %null
    FROMCERT = "fromcert"  # %fromcert
    HOSTNAME = "hostname"  # bare name Libreswan would resolve through DNS


_DN_ALIASES = {"EMAIL": "E", "EMAILADDRESS": "E", "S": "ST", "SP": "ST", "UID": "UID"}
_DN_TYPE = re.compile(r"^[A-Za-z][A-Za-z0-9-]*$|^[0-9]+(\.[0-9]+)+$")
_DNS_NAME = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_.-]*)$")


@dataclass(frozen=True)
class Id:
    """A parsed IKE ID.  Compare with `same` (Libreswan rules), not ``==``."""

    kind: IdKind
    name: str = ""
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None
    key: bytes = b""
    rdns: tuple[tuple[str, str], ...] = ()

    def is_any(self) -> bool:
        """True for wildcards: %any, %any6, 0.0.0.0, ::, %none (Libreswan any_id)."""
        if self.kind is IdKind.NONE:
            return True
        if self.kind in (IdKind.IPV4_ADDR, IdKind.IPV6_ADDR):
            return self.address is None or self.address.packed == bytes(len(self.address.packed))
        return False

    def same(self, other: Id) -> bool:
        """Libreswan same_id(): NONE matches anything, names ignore case and trailing dots."""
        if self.kind is IdKind.NONE or other.kind is IdKind.NONE:
            return True
        if self.kind is not other.kind:
            return False
        if self.kind in (IdKind.IPV4_ADDR, IdKind.IPV6_ADDR):
            return self.address == other.address
        if self.kind in (IdKind.FQDN, IdKind.USER_FQDN, IdKind.HOSTNAME):
            return self.name.rstrip(".").casefold() == other.name.rstrip(".").casefold()
        if self.kind is IdKind.DER_ASN1_DN:
            return self.rdns == other.rdns
        if self.kind is IdKind.KEY_ID:
            return hmac.compare_digest(self.key, other.key)
        return True  # NULL, FROMCERT: same kind is enough

    def __str__(self) -> str:
        k = self.kind
        if k is IdKind.NONE:
            return "(none)"
        if k in (IdKind.IPV4_ADDR, IdKind.IPV6_ADDR):
            return "%any" if self.is_any() else str(self.address)
        if k is IdKind.FQDN:
            return "@" + self.name
        if k is IdKind.KEY_ID:
            return "@#0x" + self.key.hex()
        if k is IdKind.NULL:
            return "ID_NULL"
        if k is IdKind.FROMCERT:
            return "%fromcert"
        return self.name


def _parse_dn(text: str) -> tuple[tuple[tuple[str, str], ...], str]:
    """Split an LDAP/openssl-style DN ("C=CA, O=X" or "/C=CA/O=X") into normalised RDNs."""
    parts: list[str] = []
    buf: list[str] = []
    escaped = False
    for ch in text:
        if escaped:
            buf.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in ",/":
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    parts.append("".join(buf))
    rdns: list[tuple[str, str]] = []
    for part in parts:
        if not part.strip():
            continue
        if "=" not in part:
            raise ValueError(f'DN component "{part.strip()}" has no "="')
        attr, value = part.split("=", 1)
        attr = attr.strip().upper()
        if not _DN_TYPE.match(attr):
            raise ValueError(f'unknown DN attribute "{attr}"')
        attr = _DN_ALIASES.get(attr, attr)
        rdns.append((attr, value.strip().casefold()))
    if not rdns:
        raise ValueError("empty DN")
    return tuple(rdns), text.strip()


def parse_id(text: str) -> Id:
    """Parse an ID as Libreswan's secrets reader does (atoid plus %any/%any6).

    ``%any`` and ``%any6`` become the IPv4/IPv6 unspecified address (wildcards
    in a selector, matching only another wildcard when used as a query).  Bare
    names are kept unresolved (`IdKind.HOSTNAME`); pass a resolver to
    `load_secrets` to turn them into addresses as pluto does.  Raises ValueError.
    """
    if text == "%any":
        return Id(IdKind.IPV4_ADDR, address=ipaddress.IPv4Address(0))
    if text == "%any6":
        return Id(IdKind.IPV6_ADDR, address=ipaddress.IPv6Address(0))
    if text == "%fromcert":
        return Id(IdKind.FROMCERT)
    if text == "%none":
        return Id(IdKind.NONE)
    if text == "%null":
        return Id(IdKind.NULL)
    if "=" in text:
        rdns, shown = _parse_dn(text[1:] if text.startswith("@") else text)
        return Id(IdKind.DER_ASN1_DN, name=shown, rdns=rdns)
    if text == "0.0.0.0":
        return Id(IdKind.NONE)
    if "@" not in text:
        if ":" in text:
            try:
                return Id(IdKind.IPV6_ADDR, address=ipaddress.IPv6Address(text))
            except ValueError:
                hint = ' (missing space after ":"?)' if text.startswith(":") else ""
                raise ValueError(f"is not a valid IPv6 address{hint}") from None
        try:
            return Id(IdKind.IPV4_ADDR, address=ipaddress.IPv4Address(text))
        except ValueError:
            pass
        if text.replace(".", "").isdigit():
            raise ValueError("is not a valid IPv4 address")
        if not _DNS_NAME.match(text):
            raise ValueError("is not an address, and has an illegal (non-DNS-name) character")
        return Id(IdKind.HOSTNAME, name=text)
    if text.startswith("@#"):
        # Libreswan prints key IDs as @#0x...; accept that form back as well as bare hex.
        body = text[2:]
        body = body[2:] if body[:2].lower() == "0x" else body
        try:
            return Id(IdKind.KEY_ID, key=ttodata(body, 16), name=text)
        except ValueError as e:
            raise ValueError(f"has a malformed key ID ({e})") from None
    if text.startswith("@~"):
        try:
            der = ttodata(text[2:], 16)
        except ValueError as e:
            raise ValueError(f"has a malformed binary DN ({e})") from None
        return Id(IdKind.DER_ASN1_DN, name=text, rdns=(("DER", der.hex()),))
    if text.startswith("@["):
        body = text[2:]
        body = body[:-1] if body.endswith("]") else body
        return Id(IdKind.KEY_ID, key=body.encode("utf-8"), name=text)
    if text.startswith("@"):
        return Id(IdKind.FQDN, name=text[1:])
    return Id(IdKind.USER_FQDN, name=text)


def _as_id(value: str | Id) -> Id:
    return value if isinstance(value, Id) else parse_id(value)


# --------------------------------------------------------------------------
# Secrets


class SecretKind(StrEnum):
    """Record kinds; the value is the keyword as written in the file."""

    PSK = "PSK"
    PPKS = "PPKS"
    XAUTH = "XAUTH"
    RSA = "RSA"
    ECDSA = "ECDSA"


@dataclass(frozen=True, eq=False)
class Secret:
    """One record.  Equality is identity, and the repr never shows `value`.

    `ids` are the selectors as written; `selectors` their parsed form.  For
    PPKS, `ppk_id` is the PPK identity sent on the wire.  For RSA/ECDSA,
    `value` is the rest of the record, kept only so nothing is lost.
    """

    kind: SecretKind
    ids: tuple[str, ...]
    value: bytes = field(repr=False)
    ppk_id: bytes | None
    file: str
    line: int
    selectors: tuple[Id, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        # Built by hand from `ids` only: parse them, or the record would act as a wildcard.
        if self.ids and not self.selectors:
            object.__setattr__(self, "selectors", tuple(parse_id(i) for i in self.ids))

    def __repr__(self) -> str:
        ppk = f", ppk_id={self.ppk_id!r}" if self.ppk_id is not None else ""
        return (
            f"Secret(kind={self.kind.value!r}, ids={self.ids!r}, value=<hidden>{ppk}, "
            f"file={self.file!r}, line={self.line})"
        )

    __str__ = __repr__


# Libreswan's match bits (lsw_find_secret_by_id).
_MATCH_DEFAULT = 1
_MATCH_ANY = 2
_MATCH_REMOTE = 4
_MATCH_LOCAL = 8
_ACCEPTED = frozenset(
    {
        _MATCH_LOCAL,  # only when asymmetric (XAUTH, private keys)
        _MATCH_DEFAULT,
        _MATCH_ANY,
        _MATCH_LOCAL | _MATCH_DEFAULT,
        _MATCH_LOCAL | _MATCH_ANY,
        _MATCH_REMOTE | _MATCH_ANY,
        _MATCH_LOCAL | _MATCH_REMOTE,
    }
)
# A record without selectors behaves as if it had two ID_NONE entries (add_secret()).
_NO_SELECTORS = (Id(IdKind.NONE), Id(IdKind.NONE))


Resolver = Callable[[str], str | None]


class Secrets:
    """The loaded secrets, in file order, with Libreswan's lookups.

    Immutable: `reload()` returns a new object, so a daemon can swap the
    reference atomically and in-flight exchanges keep the old keys.
    """

    def __init__(
        self,
        path: str,
        entries: tuple[Secret, ...],
        *,
        warnings: tuple[str, ...] = (),
        errors: tuple[str, ...] = (),
        files: tuple[str, ...] = (),
        strict: bool = True,
        resolver: Resolver | None = None,
    ) -> None:
        self.path = path
        self.entries = entries
        self.warnings = warnings
        self.errors = errors
        self.files = files
        self._strict = strict
        self._resolver = resolver

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[Secret]:
        return iter(self.entries)

    def __repr__(self) -> str:
        return f"Secrets({self.path!r}, {len(self.entries)} entries)"

    def reload(self) -> Secrets:
        """Read the same file again with the same options (``ipsec secrets``)."""
        return load_secrets(self.path, strict=self._strict, resolver=self._resolver)

    def find(
        self,
        kind: SecretKind | str,
        local_id: str | Id,
        remote_id: str | Id | None = None,
        *,
        asym: bool = False,
        accept: Callable[[Secret], bool] | None = None,
    ) -> Secret | None:
        """Libreswan's best match for a pair of IDs.

        Each selector scores: a wildcard (%any, %any6, 0.0.0.0, or no
        selectors at all) sets ANY, one equal to the local ID sets LOCAL, one
        equal to the remote ID sets REMOTE; a record whose single selector
        matched the local ID also gets DEFAULT.  Higher scores win:
        LOCAL|REMOTE (the exact pair) > LOCAL|ANY > LOCAL|DEFAULT (``@west :``)
        > REMOTE|ANY > ANY (``%any``, or no selectors).  LOCAL alone counts
        only for asymmetric lookups (XAUTH).  REMOTE alone, LOCAL|REMOTE|ANY
        and selectors matching nothing never match.  Between equal scores with
        different values the record earliest in the file wins.  Roadwarrior
        templates pass "%any" (or "%any6") as the remote ID, as pluto does.
        """
        kind = SecretKind(kind.upper() if isinstance(kind, str) else kind)
        local = _as_id(local_id)
        remote = None if remote_id is None else _as_id(remote_id)
        best: Secret | None = None
        best_match = 0
        # pluto keeps its list newest-first; walk it the same way so ties resolve alike.
        for s in reversed(self.entries):
            if s.kind is not kind or (accept is not None and not accept(s)):
                continue
            selectors = s.selectors or _NO_SELECTORS
            match = 0
            for sel in selectors:
                if sel.is_any():
                    match |= _MATCH_ANY
                else:
                    if sel.same(local):
                        match |= _MATCH_LOCAL
                    if remote is not None and sel.same(remote):
                        match |= _MATCH_REMOTE
            if match == _MATCH_LOCAL and len(selectors) == 1:
                match |= _MATCH_DEFAULT
            if match == 0:
                continue
            if match == best_match:
                assert best is not None
                if not _same_secret(s, best):
                    best = s
                continue
            if match == _MATCH_LOCAL and not asym:
                continue
            if match in _ACCEPTED and match > best_match:
                best, best_match = s, match
        return best

    def find_psk(self, local_id: str | Id, remote_id: str | Id | None) -> Secret | None:
        """The PSK for this pair (pass "%any" as remote for a roadwarrior template)."""
        return self.find(SecretKind.PSK, local_id, remote_id)

    def find_ppk(
        self,
        local_id: str | Id,
        remote_id: str | Id | None,
        ppk_ids: list[bytes | str] | tuple[bytes | str, ...] | None = None,
    ) -> Secret | None:
        """The initiator's PPK for this pair, optionally only among `ppk_ids`."""
        wanted = None if ppk_ids is None else {_as_bytes(p) for p in ppk_ids}

        def accept(s: Secret) -> bool:
            return wanted is None or s.ppk_id in wanted

        return self.find(SecretKind.PPKS, local_id, remote_id, accept=accept)

    def find_ppk_by_id(self, ppk_id: bytes | str) -> Secret | None:
        """The responder's PPK for a received PPK_ID.

        Like pluto, the last PPKS record in the file with that ID wins.
        """
        wanted = _as_bytes(ppk_id)
        for s in reversed(self.entries):
            if (
                s.kind is SecretKind.PPKS
                and s.ppk_id is not None
                and hmac.compare_digest(s.ppk_id, wanted)
            ):
                return s
        return None

    def find_xauth(self, user: str) -> Secret | None:
        """The XAUTH password record for `user` (written ``@user : XAUTH "..."``)."""
        return self.find(SecretKind.XAUTH, Id(IdKind.FQDN, name=user), None, asym=True)


def _as_bytes(v: bytes | str) -> bytes:
    return v if isinstance(v, bytes) else v.encode("utf-8")


def _same_secret(a: Secret, b: Secret) -> bool:
    if a.kind is SecretKind.XAUTH:
        return False  # pluto never treats two XAUTH records as the same
    return hmac.compare_digest(a.value, b.value)


# --------------------------------------------------------------------------
# Loading


class _Loader:
    def __init__(self, strict: bool, resolver: Resolver | None) -> None:
        self.strict = strict
        self.resolver = resolver
        self.entries: list[Secret] = []
        self.warnings: list[str] = []
        self.errors: list[str] = []
        self.files: list[str] = []
        self.stack: list[str] = []

    def problem(self, file: str, line: int | None, message: str) -> None:
        err = SecretsError(file, line, message)
        if self.strict:
            raise err
        self.errors.append(str(err))

    def warn(self, file: str, line: int | None, message: str) -> None:
        self.warnings.append(str(SecretsError(file, line, message)))

    def load_pattern(self, pattern: str, depth: int, origin: tuple[str, int] | None) -> None:
        where_file, where_line = origin if origin else (pattern, None)
        if depth > MAX_INCLUDE_DEPTH + 1:
            self.problem(
                where_file, where_line, f'preshared secrets file "{pattern}" nested too deeply'
            )
            return
        if glob.has_magic(pattern):
            matches = sorted(glob.glob(pattern))
            if not matches:
                # Libreswan only logs this: "include /etc/ipsec.d/*.secrets" may match nothing.
                self.warn(where_file, where_line, f'no secrets filename matched "{pattern}"')
                return
        else:
            if not os.path.lexists(pattern):
                if origin:
                    self.problem(where_file, where_line, f'include file "{pattern}" not found')
                else:
                    self.problem(where_file, where_line, "secrets file not found")
                return
            matches = [pattern]
        for path in matches:
            self.load_file(path, depth, where_file, where_line)

    def load_file(self, path: str, depth: int, where_file: str, where_line: int | None) -> None:
        real = os.path.realpath(path)
        if real in self.stack:
            self.problem(where_file, where_line, f'include loop: "{path}" is already being read')
            return
        try:
            st = os.stat(path)
            if not stat.S_ISREG(st.st_mode):
                self.warn(where_file, where_line, f'ignoring "{path}": not a regular file')
                return
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            self.problem(where_file, where_line, f'could not open "{path}": {e.strerror}')
            return
        self.files.append(path)
        with contextlib.suppress(OSError):
            self.warnings.extend(check_permissions(path))
        self.stack.append(real)
        try:
            text = data.decode("latin-1")
            records = tokenize(text, lambda line, msg: self.problem(path, line, msg))
            for record in records:
                self.record(path, record, depth)
        finally:
            self.stack.pop()

    def record(self, path: str, rec: Record, depth: int) -> None:
        toks = rec.tokens
        if toks[0].text.lower() == "include":
            if len(toks) < 2:
                self.problem(path, rec.line, "unexpected end of include directive")
                return
            if len(toks) > 2:
                self.problem(
                    path, rec.line, 'malformed include: expected only a file name after "include"'
                )
                return
            target = _utf8(toks[1].text)
            if not target.startswith("/") and "/" in path:
                target = os.path.join(os.path.dirname(path), target)
            self.load_pattern(target, depth + 1, (path, rec.line))
            return
        try:
            self.entries.append(self.secret(path, rec))
        except SecretsError as e:
            if self.strict:
                raise
            self.errors.append(str(e))

    def secret(self, path: str, rec: Record) -> Secret:
        toks = rec.tokens
        ids: list[str] = []
        selectors: list[Id] = []
        if not any(t.text == ":" for t in toks):
            glued = next((t.text for t in toks if t.text.startswith(":") and not t.quote), None)
            hint = f' ("{_utf8(glued)}" needs a space after ":")' if glued else ""
            raise SecretsError(
                path,
                rec.line,
                f'unexpected end of id list: missing ":" before the secret kind{hint}',
            )
        i = 0
        while True:
            if i >= len(toks):
                raise SecretsError(
                    path, rec.line, 'unexpected end of id list: missing ":" before the secret kind'
                )
            tok = toks[i]
            if tok.text == ":":
                break
            text = _utf8(tok.text)
            selectors.append(self.selector(path, tok.line, text))
            ids.append(text)
            i += 1
        i += 1
        if i >= len(toks):
            raise SecretsError(
                path, toks[i - 1].line, 'missing secret kind after ":" (PSK, PPKS or XAUTH)'
            )
        kw = toks[i]
        try:
            kind = SecretKind(kw.text.upper())
        except ValueError:
            raise SecretsError(
                path,
                kw.line,
                f'unrecognized secret kind "{_utf8(kw.text)}" (expected PSK, PPKS or XAUTH)',
            ) from None
        rest = toks[i + 1 :]
        line = kw.line
        ppk_id: bytes | None = None
        if kind in (SecretKind.RSA, SecretKind.ECDSA):
            self.warn(
                path,
                line,
                f"{kind.value} entries are ignored, as by Libreswan 4: private keys live in the NSS database",
            )
            value = " ".join(t.text for t in rest).encode("latin-1")
        elif kind is SecretKind.PPKS:
            if not rest:
                raise SecretsError(
                    path, line, 'PPKS needs a quoted PPK ID and a value: PPKS "id" "secret"'
                )
            if not rest[0].quote:
                raise SecretsError(
                    path,
                    rest[0].line,
                    "no quotation marks found, PPK ID should be in quotation marks",
                )
            ppk_id = rest[0].text.encode("latin-1")
            if not ppk_id:
                raise SecretsError(path, rest[0].line, "empty PPK ID")
            if len(rest) < 2:
                raise SecretsError(
                    path, rest[0].line, "no PPK found, PPK should be specified after PPK ID"
                )
            value = self.value(path, "PPK", rest[1])
            self.end_of_record(path, "PPK", rest[2:])
        else:
            what = kind.value
            if not rest:
                raise SecretsError(path, line, f"unexpected end of record: no value after {what}")
            value = self.value(path, what, rest[0])
            self.end_of_record(path, what, rest[1:])
            if kind is SecretKind.PSK and rest[0].quote and len(value) < WEAK_PSK_LENGTH:
                self.warn(path, rest[0].line, "WARNING: using a weak secret (PSK)")
        return Secret(
            kind=kind,
            ids=tuple(ids),
            value=value,
            ppk_id=ppk_id,
            file=path,
            line=rec.line,
            selectors=tuple(selectors),
        )

    def selector(self, path: str, line: int, text: str) -> Id:
        try:
            sel = parse_id(text)
        except ValueError as e:
            raise SecretsError(path, line, f'index "{text}" {e}') from None
        if sel.kind is IdKind.HOSTNAME and self.resolver is not None:
            addr = self.resolver(text)
            if addr is None:
                raise SecretsError(
                    path, line, f'index "{text}" does not look numeric and name lookup failed'
                )
            try:
                sel = Id(
                    IdKind.IPV6_ADDR if ":" in addr else IdKind.IPV4_ADDR,
                    address=ipaddress.ip_address(addr),
                )
            except ValueError:
                raise SecretsError(
                    path, line, f'index "{text}" resolved to a bad address'
                ) from None
        return sel

    @staticmethod
    def value(path: str, what: str, tok: Token) -> bytes:
        if tok.quote:
            data = tok.text.encode("latin-1")
            if not data and what != "XAUTH":
                raise SecretsError(path, tok.line, f"empty {what}")
            return data
        try:
            return ttodata(tok.text)
        except ValueError as e:
            # Deliberately not echoing the token: it may be the secret itself.
            raise SecretsError(path, tok.line, f"{what} data malformed ({e})") from None

    @staticmethod
    def end_of_record(path: str, what: str, extra: list[Token]) -> None:
        if extra:
            raise SecretsError(
                path,
                extra[0].line,
                f"expected record boundary after the {what} value "
                "(quote values containing spaces; continuation lines must be indented)",
            )


def _utf8(text: str) -> str:
    """Turn latin-1-decoded file text back into the UTF-8 the user wrote."""
    return text.encode("latin-1").decode("utf-8", errors="replace")


def load_secrets(path: str, *, strict: bool = True, resolver: Resolver | None = None) -> Secrets:
    """Read `path` (a file or glob, like pluto's --secretsfile) and its includes.

    With `strict` (the default) the first problem raises `SecretsError`;
    otherwise bad records are skipped and described on `Secrets.errors`, as
    pluto does.  `resolver(name)` turns bare host names into addresses;
    without one they stay `IdKind.HOSTNAME` selectors.  Loose file permissions
    are reported on `Secrets.warnings`.
    """
    loader = _Loader(strict, resolver)
    loader.load_pattern(path, 1, None)
    return Secrets(
        path,
        tuple(loader.entries),
        warnings=tuple(loader.warnings),
        errors=tuple(loader.errors),
        files=tuple(loader.files),
        strict=strict,
        resolver=resolver,
    )
