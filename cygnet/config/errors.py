"""The one error type of the configuration layer.

Every problem in ipsec.conf is reported in one shape, so a user (and a test)
always finds the file, the line and the keyword at the same place:

    /etc/ipsec.d/x.conf:7: leftsubnet: '192.0.1.0/33' is not a valid subnet

`FILE:LINE: ` is left out when the problem has no place in a file (for
example a conn built in code), `KEYWORD: ` when it concerns no keyword.
"""

from __future__ import annotations


class ConfigError(Exception):
    """A configuration that Libreswan would refuse; `str()` is the user's message."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        keyword: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.keyword = keyword
        super().__init__(self.__str__())

    def __str__(self) -> str:
        return format_diag(self.message, self.file, self.line, self.keyword)


def format_diag(message: str, file: str | None, line: int | None, keyword: str | None) -> str:
    """`FILE:LINE: KEYWORD: MESSAGE`, leaving out the parts that are unknown."""
    parts = []
    if file is not None:
        parts.append(f"{file}:{line}" if line is not None else file)
    if keyword is not None:
        parts.append(keyword)
    parts.append(message)
    return ": ".join(parts)


class FileLineError(ValueError):
    """A problem in a secrets or policy-group file: ``FILE:LINE: message`` (no keyword there)."""

    def __init__(self, file: str, line: int | None, message: str) -> None:
        self.file = file
        self.line = line
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        return format_diag(self.message, self.file, self.line or None, None)
