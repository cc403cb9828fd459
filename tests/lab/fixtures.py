"""pytest fixtures for lab tests: namespaces, topology, strongSwan and Libreswan peers.

Load them for the whole suite with, in the top-level ``tests/conftest.py``::

    pytest_plugins = ["tests.lab.fixtures"]

Every fixture skips (never fails) when the machine can't run it: not root,
strongSwan not installed, Libreswan not unpacked (run scripts/setup.sh).
Teardown is guaranteed: the `lab` fixture deletes every namespace and stops
every process it started, even when the test fails, and prints the peers'
logs so a failing test shows them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from cygnet.lab.libreswan import (
    Pluto,
    libreswan_available,
    psk_secret,
    render_ipsec_conf,
)
from cygnet.lab.netns import Lab, cleanup_stale, netns_available
from cygnet.lab.strongswan import Charon, SwanConn, strongswan_available
from cygnet.lab.topology import Host, Topology, build_topology

__all__ = [
    "lab",
    "lab_topology",
    "libreswan_peer",
    "psk_secret",
    "render_ipsec_conf",
    "require_libreswan",
    "require_netns",
    "require_strongswan",
    "strongswan_peer",
]


def require_netns() -> None:
    if not netns_available():
        pytest.skip("needs root and network namespaces")


def require_strongswan() -> None:
    require_netns()
    if not strongswan_available():
        pytest.skip("strongSwan (charon, swanctl) not installed: run scripts/setup.sh")


def require_libreswan() -> None:
    require_netns()
    if not libreswan_available():
        pytest.skip("Libreswan .deb not unpacked: run scripts/setup.sh")


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    """An empty lab (unique namespace prefix) that is torn down whatever happens."""
    require_netns()
    cleanup_stale()
    with Lab(tmp_path / "lab") as the_lab:
        try:
            yield the_lab
        finally:
            logs = sorted((tmp_path / "lab").rglob("*.log")) + sorted(
                (tmp_path / "lab" / "logs").glob("*.out")
            )
            for path in logs:
                text = path.read_text(errors="replace")
                if text.strip():
                    print(f"===== {path.relative_to(tmp_path)} =====\n{text[-6000:]}")


@pytest.fixture
def lab_topology(lab: Lab) -> Callable[..., Topology]:
    """Factory: ``topo = lab_topology("west", "east")`` (road/north add nic)."""

    def build(*hosts: str) -> Topology:
        return build_topology(lab, hosts or ("west", "east"))

    return build


@pytest.fixture
def strongswan_peer(lab: Lab) -> Iterator[Callable[..., Charon]]:
    """Factory: a started, loaded charon on a lab host.

    ``strongswan_peer(topo.east, [SwanConn(...)], keys={"east.pem": pem},
    pubkeys={"west.pub": pub})``
    """
    require_strongswan()
    started: list[Charon] = []

    def start(
        host: Host,
        conns: Sequence[SwanConn],
        *,
        keys: Mapping[str, bytes] | None = None,
        pubkeys: Mapping[str, bytes] | None = None,
        loglevel: int = 1,
    ) -> Charon:
        charon = Charon(host.ns, lab.workdir, host.name, loglevel=loglevel)
        charon.configure(conns)
        for name, pem in (keys or {}).items():
            charon.add_private_key(name, pem)
        for name, pem in (pubkeys or {}).items():
            charon.add_pubkey(name, pem)
        started.append(charon)
        charon.start()
        return charon

    yield start
    for charon in started:
        charon.stop()


@pytest.fixture
def libreswan_peer(lab: Lab) -> Iterator[Callable[..., Pluto]]:
    """Factory: a started pluto on a lab host with the given conns and secrets.

    ``libreswan_peer(topo.west, {"plab": {...}}, psk_secret("@west", "@east", psk))``
    """
    require_libreswan()
    started: list[Pluto] = []

    def start(
        host: Host, conns: Mapping[str, Mapping[str, str]], secrets: str = "", **setup: str
    ) -> Pluto:
        pluto = Pluto(host.ns, lab.workdir, host.name)
        pluto.configure(render_ipsec_conf(conns, pluto.setup(**setup)), secrets)
        started.append(pluto)
        pluto.start()
        return pluto

    yield start
    for pluto in started:
        pluto.stop()
