"""The store-level mode of ``bench/lease_churn.py`` (``--store-level``): hours of Lease renewals replayed
through the storage API as fast as the store takes them, with compaction on its normal schedule scaled
to the write count.

    .venv/bin/python bench/lease_churn.py --store-level --writes 3600000            # sqlite, 2 h at 500/s
    .venv/bin/python bench/lease_churn.py --store-level --storage etcd --writes 1800000

Scaling: the API server compacts every ``--etcd-compaction-interval`` (5 min) to the revision that was
current at its previous tick. At ``--rate`` writes per second (500: 5,000 nodes renewing every 10 s)
that is one :meth:`Compactor.tick` every ``rate * interval`` writes (150,000), which is what this mode
calls: the same ``Compactor`` the API server runs, driven by a write counter instead of a clock. So
``--writes 3600000`` is 2 hours of a 5,000-node cluster's Lease traffic and 24 compactions.

Every ``--sample-every`` writes it prints the files on disk (sqlite: ``state.db`` and ``state.db-wal``
apart; etcd: its data directory), the store's own view of its size (sqlite: ``page_count`` and
``freelist_count``; etcd: ``etcd_mvcc_db_total_size_in_bytes`` and ``..._in_use_in_bytes`` from its
/metrics), the rows or keys it holds, and RSS (this process for sqlite, whose store is in-process; the
etcd member for etcd). Bounded = compaction keeps up and freed space is reused.

etcd: the API server only compacts (as upstream's does). etcd's bbolt file never shrinks by itself:
pages freed by compaction are reused for new writes, so the file levels off at its high-water mark;
giving the space back to the file system is ``etcdctl defrag``, an operator's job upstream
(``--defrag`` runs it after each compaction here, to show the difference).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import sqlite3
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import orjson

from sampan.storage import Storage
from sampan.storage.compactor import Compactor, CompactorOptions
from sampan.storage.factory import StorageOptions, open_storage

PREFIX = "/registry/leases/kube-node-lease/"


def lease_value(name: str, renew: int) -> bytes:
    """A node Lease as the API server stores it (~500 bytes with its managedFields)."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(1_700_000_000 + renew)) + ".000000Z"
    return orjson.dumps({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": name, "namespace": "kube-node-lease",
                     "uid": f"00000000-0000-4000-8000-{renew % 10**12:012d}",
                     "creationTimestamp": "2026-01-01T00:00:00Z",
                     "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": name,
                                          "uid": "11111111-2222-4333-8444-555555555555"}],
                     "managedFields": [{"manager": "kubelet", "operation": "Update",
                                        "apiVersion": "coordination.k8s.io/v1",
                                        "time": stamp, "fieldsType": "FieldsV1",
                                        "fieldsV1": {"f:metadata": {"f:ownerReferences": {}},
                                                     "f:spec": {"f:holderIdentity": {}, "f:leaseDurationSeconds": {},
                                                                "f:renewTime": {}}}}]},
        "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": stamp},
    })


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def sqlite_sizes(data: Path) -> str:
    db, wal = data / "state.db", data / "state.db-wal"
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        rows = conn.execute("SELECT COUNT(*) FROM log").fetchone()[0]
    finally:
        conn.close()
    wal_size = wal.stat().st_size if wal.exists() else 0
    return (f"db {db.stat().st_size / 2**20:6.1f} MiB ({pages * page / 2**20:.1f} MiB in pages, {free} free pages), "
            f"WAL {wal_size / 2**20:5.1f} MiB, {rows} rows, RSS {rss_mib(os.getpid()):.0f} MiB")


def etcd_sizes(url: str, data: Path, pid: int) -> str:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as resp:
        text = resp.read().decode()

    def metric(name: str) -> float:
        m = re.search(rf"^{name} (\S+)$", text, re.M)
        return float(m.group(1)) if m else -1.0

    total = metric("etcd_mvcc_db_total_size_in_bytes")
    in_use = metric("etcd_mvcc_db_total_size_in_use_in_bytes")
    keys = metric("etcd_debugging_mvcc_keys_total")
    return (f"db {total / 2**20:6.1f} MiB ({in_use / 2**20:.1f} MiB in use), "
            f"data dir {dir_bytes(data) / 2**20:.1f} MiB, {keys:.0f} keys, etcd RSS {rss_mib(pid):.0f} MiB")


