"""Store size under sustained Lease writes (issue 21: 5,000 nodes renew a Lease every 10 s = 500 writes/s
for hours; compaction must keep the store small).

    .venv/bin/python bench/lease_churn.py                                  # 5,000 leases, 500/s, 10 min
    .venv/bin/python bench/lease_churn.py --leases 1000 --rate 200 --minutes 3 --compaction-interval 30s
    .venv/bin/python bench/lease_churn.py --store-level --writes 3600000   # 2 h of writes through the storage API

One ``sampan apiserver`` (sqlite by default, ``--etcd-compaction-interval`` as given) and this driver: it
creates the Leases, then renews them round-robin at ``--rate`` PUTs per second (16 in flight), and every
``--sample`` seconds prints the writes done, the achieved rate, the store's files on disk (sqlite: the
database and its WAL) and the server's RSS. Bounded growth = compaction keeps up; the figures are noisy
on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lease_churn_store
from density import Component, free_port, proc_status, stop_all, wait_http
from sampan.cli.kubeconfig import render_kubeconfig
from sampan.client import Client, load_config

SAMPAN = [sys.executable, "-m", "sampan.cli.main"]
NAMESPACE = "kube-node-lease"
#: Renewals started but not finished at most (16 run at once): beyond it the driver waits for the server.
BACKLOG = 64


def disk_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def lease(name: str) -> dict:
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"holderIdentity": name, "leaseDurationSeconds": 40}}


async def churn(args: argparse.Namespace, kubeconfig: Path, data: Path, pid: int) -> None:
    rest = dataclasses.replace(load_config(str(kubeconfig)), qps=0.0)
    async with Client(rest) as client:
        leases = await client.resource("coordination.k8s.io/v1", "leases")
        names = [f"node-{i}" for i in range(args.leases)]
        current: dict[str, dict] = {}
        sem = asyncio.Semaphore(16)

        async def create(name: str) -> None:
            async with sem:
                current[name] = await leases.create(lease(name), namespace=NAMESPACE)

        await asyncio.gather(*(create(n) for n in names))
        print(f"{args.leases} leases created; renewing at {args.rate}/s for {args.minutes} min", flush=True)
        writes = 0
        start = last_sample = time.monotonic()
        end = start + args.minutes * 60
        interval = 1.0 / args.rate
        next_at = start
        tasks: set[asyncio.Task[None]] = set()

        async def renew(name: str) -> None:
            nonlocal writes
            async with sem:
                obj = dict(current[name])
                obj["spec"] = {**obj["spec"], "renewTime": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())}
                current[name] = await leases.update(obj, namespace=NAMESPACE)
                writes += 1

        def report(now: float, *, final: bool = False) -> None:
            rss = proc_status(pid)["VmRSS"]
            label = " (end)" if final else ""
            print(f"  {now - start:6.0f} s{label}: {writes} writes ({writes / (now - start):.0f}/s), "
                  f"store on disk {disk_bytes(data) / 2**20:.1f} MiB, API server RSS {rss / 2**20:.0f} MiB", flush=True)

        i = 0
        while time.monotonic() < end:
            if len(tasks) >= BACKLOG:  # the server is behind: wait rather than pile up renewals (the printed
                await asyncio.sleep(0.01)  # rate is what it sustained, and the run ends on time)
                next_at = time.monotonic()
                continue
            task = asyncio.create_task(renew(names[i % len(names)]))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            i += 1
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            elif i % 64 == 0:
                await asyncio.sleep(0)
            now = time.monotonic()
            if now - last_sample >= args.sample:
                last_sample = now
                report(now)
        report(time.monotonic(), final=True)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--leases", type=int, default=5000)
    ap.add_argument("--rate", type=float, default=500.0)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--sample", type=float, default=30.0)
    ap.add_argument("--storage", choices=("sqlite", "etcd", "memory"), default="sqlite")
    ap.add_argument("--compaction-interval", default="5m")
    lease_churn_store.add_arguments(ap)
    args = ap.parse_args()
    if args.store_level:
        from sampan._lib.durations import parse_duration

        lease_churn_store.run(args, parse_duration(args.compaction_interval))
        return 0
    with tempfile.TemporaryDirectory(prefix="sampan-bench-lease-churn-") as tmp:
        work = Path(tmp)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        kubeconfig = work / "kubeconfig"
        kubeconfig.write_text(render_kubeconfig(url))
        api = Component("apiserver", [*SAMPAN, "apiserver", "--port", str(port), "--storage", args.storage,
                                      "--data-dir", str(work / "data"), "--etcd-compaction-interval",
                                      args.compaction_interval], work / "apiserver.log")
        try:
            wait_http(url + "/readyz", api.proc, work / "apiserver.log")
            asyncio.run(churn(args, kubeconfig, work / "data", api.proc.pid))
        finally:
            stop_all([api])
        print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
