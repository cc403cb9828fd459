#!/usr/bin/env bash
# Build (once) and cache the kernel-ESP test VM under /var/tmp/cygnet-vm.
#
# What it makes (see /work/shared/reference/vm-testbed.md and cygnet/lab/vm.py):
#   kernel/<ver>/vmlinux        Debian 12's stock linux-image-amd64, uncompressed
#                               ELF for PVH boot (qemu -M microvm -kernel)
#   kernel/<ver>/lib/modules/   its modules (+ depmod), bind-mounted at
#                               /lib/modules inside the VM for on-demand loading
#   initramfs.cpio              busybox-static + virtio/9p/overlay modules + /init
#   current                     "<ver>": what cygnet/lab/vm.py boots
#
# The VM's root is the host's own / (read-only over virtio-9p, a tmpfs
# overlay on top): it has the same Python, venv, cryptography, strongSwan and
# unpacked Libreswan as the host, so nothing else needs building. The kernel
# is downloaded with `apt-get download` and unpacked with `dpkg-deb -x`; it is
# never installed on the host. Idempotent; `--force` rebuilds.
set -euo pipefail

CACHE=${CYGNET_VM_CACHE:-/var/tmp/cygnet-vm}
FORCE=0
[ "${1:-}" = "--force" ] && FORCE=1
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

need() { command -v "$1" >/dev/null || { echo "vm-build.sh: '$1' missing (run scripts/setup.sh)" >&2; exit 1; }; }
need qemu-system-x86_64; need dpkg-deb; need depmod; need cpio; need apt-get
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] \
  || { echo "vm-build.sh: busybox-static missing (run scripts/setup.sh)" >&2; exit 1; }

mkdir -p "$CACHE/dl"
exec 9>"$CACHE/.build.lock"
flock 9

# ---- 1. the kernel package (linux-image-amd64's current dependency) -------------
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -n1)
if [ -z "$pkg" ]; then
  apt-get update -qq
  pkg=$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -n1)
