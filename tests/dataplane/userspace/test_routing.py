"""The userspace plane's routes into the TUN device, against a recording fake IPRoute."""

from __future__ import annotations

import pytest

from cygnet.dataplane.userspace import routing
from cygnet.dataplane.userspace.agent import ts_from_cidr


class FakeIPRoute:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def route(self, cmd: str, **kw) -> None:
        self.calls.append((cmd, kw))

    def get_addr(self) -> list:
        return []

    def close(self) -> None:
        pass


@pytest.fixture
def router(monkeypatch) -> tuple[routing.Router, FakeIPRoute]:
    fake = FakeIPRoute()
    monkeypatch.setattr(routing, "IPRoute", lambda: fake)
    r = routing.Router("ipsec0", 4500, 0x4359, 220)
    r.index = 7
    return r, fake


EASTNET = (ts_from_cidr("192.0.2.0/24"),)
WESTNET = (ts_from_cidr("192.0.1.0/24"),)


def test_mtu_goes_on_the_conns_routes(router) -> None:
    """mtu= becomes the route's RTAX_MTU (Libreswan's updown: `ip route ... mtu N`)."""
    r, fake = router
    r.add(("sa", 2), EASTNET, WESTNET, 1300)
    assert fake.calls == [("replace", {"dst": "192.0.2.0/24", "oif": 7, "table": 4500,
                                       "metrics": {"mtu": 1300}})]


def test_no_mtu_no_metrics_and_rekeys_share_the_route(router) -> None:
    r, fake = router
    r.add(("sa", 2), EASTNET, WESTNET)
    assert fake.calls == [("replace", {"dst": "192.0.2.0/24", "oif": 7, "table": 4500})]
    fake.calls.clear()
    r.add(("sa", 3), EASTNET, WESTNET)  # the rekeyed SA: same route, nothing to do
    r.remove(("sa", 2))
    assert fake.calls == []
    r.remove(("sa", 3))
    assert fake.calls == [("del", {"dst": "192.0.2.0/24", "oif": 7, "table": 4500})]


def test_a_changed_mtu_replaces_the_shared_route(router) -> None:
    """A trap's route (no mtu) gets the conn's mtu when its SA arrives; a rekey with the
    same mtu changes nothing."""
    r, fake = router
    r.add(("trap", 1), EASTNET, WESTNET)
    r.add(("sa", 2), EASTNET, WESTNET, 1300)
    r.add(("sa", 3), EASTNET, WESTNET, 1300)
    assert [kw.get("metrics") for _, kw in fake.calls] == [None, {"mtu": 1300}]


def test_a_killed_planes_rule_is_replaced_not_doubled(tmp_path) -> None:
    """A real kernel, in a throw-away namespace: two Routers in a row (the first never
    cleans up, like a SIGKILLed data plane) leave exactly one rule per family."""
    import subprocess
    import sys
    import uuid

    from cygnet.lab.netns import is_root, netns_available

    if not (is_root() and netns_available()):
        pytest.skip("needs root and netns")
    ns = f"cyg-rt-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        code = (
            "import socket\n"
            "from cygnet.dataplane.userspace.routing import Router\n"
            "for _ in range(2):\n"
            "    r = Router('lo', 4500, 0x4359, 220)\n"
            "    r.add_rules()\n"  # and never remove_rules(): killed
        )
        subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", code], check=True,
                       cwd=tmp_path)
        for fam in ("-4", "-6"):
            out = subprocess.run(["ip", "-n", ns, fam, "rule", "show", "table", "4500"],
                                 capture_output=True, text=True, check=True).stdout
            assert out.count("lookup 4500") == 1, out
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)
