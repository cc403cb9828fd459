"""Does the kernel, and does a NIC, do ESP offload? (ethtool's "esp-hw-offload" feature).

pluto asks once at start-up and logs "Kernel supports NIC esp-hw-offload" (or
"Kernel does not support NIC esp-hw-offload"), then per interface whether the
feature is active; `nic-offload=auto` only offloads where it is. Read-only
SIOCETHTOOL queries: nothing is changed.
"""

from __future__ import annotations

import ctypes
import fcntl
import socket
import struct

SIOCETHTOOL = 0x8946
ETHTOOL_GSTRINGS = 0x1B
ETHTOOL_GSSET_INFO = 0x37
ETHTOOL_GFEATURES = 0x3A
ETH_SS_FEATURES = 4
ETH_GSTRING_LEN = 32
FEATURE = b"esp-hw-offload"


def _ethtool(sock: socket.socket, ifname: str, buf: ctypes.Array[ctypes.c_char]) -> bool:
    ifreq = struct.pack("16sP", ifname.encode()[:15], ctypes.addressof(buf))
    try:
        fcntl.ioctl(sock.fileno(), SIOCETHTOOL, ifreq)
    except OSError:
        return False
    return True


def esp_hw_offload(ifname: str) -> tuple[bool, bool]:
    """(kernel knows esp-hw-offload, the feature is active on `ifname`)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        info = ctypes.create_string_buffer(
            struct.pack("=IIQI", ETHTOOL_GSSET_INFO, 0, 1 << ETH_SS_FEATURES, 0)
        )
        if not _ethtool(sock, ifname, info):
            return False, False
        _cmd, _res, mask, count = struct.unpack_from("=IIQI", info.raw)
        if mask != 1 << ETH_SS_FEATURES:
            return False, False
        strings = ctypes.create_string_buffer(
            struct.pack("=III", ETHTOOL_GSTRINGS, ETH_SS_FEATURES, 0)
            + bytes(ETH_GSTRING_LEN * count)
        )
        if not _ethtool(sock, ifname, strings):
            return False, False
        names = strings.raw[12:]
        bit = next(
            (
                i
                for i in range(count)
                if names[i * ETH_GSTRING_LEN : (i + 1) * ETH_GSTRING_LEN].rstrip(b"\0") == FEATURE
            ),
            None,
        )
        if bit is None:
            return False, False
        blocks = (count + 31) // 32
        feats = ctypes.create_string_buffer(
            struct.pack("=II", ETHTOOL_GFEATURES, blocks) + bytes(16 * blocks)
        )
        if not _ethtool(sock, ifname, feats):
            return True, False
        active = struct.unpack_from("=I", feats.raw, 8 + 16 * (bit // 32) + 8)[0]
        return True, bool(active & (1 << (bit % 32)))


def kernel_offload_log_line(ifname: str = "lo") -> str:
    """pluto's start-up line about ESP hardware offload."""
    kernel, _active = esp_hw_offload(ifname)
    return (
        "Kernel supports NIC esp-hw-offload"
        if kernel
        else ("Kernel does not support NIC esp-hw-offload")
    )
