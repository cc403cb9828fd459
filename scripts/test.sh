#!/usr/bin/env bash
# The README's test command: set up the machine, then run the whole suite -
# the kernel-ESP tests inside a VM with Debian's stock kernel first (this
# machine's kernel may lack ESP), then everything else on the host.
# Extra arguments go to the host pytest (e.g. `scripts/test.sh tests/config -x`);
# CYGNET_SKIP_VM=1 leaves the VM suite out.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
.venv/bin/ruff check cygnet tests bench
vm_rc=0
if [ -z "${CYGNET_SKIP_VM:-}" ] && [ $# -eq 0 ]; then
  set +e
  ./scripts/vm-test.sh
  vm_rc=$?
  set -e
fi
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
# pytest's 5 means "no tests collected": not a failure of the code.
[ "$rc" = 5 ] && rc=0
if [ "$vm_rc" != 0 ]; then
  echo "kernel-ESP tests in the VM failed (exit $vm_rc); see above"
  [ "$rc" = 0 ] && rc=$vm_rc
fi
exit "$rc"
