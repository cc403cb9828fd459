"""`/etc/ipsec.d/nsspassword`: `token_name:password` lines for a protected NSS DB.

Parsed the way Libreswan's password callback does, messages included, so a
file that works (or fails) with pluto behaves the same here: lines end at
NUL, CR or LF, and a last line without a terminator is ignored.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from cygnet import paths

#: The softoken's token name, and its name when the system is in FIPS mode.
TOKEN_NAME = "NSS Certificate DB"
FIPS_TOKEN_NAME = "NSS FIPS 140-2 Certificate DB"

#: Libreswan reads at most this much of the file.
MAX_PASSWORD_FILE_SIZE = 4096

FIPS_ENABLED_FILE = "/proc/sys/crypto/fips_enabled"


def fips_mode(path: str = FIPS_ENABLED_FILE) -> bool:
    """True when the kernel says the system runs in FIPS mode."""
    try:
        with open(path, encoding="ascii") as f:
            return f.read().strip() == "1"
    except OSError:
        return False


def token_name(fips: bool | None = None) -> str:
    """The token whose password the nsspassword file must hold."""
    return FIPS_TOKEN_NAME if (fips_mode() if fips is None else fips) else TOKEN_NAME


def password_log_line(password_file: str, token: str, length: int) -> str:
    """The journal line the spec (RHEL 9 §4.9) shows when pluto starts."""
    return (
        f'NSS Password from file "{password_file}" for token "{token}" '
        f"with length {length} passed to NSS"
    )


def command_line_password_log_line(token: str, length: int) -> str:
    """What Libreswan logs when `--password` was given instead of a file."""
    return f'NSS Password for token "{token}" with length {length} passed to NSS'


@dataclass
class PasswordLookup:
    """The password found (or None) and Libreswan's log lines about the search."""

    password: str | None
    log: list[str] = field(default_factory=list)


def find_password(
    token: str,
    password_file: str | None = None,
    log: Callable[[str], None] | None = None,
) -> PasswordLookup:
    """Look `token` up in the nsspassword file, logging like Libreswan."""
    path = password_file or paths.NSS_PASSWORD_FILE
    result = PasswordLookup(None)

    def say(line: str) -> None:
        result.log.append(line)
        if log is not None:
            log(line)

    try:
        with open(path, "rb") as f:
            data = f.read(MAX_PASSWORD_FILE_SIZE)
    except OSError:
        say(f'NSS Password file "{path}" for token "{token}" could not be opened for reading')
        return result
    tok = token.encode()
    i = 0
    while i < len(data):
        start = i
        while i < len(data) and data[i] not in (0, 0x0D, 0x0A):
            i += 1
        if i == len(data):
            say(
                f'NSS Password file "{path}" for token "{token}" ends with a partial line (ignored)'
            )
            break
        line = data[start:i]
        i += 1
        if line.startswith(tok + b":"):
            password = line[len(tok) + 1:].decode("utf-8", "surrogateescape")
            say(password_log_line(path, token, len(line) - len(tok) - 1))
            result.password = password
            return result
    say(f'NSS Password file "{path}" does not contain token "{token}"')
    return result


def write_password_file(path: str, password: str, token: str = TOKEN_NAME) -> None:
    """Create a 0600 nsspassword file (tests and `certutil -f` helpers use this)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(f"{token}:{password}\n")
