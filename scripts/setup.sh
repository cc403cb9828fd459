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
  # cygnet/lab: the test network and the real peers Cygnet is tested against
  nftables conntrack iperf3 tshark  # lab: nic's NAT, its conntrack view, traffic
  strongswan-charon strongswan-swanctl strongswan-pki     # strongSwan 5.9.8 peers
  libcharon-extra-plugins libstrongswan-extra-plugins     # ... kernel-libipsec, etc.
  libstrongswan-standard-plugins                          # ... openssl, gcm
  # Libreswan 4.10's runtime libraries (its .deb is unpacked below, not installed:
  # it conflicts with strongSwan in apt)
  libaudit1 libcap-ng0 libcrypt1 libcurl3-nss libevent-core-2.1-7
  libevent-pthreads-2.1-7 libldap-2.5-0 libldns3 libnspr4 libnss3 libpam0g
  libselinux1 libsystemd0 libunbound8 dns-root-data iptables
  # the kernel-ESP test VM (scripts/vm-build.sh, scripts/vm-test.sh, cygnet/lab/vm.py)
  qemu-system-x86 qemu-utils debootstrap kmod cpio busybox-static
)

# --- cygnet/lab: Debian starts services on install (strongswan-starter would
# start a charon on the host); forbid that while apt-get runs, unless the
# machine already has a policy-rc.d of its own.
if [ "$(id -u)" = 0 ] && [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
# --- end cygnet/lab ----------------------------------------------------------

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

# --- cygnet/lab: real peers (see cygnet/lab/libreswan.py) --------------------
# No IKE daemon may run on the host itself: strongswan-starter ships an
# enabled-by-default unit; disable it (lab peers run in namespaces only).
if [ "$(id -u)" = 0 ] && [ -d /run/systemd/system ]; then
  for unit in strongswan.service strongswan-starter.service; do
    systemctl disable --now "$unit" >/dev/null 2>&1 || true
  done
fi
# strongswan-starter (a dependency) ships /usr/sbin/ipsec; on PATH it would
# shadow Cygnet's `ipsec`. The lab drives charon/swanctl directly, so move it.
if [ "$(id -u)" = 0 ] && command -v dpkg-divert >/dev/null \
   && ! dpkg-divert --list /usr/sbin/ipsec | grep -q .; then
  dpkg-divert --local --rename --divert /usr/sbin/ipsec.strongswan --add /usr/sbin/ipsec >/dev/null
fi
# Libreswan 4.10's .deb, unpacked into a cache that the lab overlays on /usr
# inside its namespaces. Idempotent; needs no network once cached.
LSW_CACHE=/var/cache/cygnet-lab/libreswan
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null \
   && [ ! -x "$LSW_CACHE/root/usr/libexec/ipsec/pluto" ]; then
  mkdir -p "$LSW_CACHE"
  if ! ls "$LSW_CACHE"/libreswan_*.deb >/dev/null 2>&1; then
    ( cd "$LSW_CACHE" && { apt-get download -q libreswan >/dev/null 2>&1 \
        || { apt-get update -qq && apt-get download -q libreswan >/dev/null 2>&1; }; } ) \
      || { echo "setup.sh: cannot download the libreswan .deb" >&2; exit 1; }
  fi
  rm -rf "$LSW_CACHE/root.tmp"
  dpkg-deb -x "$(ls "$LSW_CACHE"/libreswan_*.deb | tail -n 1)" "$LSW_CACHE/root.tmp"
  mv "$LSW_CACHE/root.tmp" "$LSW_CACHE/root"
fi
# --- end cygnet/lab ----------------------------------------------------------

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test]'
