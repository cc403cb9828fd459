"""Cygnet: an IKEv2/IPsec VPN in Python that a Libreswan user can drop in."""

__version__ = "0.1.0"
#: What `ipsec --version` and pluto's start-up banner report.
VERSION_STRING = f"Cygnet {__version__} (Libreswan-compatible)"
