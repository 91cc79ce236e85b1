"""Crash durability: every write the SQLite store acknowledged survives ``kill -9`` of its process."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from sampan.storage.sqlite import SqliteStorage

ROOT = "/registry/crash/"
ACKS_BEFORE_KILL = 400

# Several concurrent writers, each alternating a fresh create and a compare-and-swap update of its
# counter; each acknowledged write is printed ("revision key value") and flushed before the next.
WRITER = """
import asyncio, sys
from pathlib import Path
from sampan.storage.sqlite import SqliteStorage

async def main(path: str, writers: int) -> None:
    store = await SqliteStorage.open(Path(path))

    def ack(rev: int, key: str, value: bytes) -> None:
        sys.stdout.write(f"{rev} {key} {value.decode()}\\n")
        sys.stdout.flush()

    async def write(i: int) -> None:
        counter = f"/registry/crash/counter/{i}"
        value = b"0"
        rev = await store.create(counter, value)
        ack(rev, counter, value)
        n = 0
        while True:
            n += 1
            key, value = f"/registry/crash/item/{i}/{n}", f"item-{i}-{n}".encode()
            ack(await store.create(key, value), key, value)
            value = str(n).encode()
            rev = await store.update(counter, value, expected_mod_revision=rev)
            ack(rev, counter, value)

    await asyncio.gather(*(write(i) for i in range(writers)))

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


async def test_acknowledged_writes_survive_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WRITER, str(path), "8", stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    lines: list[bytes] = []
    try:
        while len(lines) < ACKS_BEFORE_KILL:
            line = await asyncio.wait_for(proc.stdout.readline(), 30)
            assert line, f"writer exited early with {await proc.wait()}"
            lines.append(line)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        await proc.wait()
    lines += (await proc.stdout.read()).splitlines(keepends=True)  # acks printed just before the kill
    acks = [(int(rev), key, value.encode()) for rev, key, value in (ln.decode().split() for ln in lines)]
    assert len(acks) >= ACKS_BEFORE_KILL

    store = await SqliteStorage.open(path)
    try:
        current = await store.current_revision()
        assert current >= max(rev for rev, _, _ in acks)
        for rev, key, value in acks:
            kv = await store.get(key, revision=rev)
            assert (kv.value, kv.mod_revision) == (value, rev), f"acknowledged write {rev} {key} lost"
        # The log is gap-free from 1 to the current revision, and replays in revision order.
        watch = store.watch(ROOT, after_revision=0)
        replayed: list[int] = []
        async for event in watch:
            replayed.append(event.revision)
            if len(replayed) == current:
                break
        await watch.close()
        assert replayed == list(range(1, current + 1))
        assert sorted(rev for rev, _, _ in acks) == [rev for rev, _, _ in acks], "acks arrive in revision order"
        # The store takes writes again where it stopped.
        assert await store.create(ROOT + "after", b"x") == current + 1
    finally:
        await store.close()
