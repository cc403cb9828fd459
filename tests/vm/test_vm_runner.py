"""The VM runner itself (cygnet/lab/vm.py), from the host: boots only if the VM is built."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from cygnet.lab import vm

pytestmark = pytest.mark.skipif(bool(os.environ.get("CYGNET_IN_VM")), reason="host-side test")


def test_qemu_command_line_follows_the_recipe(tmp_path: Path) -> None:
    kdir = tmp_path / "k"
    argv = vm.qemu_argv(kdir, tmp_path / "run", Path("/work/main"), 512, None)
    line = " ".join(argv)
    assert argv[0] == "qemu-system-x86_64"
    for part in ("-M microvm", "-smp 1", "-m 512", "-nodefaults", "-no-reboot",
                 "tcg,thread=multi,tb-size=256", "virtconsole,chardev=con",
                 "path=/,security_model=none,readonly=on", "path=/work/main,",
                 f"-kernel {kdir}/vmlinux"):
        assert part in line, part
    append = argv[argv.index("-append") + 1]
    assert f"tsc_early_khz={vm.host_tsc_khz()}" in append and "lpj=" in append
    assert "-netdev" not in argv and "-nic" not in argv and "-net" not in argv  # no network


@pytest.mark.skipif(os.geteuid() != 0 or not vm.vm_available() or shutil.which("qemu-system-x86_64")
                    is None, reason="VM not built (scripts/vm-build.sh) or not root")
def test_boot_run_and_exit_code(tmp_path: Path) -> None:
    share = tmp_path / "share"
    share.mkdir()
    rc, out = vm.run_in_vm(
        f"uname -r; test -n \"$CYGNET_IN_VM\" && echo in-vm; cat /sys/module/esp4/initstate;"
        f" ip -o link | wc -l; echo hello > {share}/from-vm; exit 7",
        timeout=300, share=share,
    )
    lines = out.splitlines()
    assert rc == 7, out
    assert lines[0] == (vm.CACHE / "current").read_text().strip()
    assert lines[1:3] == ["in-vm", "live"]
    assert lines[3] == "1"  # only lo: the VM has no network device
    assert (share / "from-vm").read_text() == "hello\n"
    assert "\r" not in out
