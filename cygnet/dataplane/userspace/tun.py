"""The TUN device (Linux `/dev/net/tun`, TUNSETIFF): where cleartext packets enter and leave.

IFF_TUN | IFF_NO_PI gives bare IP packets. With `vnet_hdr` the device also
speaks the virtio-net header (IFF_VNET_HDR), and TUNSETOFFLOAD lets the
kernel hand over TCP segments up to 64 KiB (TSO) with a partial checksum;
the data plane then cuts them into MSS-sized packets itself, one pass for
segmentation and encryption, instead of taking one read() per packet.
"""

from __future__ import annotations

import fcntl
import os
import struct

__all__ = ["open_tun", "VNET_HDR_LEN", "TUN_F_CSUM", "TUN_F_TSO4", "TUN_F_TSO6"]

TUNSETIFF = 0x400454CA
TUNSETOFFLOAD = 0x400454D0
TUNSETVNETHDRSZ = 0x400454D8
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
IFF_MULTI_QUEUE = 0x0100
IFF_VNET_HDR = 0x4000
TUN_F_CSUM = 0x01
TUN_F_TSO4 = 0x02
TUN_F_TSO6 = 0x04
VNET_HDR_LEN = 10  # struct virtio_net_hdr (no num_buffers)


def open_tun(name: str, *, vnet_hdr: bool = False, offload: int = 0,
             multi_queue: bool = False) -> tuple[int, str]:
    """Create (or attach to) TUN `name`; returns (non-blocking fd, kernel's name)."""
    if len(name.encode()) > 15:
        raise ValueError("interface names are at most 15 bytes")
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        flags = IFF_TUN | IFF_NO_PI
        if vnet_hdr:
            flags |= IFF_VNET_HDR
        if multi_queue:
            flags |= IFF_MULTI_QUEUE
        ifr = struct.pack("16sH22x", name.encode(), flags)
        res = fcntl.ioctl(fd, TUNSETIFF, ifr)
        real = res[:16].rstrip(b"\0").decode()
        if vnet_hdr:
            fcntl.ioctl(fd, TUNSETVNETHDRSZ, struct.pack("i", VNET_HDR_LEN))
            fcntl.ioctl(fd, TUNSETOFFLOAD, offload)
    except BaseException:
        os.close(fd)
        raise
    return fd, real
