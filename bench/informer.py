"""Informer benchmark: events/s through reflector → DeltaFIFO → indexer → one handler, and memory per
cached pod.

    .venv/bin/python bench/informer.py                 # 100,000 pods
    .venv/bin/python bench/informer.py --pods 20000    # quicker

The server side is replaced by an in-memory ListerWatcher serving pre-encoded JSON (so the figures are
the client pipeline's, with JSON decoding included, on one core): a paged LIST of N pods (sync time,
objects/s), then a WATCH of N MODIFIED events (events/s until the handler saw the last one). Memory per
cached pod is the tracemalloc growth over the synced cache (decoded objects + indices) divided by N,
measured in a separate pass because tracemalloc slows everything down.

CPython's cyclic GC dominates at this scale (every decoded event allocates dozens of containers, and
collections walk them); ``--gc-threshold 50000`` adds a run with a raised generation-0 threshold, which
a component with a large cache may set at start.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import orjson

from sampan.client.cache.handlers import EventHandlerFuncs
from sampan.client.cache.reflector import ReflectorOptions
from sampan.client.cache.shared_informer import SharedIndexInformer
from sampan.client.rest import decode_json


def pod(i: int, rv: int) -> dict[str, Any]:
    """A realistic pod (~1.4 KiB of JSON), as a scheduler-bound kubelet-started pod looks."""
    name = f"web-{i:06d}"
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": f"ns-{i % 50}", "uid": f"00000000-0000-0000-0000-{i:012d}",
                     "resourceVersion": str(rv), "creationTimestamp": "2026-01-01T00:00:00Z",
                     "labels": {"app": "web", "pod-template-hash": "5d8f7c9b4"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5d8f7c9b4",
                                          "uid": "11111111-2222-3333-4444-555555555555", "controller": True}]},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}],
                                 "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                                 "terminationMessagePath": "/dev/termination-log", "imagePullPolicy": "IfNotPresent"}],
                 "nodeName": f"node-{i % 500}", "restartPolicy": "Always", "dnsPolicy": "ClusterFirst",
                 "schedulerName": "default-scheduler", "terminationGracePeriodSeconds": 30},
        "status": {"phase": "Running", "podIP": f"100.64.{i // 250 % 256}.{i % 250}", "hostIP": "10.0.0.1",
                   "conditions": [{"type": "Ready", "status": "True"}],
                   "containerStatuses": [{"name": "web", "ready": True, "restartCount": 0, "image": "nginx:1.27",
                                          "state": {"running": {"startedAt": "2026-01-01T00:00:01Z"}}}]},
    }


class FakeServer:
    """LIST pages and one WATCH stream, served from pre-encoded bytes."""

    def __init__(self, n: int, page: int) -> None:
        self.n, self.page = n, page
        self.list_pages = []
        for s in range(0, n, page):
            meta: dict[str, Any] = {"resourceVersion": str(n)}
            if s + page < n:
                meta["continue"] = str(s + page)
            items = [pod(i, i + 1) for i in range(s, min(n, s + page))]
            self.list_pages.append(orjson.dumps({"kind": "PodList", "apiVersion": "v1", "metadata": meta,
                                                 "items": items}))
        self.watch_lines = [orjson.dumps({"type": "MODIFIED", "object": pod(i, n + 1 + i)}) for i in range(n)]
        self.watch_started = asyncio.Event()
        self.release_watch = asyncio.Event()

    async def list(self, *, resource_version: str | None, limit: int | None, continue_: str | None) -> dict[str, Any]:
        index = int(continue_) // self.page if continue_ else 0
        result: dict[str, Any] = decode_json(self.list_pages[index])  # as sampan.client.rest decodes a page
        return result

    async def watch(self, *, resource_version: str, timeout_seconds: int) -> AsyncIterator[dict[str, Any]]:
        self.watch_started.set()
        await self.release_watch.wait()
        for i, line in enumerate(self.watch_lines):
            yield orjson.loads(line)
            if i % 256 == 0:
                await asyncio.sleep(0)  # a socket read would yield to the loop now and then
        await asyncio.Event().wait()


async def run(n: int, *, measure_memory: bool) -> dict[str, float]:
    server = FakeServer(n, 500)
    informer = SharedIndexInformer(server, name="pods", reflector_options=ReflectorOptions(page_size=500),
                                   fifo_high_water=50_000)
    seen = {"add": 0, "update": 0}
    done = asyncio.Event()

    def on_update(old: Any, new: Any) -> None:
        seen["update"] += 1
        if seen["update"] == n:
            done.set()

    informer.add_event_handler(EventHandlerFuncs(on_add_func=lambda o: seen.__setitem__("add", seen["add"] + 1),
                                                 on_update_func=on_update))
    gc.collect()
    if measure_memory:
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    task = asyncio.create_task(informer.run())
    await informer.wait_for_sync()
    await server.watch_started.wait()
    synced = time.perf_counter() - t0
    result = {"sync_s": synced, "list_objs_per_s": n / synced, "sync_cpu_s": time.process_time() - c0}
    if measure_memory:
        gc.collect()
        result["bytes_per_pod"] = (tracemalloc.get_traced_memory()[0] - base) / n
        tracemalloc.stop()
    else:
        t1 = time.perf_counter()
        server.release_watch.set()
        await done.wait()
        elapsed = time.perf_counter() - t1
        result["watch_events_per_s"] = n / elapsed
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description="informer pipeline benchmark")
    parser.add_argument("--pods", type=int, default=100_000)
    parser.add_argument("--gc-threshold", type=int, default=0,
                        help="also run with gc.set_threshold(N, 20, 100) (e.g. 50000); 0 = default GC only")
    parser.add_argument("--no-gc-pause", action="store_true",
                        help="decode pages and queue the LIST with the GC on (before issue 21's pause), to compare")
    args = parser.parse_args()
    if args.no_gc_pause:
        import contextlib

        from sampan._lib import gcpause

        gcpause.paused = contextlib.nullcontext  # type: ignore[assignment]
    report(args.pods, "default GC" + (", no pause" if args.no_gc_pause else ""))
    if args.gc_threshold:
        gc.set_threshold(args.gc_threshold, 20, 100)
        report(args.pods, f"gc.set_threshold({args.gc_threshold}, 20, 100)")


def report(pods: int, label: str) -> None:
    speed = asyncio.run(run(pods, measure_memory=False))
    memory = asyncio.run(run(pods, measure_memory=True))
    print(f"pods: {pods:,}  [{label}]")
    print(f"initial LIST → cache synced: {speed['sync_s']:.2f} s ({speed['list_objs_per_s']:,.0f} objects/s); "
          f"CPU {speed['sync_cpu_s']:.2f} s ({speed['sync_cpu_s'] / pods * 1e6:.1f} us/pod)")
    print(f"WATCH events through reflector → DeltaFIFO → indexer → handler: {speed['watch_events_per_s']:,.0f} "
          f"events/s (goal ≥ 20,000)")
    print(f"memory per cached pod (decoded object + indices): {memory['bytes_per_pod'] / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
