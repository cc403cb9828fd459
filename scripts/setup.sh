#!/usr/bin/env bash
# Set up a fresh Debian 12 machine (as root) for Cygnet: system packages and
# a virtualenv at .venv with Cygnet installed in it. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  python3 python3-venv python3-pip  # the interpreter, if the machine lacks one
  libnss3-tools                     # certutil, pk12util: the NSS key store's own tools
  iproute2 iputils-ping tcpdump     # namespaces, veth, traffic checks
  openssl                           # making test certificates and PKCS#12 files
)

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test]'
