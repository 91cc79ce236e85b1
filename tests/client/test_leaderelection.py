"""Leader election against a real API server, with shrunk periods."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sampan.client.dynamic import Client, ResourceClient
from sampan.client.kubeconfig import load_kubeconfig
from sampan.client.leaderelection import LeaderCallbacks, LeaderElectionConfig, LeaderElector, LeaseLock
from tests.support.apiserver import APIServerHandle, InProcessAPIServer

FAST = LeaderElectionConfig(lease_duration=1.5, renew_deadline=1.0, retry_period=0.2)


@pytest.fixture
async def leases(inproc_apiserver: InProcessAPIServer) -> AsyncIterator[ResourceClient]:
    async with Client(load_kubeconfig(str(inproc_apiserver.kubeconfig))) as c:
        yield await c.resource("coordination.k8s.io/v1", "leases")


class Timeline:
    """(time, identity, "start"|"stop") as each candidate's callbacks saw them."""

    def __init__(self) -> None:
        self.entries: list[tuple[float, str, str]] = []
        self.observed: dict[str, list[str]] = {}
        """identity -> the leaders it saw, in order (on_new_leader)."""

    def candidate(self, leases: ResourceClient, identity: str, config: LeaderElectionConfig) -> LeaderElector:
        async def lead() -> None:
            self.entries.append((time.monotonic(), identity, "start"))
            await asyncio.Event().wait()

        def stop() -> None:
            self.entries.append((time.monotonic(), identity, "stop"))

        def new_leader(who: str) -> None:
            self.observed.setdefault(identity, []).append(who)

        lock = LeaseLock(leases, namespace="kube-system", name="test-lock", identity=identity)
        callbacks = LeaderCallbacks(on_started_leading=lead, on_stopped_leading=stop, on_new_leader=new_leader)
        return LeaderElector(lock, callbacks, config)

    def leaders(self) -> list[str]:
        current: set[str] = set()
        for _, who, what in self.entries:
            if what == "start":
                current.add(who)
            else:
                current.discard(who)
        return sorted(current)

    def assert_never_two_leaders(self) -> None:
        current: set[str] = set()
        for t, who, what in sorted(self.entries):
            if what == "start":
                assert not current, f"{who} started leading at {t} while {current} led"
                current.add(who)
            else:
                current.discard(who)


async def wait_for(pred: object, timeout: float) -> None:
    assert callable(pred)
    for _ in range(int(timeout / 0.02)):
        if pred():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


async def test_killed_leader_is_replaced_within_the_lease_duration(leases: ResourceClient) -> None:
    crash = LeaderElectionConfig(lease_duration=1.5, renew_deadline=1.0, retry_period=0.2, release_on_cancel=False)
    timeline = Timeline()
    electors = {f"c{i}": timeline.candidate(leases, f"c{i}", crash) for i in range(3)}
    tasks = {name: asyncio.create_task(e.run()) for name, e in electors.items()}
    try:
        await wait_for(lambda: len(timeline.leaders()) == 1, 10)
        first = timeline.leaders()[0]
        tasks[first].cancel()  # killed: no release, the lease must expire
        await asyncio.gather(tasks[first], return_exceptions=True)
        killed_at = time.monotonic()
        await wait_for(lambda: len(timeline.leaders()) == 1, 10)
        second = timeline.leaders()[0]
        assert second != first
        took_over = next(t for t, who, what in timeline.entries if who == second and what == "start")
        # lease duration plus one jittered retry period and generous scheduling slack on a shared machine
        assert took_over - killed_at < crash.lease_duration + 1.2 * crash.retry_period * 2 + 2.0
        lease = await leases.get("test-lock", namespace="kube-system")
        assert lease["spec"]["holderIdentity"] == second
        assert lease["spec"]["leaseTransitions"] == 1
        assert timeline.observed[second] == [first, second]
        assert all(timeline.observed[n][0] == first for n in electors)
    finally:
        for t in tasks.values():
            t.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
    timeline.assert_never_two_leaders()


LONG_LEASE = LeaderElectionConfig(lease_duration=60.0, renew_deadline=1.0, retry_period=0.2)
"""A lease the others would wait a minute for, unless its holder releases it."""


async def test_graceful_stop_releases_the_lease(leases: ResourceClient) -> None:
    timeline = Timeline()
    a = timeline.candidate(leases, "a", LONG_LEASE)
    task_a = asyncio.create_task(a.run())
    await wait_for(a.is_leader, 10)
    b = timeline.candidate(leases, "b", FAST)
    task_b = asyncio.create_task(b.run())
    await asyncio.sleep(0.3)
    assert not b.is_leader()
    task_a.cancel()
    await asyncio.gather(task_a, return_exceptions=True)
    lease = await leases.get("test-lock", namespace="kube-system")
    # released (b retries every 0.2 s, so on a busy machine it may already hold it), not still a's
    assert lease["spec"]["holderIdentity"] in ("", "b")
    await wait_for(b.is_leader, 10)  # within 10 s of a 60 s lease: only a release lets b in
    task_b.cancel()
    await asyncio.gather(task_b, return_exceptions=True)
    timeline.assert_never_two_leaders()
    assert [e[1:] for e in timeline.entries] == [("a", "start"), ("a", "stop"), ("b", "start"), ("b", "stop")]


def test_config_is_checked() -> None:
    with pytest.raises(ValueError, match="lease_duration must be greater"):
        LeaderElectionConfig(lease_duration=5, renew_deadline=5)
    with pytest.raises(ValueError, match="retry_period"):
        LeaderElectionConfig(lease_duration=15, renew_deadline=2, retry_period=2)


@pytest.mark.slow
def test_three_processes_leader_killed_with_sigkill(apiserver: APIServerHandle, tmp_path: Path) -> None:
    """Three candidate processes; the leader is SIGKILLed; another leads within the lease duration (plus
    retry and start-up slack), and the recorded timeline never has two leaders at once."""
    procs: dict[str, subprocess.Popen[bytes]] = {}
    outs = {f"p{i}": tmp_path / f"p{i}.log" for i in range(3)}
    root = Path(__file__).resolve().parents[2]
    try:
        for name, out in outs.items():
            procs[name] = subprocess.Popen(
                [sys.executable, "-m", "tests.client.leader_candidate", str(apiserver.kubeconfig), name, str(out)],
                cwd=root)
        first = _wait_for_leaders(outs, 1, timeout=30)[0]
        procs[first].send_signal(signal.SIGKILL)
        procs[first].wait()
        killed_at = time.time()
        second = _wait_for_leaders(outs, 2, timeout=30)[1]
        timeline = _timeline(outs)
        took_over = next(t for t, who, what in timeline if who == second and what == "start")
        assert second != first
        assert took_over - killed_at < 2.0 + 1.2 * 0.2 + 2.0
        current: set[str] = set()
        for t, who, what in timeline:
            if who == first and t > killed_at:
                pytest.fail("killed leader recorded after its death")
            if what == "start":
                holders = current - ({first} if t >= killed_at else set())
                assert not holders, f"{who} started at {t} while {holders} led"
                current.add(who)
            else:
                current.discard(who)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()


def _timeline(outs: dict[str, Path]) -> list[tuple[float, str, str]]:
    entries = []
    for name, out in outs.items():
        if out.exists():
            for line in out.read_text().splitlines():
                t, what = line.split()
                entries.append((float(t), name, what))
    return sorted(entries)


def _wait_for_leaders(outs: dict[str, Path], count: int, *, timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        starts = [who for _, who, what in _timeline(outs) if what == "start"]
        if len(starts) >= count:
            return starts
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} leaders in {timeout}s: {_timeline(outs)}")
