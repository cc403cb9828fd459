"""Two Cygnet hosts (west, east) in the lab topology, for the daemon's namespace tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cygnet.lab.node import CygnetNode
from tests.daemon.keepup import cygnet_hosts


@pytest.fixture
def we(tmp_path: Path) -> Iterator[tuple[CygnetNode, CygnetNode, object]]:
    with cygnet_hosts(tmp_path) as pair:
        yield pair
