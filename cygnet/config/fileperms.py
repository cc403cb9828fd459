"""Permission checks for files that hold secrets.

Libreswan expects ``/etc/ipsec.secrets`` (and anything it includes) to be
owned by the user pluto runs as and closed to everyone else (``chmod 600``).
Loose permissions are not fatal there, so they are reported as warnings
here too: refusing to start would break hosts that Libreswan accepts.
"""

from __future__ import annotations

import os
import stat

__all__ = ["check_permissions"]


def check_permissions(path: str, *, expected_uid: int | None = None) -> list[str]:
    """Warnings about `path` being reachable by others or owned by someone else.

    `expected_uid` defaults to the effective uid of this process (the daemon's
    user).  Raises OSError if the file cannot be examined.
    """
    st = os.stat(path)
    mode = stat.S_IMODE(st.st_mode)
    warnings: list[str] = []
    if mode & 0o077:
        what = []
        if mode & 0o044:
            what.append("readable")
        if mode & 0o022:
            what.append("writable")
        if not what:
            what.append("executable")
        warnings.append(
            f'WARNING: "{path}" is {" and ".join(what)} by group or others '
            f"(mode {mode:04o}); it should be mode 0600"
        )
    uid = os.geteuid() if expected_uid is None else expected_uid
    if st.st_uid != uid:
        warnings.append(
            f'WARNING: "{path}" is owned by uid {st.st_uid}, not by uid {uid} '
            f"(the user running the IKE daemon); it should be owned by uid {uid}"
        )
    return warnings
