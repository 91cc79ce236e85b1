"""The etcd launcher: real members start, elect, die, restart and stop."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest

from sampan.testing.etcd import EtcdCluster, EtcdError, EtcdOptions

pytestmark = pytest.mark.etcd

FAST = EtcdOptions(heartbeat_ms=20, election_ms=200)


async def test_single_member_starts_leads_and_stops(tmp_path: Path) -> None:
    cluster = await EtcdCluster.start(tmp_path, options=FAST)
    member = cluster.members[0]
    try:
        assert member.running
        assert await member.healthy()
        assert await cluster.leader() is member
        assert member.data_dir.is_dir()
        assert cluster.client_urls == [f"http://127.0.0.1:{member.client_port}"]
    finally:
        await cluster.stop()
    assert not member.running
    assert not await member.healthy()


@pytest.mark.slow
async def test_three_members_survive_losing_the_leader(tmp_path: Path) -> None:
    async with await EtcdCluster.start(tmp_path, size=3) as cluster:
        assert len({m.client_port for m in cluster.members} | {m.peer_port for m in cluster.members}) == 6
        leader = await cluster.leader()
        leader.kill()
        assert not leader.running
        successor = await cluster.leader()
        assert successor is not leader
        assert successor.running
        # The killed member restarts from its data dir and rejoins as a follower.
        leader.start()
        await cluster.wait_ready()
        assert await leader.healthy()
        assert (await cluster.leader()).running
    assert not any(m.running for m in cluster.members)


async def test_a_member_that_cannot_start_is_reported_with_its_log(tmp_path: Path) -> None:
    bad = EtcdOptions(binary="false", ready_timeout=5)
    with pytest.raises(EtcdError, match="exited"):
        await EtcdCluster.start(tmp_path, options=bad)


async def test_a_missing_binary_is_reported(tmp_path: Path) -> None:
    with pytest.raises(EtcdError, match="not found"):
        await EtcdCluster.start(tmp_path, options=EtcdOptions(binary="/nonexistent/etcd"))


async def test_size_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one member"):
        await EtcdCluster.start(tmp_path, size=0)


async def test_members_die_with_the_process_that_started_them(tmp_path: Path) -> None:
    script = (
        "import asyncio, sys\n"
        "from pathlib import Path\n"
        "from sampan.testing.etcd import EtcdCluster, EtcdOptions\n"
        "async def main():\n"
        "    c = await EtcdCluster.start(Path(sys.argv[1]), options=EtcdOptions(heartbeat_ms=20, election_ms=200))\n"
        "    print(c.members[0].process.pid, flush=True)\n"
        "    await asyncio.sleep(600)\n"
        "asyncio.run(main())\n"
    )
    parent = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, str(tmp_path), stdout=asyncio.subprocess.PIPE
    )
    assert parent.stdout is not None
    etcd_pid = int(await asyncio.wait_for(parent.stdout.readline(), 30))
    assert _alive(etcd_pid)
    parent.kill()
    await parent.wait()
    assert await asyncio.to_thread(_dies_within, etcd_pid, 10.0)


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _dies_within(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
