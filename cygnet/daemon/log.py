"""pluto's log: syslog by default, or `logfile=`/`--stderrlog`, and whack sessions.

Lines carry Libreswan's wording; whack sessions additionally see the numeric
reply code (`181 "c" #1: initiating IKEv2 connection`) the way `ipsec auto
--up` prints them. Debug lines (`plutodebug=`) go to the log only.
"""

from __future__ import annotations

import sys
import syslog
import time
from collections.abc import Callable
from typing import TextIO

Listener = Callable[[int, str], None]


class PlutoLog:
    """Where pluto's lines go."""

    def __init__(
        self,
        *,
        logfile: str | None = None,
        stderr: bool = False,
        logtime: bool = True,
        logappend: bool = True,
        use_syslog: bool = True,
        debug: frozenset[str] = frozenset(),
    ) -> None:
        self.logtime = logtime
        self.debug_flags = debug
        self._file: TextIO | None = None
        if logfile:
            self._file = open(logfile, "a" if logappend else "w", buffering=1)  # noqa: SIM115
        self._stderr = stderr
        self._syslog = use_syslog and not logfile and not stderr
        if self._syslog:
            syslog.openlog("pluto", syslog.LOG_PID, syslog.LOG_DAEMON)
        self._listeners: list[Listener] = []

    def _stamp(self) -> str:
        now = time.time()
        return time.strftime("%b %d %H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1e6):06d}: "

    def _emit(self, text: str) -> None:
        prefix = self._stamp() if self.logtime else ""
        if self._file is not None:
            self._file.write(prefix + text + "\n")
        if self._stderr:
            sys.stderr.write(prefix + text + "\n")
            sys.stderr.flush()
        if self._syslog:
            syslog.syslog(syslog.LOG_WARNING, text)

    def log(self, text: str, rc: int = 0) -> None:
        """A line for the log and for every attached whack session."""
        self._emit(text)
        for listener in list(self._listeners):
            listener(rc, text)

    def debug(self, text: str, flag: str = "all") -> None:
        if "all" in self.debug_flags or flag in self.debug_flags:
            self._emit("| " + text)

    @property
    def private(self) -> bool:
        """`plutodebug=private`: secrets may appear in debug lines."""
        return "private" in self.debug_flags

    def attach(self, listener: Listener) -> Callable[[], None]:
        """Stream lines to a whack session until the returned function is called."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
