#!/usr/bin/env bash
# The README's test command: set up the machine, then run the whole suite.
# Extra arguments go to pytest (e.g. `scripts/test.sh tests/config -x`).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
.venv/bin/ruff check cygnet tests bench
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
# pytest's 5 means "no tests collected": not a failure of the code.
[ "$rc" = 5 ] && rc=0
exit "$rc"
