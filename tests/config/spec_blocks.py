"""Pull the ipsec.conf blocks out of the user's spec (shared by the spec tests)."""

from __future__ import annotations

import base64
import re
from functools import lru_cache
from pathlib import Path

SPEC = Path(__file__).parents[2].parent / "shared/spec/rhel9-configuring-a-vpn-with-ipsec.txt"
REFERENCE = Path(__file__).parents[2].parent / "shared/reference/libreswan-4.10-outputs"

_CONN = re.compile(r"^([ \t]*)conn \S+\s*$")
_ELISION_LINE = {"...", "…"}


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def extract_blocks(text: str) -> list[tuple[int, str]]:
    """Every run of `conn NAME` sections in the spec: (first line number, dedented text)."""
    lines = text.splitlines()
    blocks: list[tuple[int, str]] = []
    i = 0
    while i < len(lines):
        m = _CONN.match(lines[i])
        if not m:
            i += 1
            continue
        base = len(m.group(1))
        start = i
        body = [lines[i]]
        i += 1
        while i < len(lines):
            line = lines[i]
            stripped = line.strip()
            inside = (
                not stripped
                or stripped in _ELISION_LINE
                or _indent(line) > base
                or (_indent(line) == base and stripped.startswith(("conn ", "#")))
            )
            if not inside:
                break
            body.append(line)
            i += 1
        while body and not body[-1].strip():
            body.pop()
        blocks.append((start + 1, "\n".join(_dedent(line, base) for line in body) + "\n"))
    return blocks


def _dedent(line: str, n: int) -> str:
    return line[n:] if line[:n].strip() == "" else line.lstrip()


@lru_cache(maxsize=1)
def real_rsa_key() -> str:
    """A real RFC 3110 `0s` public key, made with `cryptography`, for the spec's `[...]` keys."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_numbers()
    )
    e = key.e.to_bytes((key.e.bit_length() + 7) // 8, "big")
    n = key.n.to_bytes((key.n.bit_length() + 7) // 8, "big")
    return "0s" + base64.b64encode(bytes([len(e)]) + e + n).decode()


def fill_elisions(block: str) -> str:
    """Replace only the spec's elisions: `[...]` inside key values, and `...`/`…` lines."""
    out = []
    for line in block.splitlines():
        if line.strip() in _ELISION_LINE:
            continue
        if "[...]" in line:
            key, _, _ = line.partition("=")
            line = f"{key}={real_rsa_key()}"
        out.append(line)
    return "\n".join(out) + "\n"
