"""Kernel-ESP tests: they run only inside the test VM (scripts/vm-test.sh).

The build machines' kernel has no ESP, so everything under tests/vm skips on
the host with the reason; `scripts/vm-test.sh` boots Debian 12's stock kernel
in qemu (cygnet/lab/vm.py) and runs `pytest tests/vm` in there, where
CYGNET_IN_VM=1 and esp4/esp6 load.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

HOST_SIDE = {"test_vm_runner.py"}  # tests of the runner itself: they run on the host


def kernel_esp_reason() -> str | None:
    """None if this kernel can carry ESP, else why not."""
    if not os.environ.get("CYGNET_IN_VM"):
        return "kernel-ESP test: runs only inside the test VM (scripts/vm-test.sh)"
    if os.geteuid() != 0:
        return "needs root"
    if not Path("/proc/net/xfrm_stat").exists():
        return "kernel without XFRM"
    if not (Path("/sys/module/esp4").exists() or Path("/proc/net/xfrm_stat").exists()):
        return "kernel without ESP (esp4 not loadable)"
    if not Path("/sys/module/esp4").exists():
        return "kernel without ESP (esp4 not loaded)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = kernel_esp_reason()
    if reason is None:
        return
    here = Path(__file__).parent
    mark = pytest.mark.skip(reason=reason)
    for item in items:
        path = Path(str(item.fspath))
        if here in path.parents and path.name not in HOST_SIDE:
            item.add_marker(mark)
