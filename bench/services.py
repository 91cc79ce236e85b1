"""Service creation with cluster-IP (and node-port) allocation, beside ConfigMap creation as a baseline:
a real ``sampan apiserver`` process (sqlite), driven over HTTP by concurrent clients.

    .venv/bin/python bench/services.py            # 1,000 objects per workload, 16 clients
    .venv/bin/python bench/services.py --count 300 --clients 4

Each Service create reads and compare-and-swaps the stored bitmap of its range (one more store
round trip and ~8 KiB written for the /16), so its rate is compared with ConfigMap creates, which only
write the object. Prints creates/s and p50/p99 per workload and the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.apiserver import run_apiserver_process


async def create_many(url: str, path: str, bodies: list[dict[str, object]], clients: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    queue: asyncio.Queue[dict[str, object]] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)

    async def worker(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            t0 = time.perf_counter()
            async with session.post(url + path, json=body) as r:
                await r.read()
                if r.status != 201:
                    raise RuntimeError(f"create failed: {r.status}")
            latencies.append(time.perf_counter() - t0)

    async with aiohttp.ClientSession() as session:
        start = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(clients)))
        elapsed = time.perf_counter() - start
    return len(bodies) / elapsed, latencies


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, run_apiserver_process(Path(tmp), storage="sqlite") as server:
        ns = "/api/v1/namespaces/default"
        workloads = {
            "configmap (baseline)": ("/configmaps", [{"metadata": {"name": f"cm{i}"}, "data": {"k": "v"}}
                                                     for i in range(args.count)]),
            "service ClusterIP": ("/services", [{"metadata": {"name": f"svc{i}"},
                                                 "spec": {"selector": {"app": "x"}, "ports": [{"port": 80}]}}
                                                for i in range(args.count)]),
            "service NodePort": ("/services", [{"metadata": {"name": f"np{i}"},
                                                "spec": {"type": "NodePort", "selector": {"app": "x"},
                                                         "ports": [{"port": 80}]}}
                                               for i in range(min(args.count, 2000))]),
        }
        base = 0.0
        print(f"{'workload':<22} {'creates/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'vs baseline':>12}")
        for name, (path, bodies) in workloads.items():
            rate, lat = await create_many(server.url, ns + path, bodies, args.clients)
            base = base or rate
            print(f"{name:<22} {rate:>10.0f} {statistics.median(lat) * 1000:>8.1f} {pct(lat, 0.99):>8.1f} "
                  f"{rate / base:>11.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
