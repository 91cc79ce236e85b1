"""Storage benchmark: the backends side by side, 1 KiB values.

    .venv/bin/python bench/storage.py            # sqlite and etcd, ~1 minute
    .venv/bin/python bench/storage.py --quick    # shorter windows, ~20 s
    .venv/bin/python bench/storage.py --backends memory,etcd

Starts its own etcd (a single member on a free loopback port, via ``sampan.testing.etcd``) and a
sqlite store, each in a temporary directory, and runs the same workloads on each, one backend at a
time so they never compete for the CPU:

- writes/s with 1 and 64 concurrent writers (creates of new keys);
- compare-and-swap updates/s with 64 writers (each updates its own key with the mod revision its last
  update returned, so every update succeeds);
- latency of listing 10,000 keys (median of several full lists);
- watch delivery latency p50/p99 with 100 watchers on one prefix, writes paced every 10 ms; the
  latency runs from just before the write is issued to the watcher receiving the event.

The last column is the ratio first/second backend (throughput: higher favours the first; latency:
lower favours the first).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from sampan.storage.interface import Storage
from sampan.storage.keys import DEFAULT_ROOT
from sampan.testing.etcd import EtcdCluster

VALUE_BYTES = 1024
_STAMP = struct.Struct("<d")


@dataclass(frozen=True)
class Settings:
    window: float = 3.0
    """Seconds each throughput figure is measured over."""
    list_keys: int = 10_000
    list_runs: int = 5
    watchers: int = 100
    watch_writes: int = 200
    watch_interval: float = 0.01


QUICK = Settings(window=1.0, list_runs=3, watch_writes=60)


def payload(stamp: float | None = None) -> bytes:
    """A 1 KiB value; with ``stamp``, its first 8 bytes carry a perf_counter time."""
    head = _STAMP.pack(stamp) if stamp is not None else b""
    return head + b"v" * (VALUE_BYTES - len(head))


async def for_window(window: float, workers: int, step: Callable[[int, int], Awaitable[None]]) -> float:
    """Run ``step(worker, i)`` in ``workers`` loops for ``window`` seconds; return completed steps/s."""
    done = 0
    deadline = time.perf_counter() + window

    async def loop(worker: int) -> None:
        nonlocal done
        i = 0
        while time.perf_counter() < deadline:
            await step(worker, i)
            i += 1
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop(w) for w in range(workers)))
    return done / (time.perf_counter() - started)


async def writes_per_second(store: Storage, settings: Settings, *, writers: int) -> float:
    prefix = f"{DEFAULT_ROOT}writes{writers}/"
    value = payload()

    async def step(worker: int, i: int) -> None:
        await store.create(f"{prefix}w{worker:02d}-{i:07d}", value)

    return await for_window(settings.window, writers, step)


async def cas_per_second(store: Storage, settings: Settings, *, writers: int) -> float:
    prefix = f"{DEFAULT_ROOT}cas/"
    value = payload()
    revisions = [await store.create(f"{prefix}k{w:02d}", value) for w in range(writers)]

    async def step(worker: int, i: int) -> None:
        revisions[worker] = await store.update(f"{prefix}k{worker:02d}", value, expected_mod_revision=revisions[worker])

    return await for_window(settings.window, writers, step)


async def list_latency(store: Storage, settings: Settings) -> float:
    """Median seconds to list ``list_keys`` keys of 1 KiB (loaded with 64 concurrent writers)."""
    prefix = f"{DEFAULT_ROOT}list/"
    value = payload()
    per_writer = settings.list_keys // 64

    async def load(worker: int) -> None:
        for i in range(per_writer):
            await store.create(f"{prefix}w{worker:02d}-{i:05d}", value)

    await asyncio.gather(*(load(w) for w in range(64)))
    for i in range(settings.list_keys - per_writer * 64):
        await store.create(f"{prefix}rest-{i:05d}", value)
    times = []
    for _ in range(settings.list_runs):
        started = time.perf_counter()
        result = await store.list(prefix)
        times.append(time.perf_counter() - started)
        assert len(result.kvs) == settings.list_keys, len(result.kvs)
    return statistics.median(times)


async def watch_latency(store: Storage, settings: Settings) -> tuple[float, float]:
    """p50 and p99 seconds from issuing a write to each of ``watchers`` watchers receiving it."""
    prefix = f"{DEFAULT_ROOT}watch/"
    start = await store.current_revision()
    latencies: list[float] = []
    warm = asyncio.Event()
    warmed = 0

    async def watcher() -> None:
        nonlocal warmed
        watch = store.watch(prefix, after_revision=start)
        seen = 0
        try:
            async for event in watch:
                if event.key.endswith("warmup"):
                    warmed += 1
                    if warmed == settings.watchers:
                        warm.set()
                    continue
                latencies.append(time.perf_counter() - _STAMP.unpack_from(event.value)[0])
                seen += 1
                if seen == settings.watch_writes:
                    return
        finally:
            await watch.close()

    tasks = [asyncio.create_task(watcher()) for _ in range(settings.watchers)]
    try:
        await store.create(prefix + "warmup", payload())
        await asyncio.wait_for(warm.wait(), 60)
        for i in range(settings.watch_writes):
            await store.create(f"{prefix}k{i:05d}", payload(time.perf_counter()))
            await asyncio.sleep(settings.watch_interval)
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    cuts = statistics.quantiles(latencies, n=100)
    return cuts[49], cuts[98]


FIGURES = [
    ("writes/s, 1 writer", "ops"),
    ("writes/s, 64 writers", "ops"),
    ("CAS updates/s, 64 writers", "ops"),
    ("list 10,000 keys, ms", "ms"),
    ("watch delivery p50, ms (100 watchers)", "ms"),
    ("watch delivery p99, ms (100 watchers)", "ms"),
]


async def measure(store: Storage, settings: Settings) -> list[float]:
    w1 = await writes_per_second(store, settings, writers=1)
    w64 = await writes_per_second(store, settings, writers=64)
    cas = await cas_per_second(store, settings, writers=64)
    listing = await list_latency(store, settings)
    p50, p99 = await watch_latency(store, settings)
    return [w1, w64, cas, listing * 1000, p50 * 1000, p99 * 1000]


@contextlib.asynccontextmanager
async def open_backend(name: str, workdir: Path) -> AsyncIterator[Storage]:
    """A fresh store of backend ``name`` living under ``workdir``."""
    store: Storage
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    if name == "etcd":
        from sampan.storage.etcd import EtcdStorage

        async with await EtcdCluster.start(workdir / "etcd") as cluster:
            store = await EtcdStorage.open(cluster.client_urls)
            try:
                yield store
            finally:
                await store.close()
        return
    if name == "sqlite":
        from sampan.storage.sqlite import SqliteStorage

        store = await SqliteStorage.open(workdir / "state.db", root=DEFAULT_ROOT)
    elif name == "memory":
        from sampan.storage.memory import MemoryStorage

        store = MemoryStorage()
    else:
        raise SystemExit(f"unknown backend {name!r}; expected sqlite, etcd or memory")
    try:
        yield store
    finally:
        await store.close()


def render(backends: list[str], results: dict[str, list[float]]) -> str:
    ratio_name = f"{backends[0]}/{backends[1]}" if len(backends) > 1 else ""
    lines = [f"{'figure':40}" + "".join(f"{b:>12}" for b in backends) + f"{ratio_name:>15}"]
    for row, (label, unit) in enumerate(FIGURES):
        cells = [results[b][row] for b in backends]
        text = "".join(f"{c:12,.0f}" if unit == "ops" else f"{c:12.2f}" for c in cells)
        ratio = f"{cells[0] / cells[1]:14.2f}x" if len(cells) > 1 and cells[1] else ""
        lines.append(f"{label:40}{text}{ratio}")
    return "\n".join(lines)


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter windows (about 20 s in all)")
    parser.add_argument("--backends", default="sqlite,etcd", help="comma-separated, first/second gives the ratio")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else Settings()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    results: dict[str, list[float]] = {}
    print(f"storage benchmark: {VALUE_BYTES} B values, {os.cpu_count()} CPUs, {settings}", flush=True)
    with tempfile.TemporaryDirectory(prefix="sampan-bench-") as tmp:
        for name in backends:
            started = time.perf_counter()
            async with open_backend(name, Path(tmp) / name) as store:
                results[name] = await measure(store, settings)
            print(f"  {name}: measured in {time.perf_counter() - started:.1f}s", flush=True)
    print(render(backends, results))
    if "sqlite" in results and "etcd" in results:
        s, e = results["sqlite"], results["etcd"]
        print(f"goal sqlite >= 1.0x etcd on 64-writer writes: {s[1] / e[1]:.2f}x, on CAS updates: {s[2] / e[2]:.2f}x")
        print(f"goal watch p99 < 50 ms: sqlite {s[5]:.1f} ms, etcd {e[5]:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
