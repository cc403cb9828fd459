"""Counters shared between the workers and the daemon without locks or messages.

A memfd holds 64-bit words. Every word has exactly one writer (the TX worker
writes out_*, the RX worker in_*, each worker its own xfrm_stat row), and the
writer stores absolute values, so the daemon can read at any time without
blocking and a torn read is impossible on the 8-byte-aligned words of x86-64
and arm64.
"""

from __future__ import annotations

import mmap
import os

from cygnet.dataplane.userspace.esp import XFRM_STAT_NAMES

__all__ = ["CounterBlock", "ROLE_TX", "ROLE_RX", "N_SLOTS",
           "IN_BYTES", "IN_PACKETS", "OUT_BYTES", "OUT_PACKETS", "LAST_IN_NS", "IN_DEAD",
           "OUT_DEAD"]

ROLE_TX = 0
ROLE_RX = 1
_STAT_WORDS = 32  # per role; len(XFRM_STAT_NAMES) must fit
N_SLOTS = 1024  # concurrent Child SAs per data plane
_SLOT_WORDS = 8
IN_BYTES, IN_PACKETS, OUT_BYTES, OUT_PACKETS, LAST_IN_NS, IN_DEAD, OUT_DEAD = range(7)
_SA_BASE = 2 * _STAT_WORDS
SIZE = 8 * (_SA_BASE + N_SLOTS * _SLOT_WORDS)

assert len(XFRM_STAT_NAMES) <= _STAT_WORDS


class CounterBlock:
    """The shared words, mapped from a memfd (created here or inherited by a worker)."""

    def __init__(self, fd: int | None = None) -> None:
        if fd is None:
            fd = os.memfd_create("cygnet-esp-counters", 0)
            os.ftruncate(fd, SIZE)
        self.fd = fd
        self._map = mmap.mmap(fd, SIZE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        self.words = memoryview(self._map).cast("Q")

    @staticmethod
    def stat_index(role: int, counter: int) -> int:
        return role * _STAT_WORDS + counter

    @staticmethod
    def slot_index(slot: int, field: int) -> int:
        return _SA_BASE + slot * _SLOT_WORDS + field

    def clear_slot(self, slot: int) -> None:
        base = _SA_BASE + slot * _SLOT_WORDS
        for i in range(_SLOT_WORDS):
            self.words[base + i] = 0

    def slot(self, slot: int) -> tuple[int, ...]:
        base = _SA_BASE + slot * _SLOT_WORDS
        return tuple(self.words[base : base + _SLOT_WORDS])

    def xfrm_stat(self) -> dict[str, int]:
        w = self.words
        return {name: w[i] + w[_STAT_WORDS + i] for i, name in enumerate(XFRM_STAT_NAMES)}

    def close(self) -> None:
        self.words.release()
        self._map.close()
        os.close(self.fd)
