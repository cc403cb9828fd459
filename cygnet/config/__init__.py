"""Libreswan's configuration language: ipsec.conf, ipsec.secrets, policy groups.

The daemon's entry points for ipsec.conf:

- `load_config(path) -> Config`: `Config.setup` (`SetupConfig`),
  `Config.conns` (`dict[str, ConnSpec]` in file order, `also=` and
  `%default` merged, defaults filled), `Config.warnings` (Libreswan-worded).
- `ConfigError`: every refusal, `FILE:LINE: KEYWORD: message`.
- `orient(conn, local_addrs, default_route_addr) -> OrientedConn`: which
  end is this host; `local_addresses()` gathers the arguments with pyroute2.
"""

from cygnet.config.conn import Config, ConnSpec, End, SetupConfig, load_config, loads_config
from cygnet.config.errors import ConfigError
from cygnet.config.orient import OrientedConn, local_addresses, orient

__all__ = [
    "Config",
    "ConfigError",
    "ConnSpec",
    "End",
    "OrientedConn",
    "SetupConfig",
    "load_config",
    "loads_config",
    "local_addresses",
    "orient",
]
