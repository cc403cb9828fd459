"""Kernel XFRM data plane: `netlink` is the wire codec, `backend` the `Dataplane`."""

from cygnet.dataplane.xfrm.backend import (
    NicOffload,
    XfrmDataplane,
    XfrmUnsupported,
    bypass_ike_socket,
    enable_udp_encap,
    libreswan_priority,
)
from cygnet.dataplane.xfrm.netlink import XfrmError, XfrmOffloadError
from cygnet.dataplane.xfrm.offload import esp_hw_offload, kernel_offload_log_line

__all__ = [
    "NicOffload",
    "XfrmDataplane",
    "XfrmError",
    "XfrmOffloadError",
    "XfrmUnsupported",
    "bypass_ike_socket",
    "enable_udp_encap",
    "esp_hw_offload",
    "kernel_offload_log_line",
    "libreswan_priority",
]
