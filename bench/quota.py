"""ResourceQuota admission cost: pod create latency in a namespace without a quota and with one (every
create then charges ``status.used`` by compare-and-swap before the pod is stored).

    .venv/bin/python bench/quota.py            # 400 creates per case, 1 and 16 concurrent clients
    .venv/bin/python bench/quota.py --count 100

The API server runs in this process on the sqlite store (a temporary directory); the quota's status is
written directly (as the resource-quota controller would) so only admission is measured. Figures are
p50/p99 in ms and creates/s; the machine's 2 cores are shared with the load generator.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from sampan.apiserver.app import APIServer
from sampan.apiserver.config import APIServerConfig, StorageOptions


def pod(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "nginx", "resources": {"requests": {"cpu": "10m"}}}]}}


async def run_case(session: aiohttp.ClientSession, url: str, namespace: str, *, count: int,
                   concurrency: int) -> tuple[float, float, float]:
    base = f"{url}/api/v1/namespaces/{namespace}/pods"
    latencies: list[float] = []
    names = iter(range(count))

    async def client() -> None:
        for i in names:
            start = time.perf_counter()
            async with session.post(base, json=pod(f"p{concurrency}-{i}")) as r:
                await r.read()
                assert r.status == 201, r.status
            latencies.append(time.perf_counter() - start)

    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    latencies.sort()
    return (statistics.median(latencies) * 1000, latencies[int(len(latencies) * 0.99) - 1] * 1000,
            count / elapsed)


async def main(count: int) -> None:
    with tempfile.TemporaryDirectory(prefix="sampan-bench-quota-") as tmp:
        server = APIServer(APIServerConfig(port=0, storage=StorageOptions(backend="sqlite", data_dir=Path(tmp))))
        await server.start()
        try:
            async with aiohttp.ClientSession() as session:
                url = server.url
                for ns in ("plain", "quota"):
                    async with session.post(f"{url}/api/v1/namespaces", json={"metadata": {"name": ns}}) as r:
                        assert r.status == 201
                hard = {"pods": "100000", "requests.cpu": "10000"}
                async with session.post(f"{url}/api/v1/namespaces/quota/resourcequotas",
                                        json={"metadata": {"name": "q"}, "spec": {"hard": hard}}) as r:
                    quota = await r.json()
                quota["status"] = {"hard": hard, "used": {"pods": "0", "requests.cpu": "0"}}
                async with session.put(f"{url}/api/v1/namespaces/quota/resourcequotas/q/status", json=quota) as r:
                    assert r.status == 200
                print(f"{'namespace':<10} {'clients':>7} {'p50 ms':>8} {'p99 ms':>8} {'creates/s':>10}")
                for concurrency in (1, 16):
                    for ns in ("plain", "quota"):
                        p50, p99, rate = await run_case(session, url, ns, count=count, concurrency=concurrency)
                        print(f"{ns:<10} {concurrency:>7} {p50:>8.1f} {p99:>8.1f} {rate:>10.0f}")
                async with session.get(f"{url}/api/v1/namespaces/quota/resourcequotas/q") as r:
                    used = (await r.json())["status"]["used"]
                print(f"quota used after the runs: {used} (expected pods={2 * count})")
        finally:
            await server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=400)
    asyncio.run(main(parser.parse_args().count))