fi
[ -n "$pkg" ] || { echo "vm-build.sh: cannot resolve linux-image-amd64" >&2; exit 1; }
kver=${pkg#linux-image-}
KDIR="$CACHE/kernel/$kver"

if [ "$FORCE" = 1 ] || [ ! -s "$KDIR/vmlinux" ] || [ ! -s "$KDIR/lib/modules/$kver/modules.dep" ]; then
  deb=$(ls "$CACHE"/dl/"${pkg}"_*.deb 2>/dev/null | tail -n1 || true)
  if [ -z "$deb" ]; then
    ( cd "$CACHE/dl" && { apt-get download -q "$pkg" >/dev/null 2>&1 \
        || { apt-get update -qq && apt-get download -q "$pkg" >/dev/null 2>&1; }; } ) \
      || { echo "vm-build.sh: cannot download $pkg" >&2; exit 1; }
    deb=$(ls "$CACHE"/dl/"${pkg}"_*.deb | tail -n1)
  fi
  rm -rf "$KDIR.tmp"
  mkdir -p "$KDIR.tmp"
  dpkg-deb -x "$deb" "$KDIR.tmp/x"
  mkdir -p "$KDIR.tmp/lib"
  mv "$KDIR.tmp/x/lib/modules" "$KDIR.tmp/lib/modules"
  cp "$KDIR.tmp/x/boot/config-$kver" "$KDIR.tmp/config"
  # extract-vmlinux: find the compressed payload inside the bzImage, decompress
  # it and keep the result if it is an ELF (the PVH entry point lives there).
  "$PY" - "$KDIR.tmp/x/boot/vmlinuz-$kver" "$KDIR.tmp/vmlinux" <<'EOF'
import gzip, lzma, sys, zlib
data = open(sys.argv[1], "rb").read()
def try_xz(off):
    d = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
    return d.decompress(data[off:])
def try_gz(off):
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    return d.decompress(data[off:])
for magic, fn in ((b"\xfd7zXZ\x00", try_xz), (b"\x1f\x8b\x08", try_gz)):
    off = data.find(magic)
    while off != -1:
        try:
            out = fn(off)
        except Exception:
            out = b""
        if out[:4] == b"\x7fELF":
            open(sys.argv[2], "wb").write(out)
            sys.exit(0)
        off = data.find(magic, off + 1)
sys.exit("vm-build.sh: no ELF vmlinux found inside " + sys.argv[1])
EOF
  depmod -b "$KDIR.tmp" "$kver"
  rm -rf "$KDIR.tmp/x"
  rm -rf "$KDIR"
  mv "$KDIR.tmp" "$KDIR"
fi

# ---- 2. the initramfs --------------------------------------------------------
INITRD="$CACHE/kernel/$kver/initramfs.cpio"
if [ "$FORCE" = 1 ] || [ ! -s "$INITRD" ] || [ "$INITRD" -ot "$0" ]; then
  W="$CACHE/initramfs.tmp"
  rm -rf "$W"
  mkdir -p "$W"/{bin,dev,proc,sys,newroot,lib/modules}
  cp "$BUSYBOX" "$W/bin/busybox"
  MODDIR="$KDIR/lib/modules/$kver"
  # modules (with their dependencies, in load order) needed to reach the root
  "$PY" - "$MODDIR" virtio_mmio virtio_console 9pnet_virtio 9p overlay > "$W/modules.order" <<'EOF'
import sys
moddir, wanted = sys.argv[1], sys.argv[2:]
deps = {}
for line in open(f"{moddir}/modules.dep"):
    k, _, v = line.partition(":")
    deps[k] = v.split()
byname = {k.rsplit("/", 1)[1].split(".ko")[0]: k for k in deps}
order = []
def add(path):
    for d in reversed(deps[path]):
        add(d)
    if path not in order:
        order.append(path)
for name in wanted:
    add(byname[name])
print("\n".join(order))
EOF
  while read -r m; do cp "$MODDIR/$m" "$W/lib/modules/"; done < "$W/modules.order"
  sed -i 's#.*/##' "$W/modules.order"
  cat > "$W/init" <<'EOF'
#!/bin/busybox sh
# Stage 1: load virtio/9p/overlay, mount the host's / read-only over 9p with a
# tmpfs overlay and the run share, then switch_root (stage 2, in cygnet/lab/vm.py,
# mounts the project share once /tmp and /run are in place).
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules.order); do insmod /lib/modules/$m 2>/dev/null; done
fail() { echo "cygnet-vm init: $*" > /dev/hvc0 2>/dev/null || echo "cygnet-vm init: $*"; poweroff -f; }
i=0
while [ ! -e /dev/hvc0 ] && [ $i -lt 50 ]; do sleep 0.05; i=$((i+1)); done
opts=trans=virtio,version=9p2000.L,msize=262144
mkdir -p /lower /rw
mount -t 9p -o $opts,ro,cache=loose hostroot /lower || fail "cannot mount the host root"
mount -t tmpfs -o mode=755 tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work,redirect_dir=off,index=off,xino=off,metacopy=off /newroot \
  || fail "cannot mount the overlay root"
mkdir -p /newroot/cygnet-vm
mount -t 9p -o $opts,cache=none runshare /newroot/cygnet-vm || fail "cannot mount the run share"
umount /proc /sys 2>/dev/null
umount /dev 2>/dev/null
exec switch_root /newroot /bin/sh /cygnet-vm/stage2.sh
EOF
  chmod 755 "$W/init"
  ( cd "$W" && find . | LC_ALL=C sort | cpio -o -H newc --quiet ) > "$INITRD.tmp"
  mv "$INITRD.tmp" "$INITRD"
  rm -rf "$W"
fi

echo "$kver" > "$CACHE/current.tmp"
mv "$CACHE/current.tmp" "$CACHE/current"
echo "vm-build.sh: $CACHE/kernel/$kver ready (vmlinux, initramfs.cpio, modules)"
