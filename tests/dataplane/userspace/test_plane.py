"""The userspace plane's command ordering towards its workers, on socketpairs (no workers,
no namespaces): a new outbound SA reaches the TX worker only after the RX worker has it,
and `barrier()` answers once the RX worker has done every command so far."""

from __future__ import annotations

import asyncio
import pickle
import socket
from concurrent.futures import ThreadPoolExecutor

from cygnet.dataplane.userspace import shm
from cygnet.dataplane.userspace.agent import child_from_json
from cygnet.dataplane.userspace.nslab import EASTNET, WESTNET, static_sa_pair
from cygnet.dataplane.userspace.plane import UserspaceDataplane, _WorkerHandle


class FakeRouter:
    def add(self, *a) -> None:
        pass

    def remove(self, *a) -> None:
        pass


def received(sock: socket.socket) -> list[tuple]:
    out = []
    while True:
        try:
            out.append(pickle.loads(sock.recv(1 << 20)))
        except BlockingIOError:
            return out


async def _plane() -> tuple[UserspaceDataplane, dict[str, socket.socket]]:
    plane = UserspaceDataplane()
    plane._loop = asyncio.get_running_loop()
    plane._counters = shm.CounterBlock()
    plane._router = FakeRouter()  # type: ignore[assignment]
    plane._rt_exec = ThreadPoolExecutor(1)
    theirs = {}
    for role in ("tx", "rx"):
        ours, t = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setblocking(False)
        t.setblocking(False)
        plane._workers.append(_WorkerHandle(role, None, ours))  # type: ignore[arg-type]
        theirs[role] = t
    return plane, theirs


def test_tx_takes_a_new_outbound_sa_only_after_rx_has_it() -> None:
    async def run() -> None:
        plane, w = await _plane()
        rx = next(h for h in plane._workers if h.role == "rx")
        child, where = child_from_json(static_sa_pair(1, west_ts=[WESTNET], east_ts=[EASTNET])[0])
        plane.install(child, where)
        plane.remove(1)
        got_rx = received(w["rx"])
        assert [c[0] for c in got_rx] == ["add", "ping", "del"]
        assert received(w["tx"]) == []  # held back, in order
        plane._dispatch(rx, ("pong", got_rx[1][1]))
        await asyncio.sleep(0.05)
        assert [c[0] for c in received(w["tx"])] == ["add", "del"]
        plane._rt_exec.shutdown()  # type: ignore[union-attr]
        plane._counters.close()  # type: ignore[union-attr]

    asyncio.run(run())


def test_held_sa_goes_to_tx_at_once_and_barrier_waits_for_rx() -> None:
    """A rekey responder's SA (outbound held on the old one) needs no gate; the daemon's
    barrier fires on the RX worker's pong, or after its timeout if the worker is stuck."""
    async def run() -> None:
        plane, w = await _plane()
        rx = next(h for h in plane._workers if h.role == "rx")
        w1, _ = static_sa_pair(1, west_ts=[WESTNET], east_ts=[EASTNET])
        w2, _ = static_sa_pair(2, west_ts=[WESTNET], east_ts=[EASTNET])
        plane.install(*child_from_json(w1))
        got = received(w["rx"])
        plane._dispatch(rx, ("pong", got[-1][1]))
        await asyncio.sleep(0.05)
        received(w["tx"])
        plane.install(*child_from_json(w2), replaces=1, outbound=False)
        assert [c[0] for c in received(w["tx"])] == ["add"]
        fired: list[str] = []
        plane.barrier(lambda: fired.append("pong"))
        ping = received(w["rx"])[-1]
        assert ping[0] == "ping" and not fired
        plane._dispatch(rx, ("pong", ping[1]))
        plane._dispatch(rx, ("pong", ping[1]))  # once only
        assert fired == ["pong"]
        plane._after_rx(lambda: fired.append("timeout"), timeout=0.05)
        await asyncio.sleep(0.2)
        assert fired == ["pong", "timeout"]
        plane._rt_exec.shutdown()  # type: ignore[union-attr]
        plane._counters.close()  # type: ignore[union-attr]

    asyncio.run(run())