async def defrag(url: str) -> None:
    """``etcdctl defrag`` through the v3 JSON gateway (what an operator runs; the API server never does)."""
    req = urllib.request.Request(url + "/v3/maintenance/defragment", data=b"{}", method="POST")
    await asyncio.to_thread(lambda: urllib.request.urlopen(req, timeout=120).read())


@contextlib.asynccontextmanager
async def opened(args: argparse.Namespace, work: Path) -> AsyncIterator[tuple[Storage, Callable[[], str], str]]:
    if args.storage == "etcd":
        from sampan.testing.etcd import EtcdCluster

        cluster = await EtcdCluster.start(work / "etcd", size=1)
        member = cluster.members[0]
        assert member.process is not None
        pid = member.process.pid
        store = await open_storage(StorageOptions(backend="etcd", etcd_servers=tuple(cluster.client_urls)))
        try:
            url = member.client_url
            yield store, lambda: etcd_sizes(url, member.data_dir, pid), url
        finally:
            await store.close()
            await cluster.stop()
    else:
        data = work / "data"
        store = await open_storage(StorageOptions(backend="sqlite", data_dir=data))
        try:
            yield store, lambda: sqlite_sizes(data), ""
        finally:
            await store.close()


async def replay(args: argparse.Namespace) -> None:
    per_tick = int(args.rate * args.interval)
    print(f"{args.storage}: {args.leases} leases, {args.writes:,} updates ({args.writes / args.rate / 3600:.1f} h at "
          f"{args.rate:.0f}/s), one compaction every {per_tick:,} writes (= every {args.interval:.0f} s at that rate)"
          f"{', etcd defrag after each' if args.defrag else ''}", flush=True)
    with tempfile.TemporaryDirectory(prefix="sampan-bench-store-churn-") as tmp:
        async with opened(args, Path(tmp)) as (store, describe, url):
            names = [f"node-{i:05d}" for i in range(args.leases)]
            revs: dict[str, int] = {}
            for i in range(0, len(names), 256):
                chunk = names[i:i + 256]
                got = await asyncio.gather(*(store.create(PREFIX + n, lease_value(n, 0)) for n in chunk))
                revs.update(zip(chunk, got, strict=True))
            compactor = Compactor(store, CompactorOptions(interval=args.interval))
            written = 0
            next_tick = per_tick
            next_sample = 0
            start = time.monotonic()
            cpu0 = time.process_time()
            queue: asyncio.Queue[str] = asyncio.Queue()
            for n in names:
                queue.put_nowait(n)

            async def worker() -> None:
                nonlocal written
                while written < args.writes:
                    name = await queue.get()
                    revs[name] = await store.update(PREFIX + name, lease_value(name, written),
                                                    expected_mod_revision=revs[name])
                    written += 1
                    queue.put_nowait(name)

            workers = [asyncio.create_task(worker()) for _ in range(args.in_flight)]
            try:
                while written < args.writes:
                    await asyncio.sleep(0.05)
                    if written >= next_tick:
                        next_tick += per_tick
                        compacted = await compactor.tick()
                        if compacted and args.defrag and url:
                            await defrag(url)
                    if written >= next_sample:
                        next_sample += args.sample_every
                        elapsed = time.monotonic() - start
                        print(f"  {written:>9,} writes ({written / args.rate / 3600:5.2f} h simulated, "
                              f"{written / max(elapsed, 1e-9):,.0f}/s): {describe()}", flush=True)
            finally:
                for w in workers:
                    w.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
            elapsed = time.monotonic() - start
            print(f"  done {written:,} writes in {elapsed:.0f} s ({written / elapsed:,.0f}/s, "
                  f"driver+store process CPU {time.process_time() - cpu0:.0f} s): {describe()}", flush=True)


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--store-level", action="store_true",
                    help="replay the Lease updates through the storage API (no API server); see lease_churn_store.py")
    ap.add_argument("--writes", type=int, default=3_600_000, help="store-level: updates in all (3.6 M = 2 h at 500/s)")
    ap.add_argument("--in-flight", type=int, default=64, help="store-level: concurrent updates")
    ap.add_argument("--sample-every", type=int, default=150_000, help="store-level: print sizes every N writes")
    ap.add_argument("--defrag", action="store_true", help="store-level, etcd: defragment after each compaction")


def run(args: argparse.Namespace, interval: float) -> None:
    args.interval = interval
    asyncio.run(replay(args))
