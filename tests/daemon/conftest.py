"""Two Cygnet hosts (west, east) in the lab topology, for the daemon's namespace tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from cygnet.lab.netns import Lab
from cygnet.lab.node import CygnetNode
from cygnet.lab.topology import build_topology


@contextmanager
def cygnet_pair(workdir: Path) -> Iterator[tuple[CygnetNode, CygnetNode, object]]:
    """west and east with their own Cygnet (not started); logs printed on the way out."""
    with Lab(workdir / "lab") as lab:
        topo = build_topology(lab, ["west", "east"])
        west = CygnetNode(topo.west.ns, workdir / "west")
        east = CygnetNode(topo.east.ns, workdir / "east")
        try:
            yield west, east, topo
        finally:
            for n in (west, east):
                n.stop()
            for n in (west, east):
                print(f"===== {n.ns.role} =====\n{n.log()[-5000:]}")


@pytest.fixture
def we(tmp_path: Path) -> Iterator[tuple[CygnetNode, CygnetNode, object]]:
    with cygnet_pair(tmp_path) as pair:
        yield pair
