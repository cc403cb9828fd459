#!/usr/bin/env bash
# Kernel-ESP tests: build the test VM if needed (scripts/vm-build.sh), boot it
# (cygnet/lab/vm.py: qemu TCG, Debian 12's stock kernel, the host's / read-only
# with a tmpfs overlay, this folder shared at the same path) and run
# `pytest tests/vm` inside. Prints the VM's own pytest summary line last and
# exits with the VM pytest's exit code. Extra arguments go to that pytest
# (e.g. `scripts/vm-test.sh -k libreswan`). Needs root and scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/vm-build.sh >/dev/null
PY=.venv/bin/python
[ -x "$PY" ] || PY=python3
# Under instruction emulation, compiling modules at first import costs tens of
# seconds: do it here, natively, so the VM finds the bytecode ready.
"$PY" -m compileall -q -j 0 cygnet tests >/dev/null || true
log=$(mktemp /tmp/cygnet-vm-test.XXXXXX)
trap 'rm -f "$log"' EXIT
args=""
for a in "$@"; do args="$args $(printf '%q' "$a")"; done
set +e
"$PY" -m cygnet.lab.vm --timeout "${CYGNET_VM_TIMEOUT:-1200}" -- \
  "PYTHONUNBUFFERED=1 $PWD/.venv/bin/python -m pytest tests/vm -q -p no:cacheprovider -rfEs$args" | tee "$log"
rc=${PIPESTATUS[0]}
set -e
summary=$(grep -E '^=*[ ]*[0-9]+ (passed|failed|error|skipped|deselected)|^=*[ ]*no tests ran' "$log" | tail -n 1 || true)
echo "VM pytest summary: ${summary:-<none: the VM did not finish its pytest run>}"
exit "$rc"
