"""Libreswan's built-in file locations, in one place.

Every command and the daemon take these as defaults and accept overrides
(`--config`, `--nssdir`, `--secretsfile`, `--rundir`, `--ctlsocket`), so
several daemons can share one host in network namespaces.
"""

from __future__ import annotations

import os

CONFIG_FILE = "/etc/ipsec.conf"
SECRETS_FILE = "/etc/ipsec.secrets"
IPSEC_DIR = "/etc/ipsec.d"
POLICIES_DIR = "/etc/ipsec.d/policies"
NSS_DIR = "/var/lib/ipsec/nss"
NSS_PASSWORD_FILE = "/etc/ipsec.d/nsspassword"
RUN_DIR = "/run/pluto"
CTL_SOCKET = "/run/pluto/pluto.ctl"


def nss_dir(override: str | None = None) -> str:
    """The NSS database folder: an explicit override, $IPSEC_NSSDIR, or Libreswan's default."""
    d = override or os.environ.get("IPSEC_NSSDIR") or NSS_DIR
    return d[4:] if d.startswith("sql:") else d


def ctl_socket(rundir: str | None = None, override: str | None = None) -> str:
    """The control socket path: explicit, under --rundir, $PLUTO_CTL, or the default."""
    if override:
        return override
    if rundir:
        return os.path.join(rundir, "pluto.ctl")
    return os.environ.get("PLUTO_CTL") or CTL_SOCKET
