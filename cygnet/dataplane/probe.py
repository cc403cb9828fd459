"""`protostack=auto`: does this kernel do ESP itself ("xfrm") or must we ("userspace")?

XFRM netlink can be present while ESP is not (containers, kernels built
without esp4/esp6): policies and SPI allocation then work but every
XFRM_MSG_NEWSA for ESP fails with EPROTONOSUPPORT (errno 93). The only
reliable test is to add an ESP SA. We do it in a throw-away network
namespace (a child process that unshares its netns), so the host's SAD is
never touched; without the right to make a namespace we add and delete the
SA in our own namespace, on TEST-NET-3 addresses nobody routes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import subprocess
import sys
from ipaddress import ip_address
from pathlib import Path

_XFRM_PRESENT = ("/proc/sys/net/core/xfrm_acq_expires", "/proc/net/xfrm_stat")
_SRC, _DST = ip_address("203.0.113.1"), ip_address("203.0.113.2")

# Exit codes of the probe child.
_OK, _NO_ESP, _NO_NETNS, _OTHER = 0, 93, 97, 98


def try_add_esp_sa() -> int:
    """Add then delete one ESP SA in the current namespace; 0 or the kernel's errno."""
    from cygnet.dataplane.xfrm import netlink as nl

    try:
        sock = nl.XfrmSocket()
    except OSError as e:
        return e.errno or errno.EPROTONOSUPPORT
    spi = 0x100 + secrets.randbelow(0xFFFF0000)
    spec = nl.SaSpec(
        src=_SRC,
        dst=_DST,
        spi=spi,
        reqid=0,
        crypt=("cbc(aes)", bytes(16)),
        auth=("hmac(sha256)", bytes(32), 128),
    )
    try:
        sock.request(nl.XFRM_MSG_NEWSA, nl.encode_sa(spec), "Add SA", spec.story())
    except nl.XfrmError as e:
        sock.close()
        return e.errno
    with contextlib.suppress(nl.XfrmError):
        sock.request(nl.XFRM_MSG_DELSA, nl.encode_usersa_id(_DST, spi), "Del SA", spec.story())
    sock.close()
    return 0


def _child() -> int:
    """Runs in the probe subprocess: new netns, then the ESP test."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    clone_newnet = 0x40000000
    if libc.unshare(clone_newnet) != 0:
        return _NO_NETNS
    err = try_add_esp_sa()
    return _OK if err == 0 else (_NO_ESP if err == errno.EPROTONOSUPPORT else _OTHER)


def kernel_esp_status() -> tuple[bool, str]:
    """(kernel ESP works?, why) without changing the host's XFRM tables where we can help it."""
    if not any(Path(p).exists() for p in _XFRM_PRESENT):
        return False, "no XFRM kernel support detected"
    try:
        rc = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from cygnet.dataplane.probe import _child; sys.exit(_child())",
            ],
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
            timeout=20,
            capture_output=True,
        ).returncode
    except (OSError, subprocess.SubprocessError) as e:
        return False, f"probe failed: {e}"
    if rc == _NO_NETNS:
        err = try_add_esp_sa()
        if err == 0:
            return True, "kernel accepted an ESP SA"
        return False, f"kernel refused an ESP SA: {os.strerror(err)} (errno {err})"
    if rc == _OK:
        return True, "kernel accepted an ESP SA"
    if rc == _NO_ESP:
        return False, "kernel refused an ESP SA: Protocol not supported (errno 93)"
    return False, f"kernel refused an ESP SA (probe exit {rc})"


def probe_protostack() -> str:
    """ "xfrm" when the kernel can carry ESP, else "userspace"."""
    ok, _why = kernel_esp_status()
    return "xfrm" if ok else "userspace"


if __name__ == "__main__":  # `python -m cygnet.dataplane.probe`
    ok, why = kernel_esp_status()
    print(("xfrm" if ok else "userspace") + f"  ({why})")
