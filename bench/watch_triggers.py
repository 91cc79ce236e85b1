"""Fan-out cost of one pod event with N kubelet watches (``fieldSelector=spec.nodeName=<node>``), with the
watch cache's trigger index (``sampan.apiserver.cacher.triggers``) and without it (every watcher tested).

    .venv/bin/python bench/watch_triggers.py                       # 5,000 node watchers, 20,000 events
    .venv/bin/python bench/watch_triggers.py --nodes 1000 --events 5000

In process, on the API server's own code: one pods ``ResourceCache`` with ``--nodes`` watchers (one per
node, as N separate kubelets have; a hollow-node process has one watch for all its nodes instead) plus
``--plain`` unindexed watchers (the scheduler's, controllers'), fed MODIFIED events of pods spread over the
nodes. The figure is CPU microseconds per event for the whole ``apply`` (decode, window, dispatch, queue),
medians of interleaved rounds (index, no index, index, ...), and the watchers each event was offered to.
Each event is also checked to reach exactly its node's watcher either way.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Iterable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from sampan.api.selectors import FieldSelector
from sampan.apiserver.cacher.objects import WatchEvent, encode_for_store
from sampan.apiserver.cacher.resource_cache import ResourceCache
from sampan.apiserver.cacher.watcher import CacheWatcher, Filter
from sampan.storage import Event, EventType

PREFIX = "/registry/pods/"


def pod_fields(obj: dict) -> dict[str, str]:
    md, spec = obj["metadata"], obj.get("spec", {})
    return {"metadata.name": md["name"], "metadata.namespace": md.get("namespace", ""),
            "spec.nodeName": spec.get("nodeName", ""), "status.phase": obj.get("status", {}).get("phase", "")}


def pod(name: str, node: str, gen: int) -> bytes:
    return encode_for_store({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "density", "uid": f"uid-{name}", "labels": {"app": "density"},
                     "annotations": {"gen": str(gen)}},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.9",
                                                   "resources": {"requests": {"cpu": "1m", "memory": "1Mi"}}}]},
        "status": {"phase": "Running", "podIP": "100.64.0.1", "conditions": [{"type": "Ready", "status": "True"}]},
    })


def build(nodes: int, plain: int, pods: int) -> tuple[ResourceCache, list[CacheWatcher], list[tuple[str, str]]]:
    cache = ResourceCache(PREFIX, kind="Pod", api_version="v1", field_values_of=pod_fields, window_size=1000,
                          watcher_capacity=1 << 30)
    placed = [(f"p{i:06d}", f"node-{i % nodes:05d}") for i in range(pods)]
    from sampan.storage import KeyValue

    cache.reset([KeyValue(PREFIX + "density/" + n, pod(n, node, 0), i + 1, i + 1) for i, (n, node) in
                 enumerate(placed)], pods)
    watchers = [cache.add_watcher(Filter(None, None, FieldSelector.parse(f"spec.nodeName=node-{i:05d}")),
                                  bookmarks=False, initial=()) for i in range(nodes)]
    for _ in range(plain):
        cache.add_watcher(Filter(None, None, FieldSelector.parse("status.phase!=Failed")), bookmarks=False, initial=())
    return cache, watchers, placed


async def round_(cache: ResourceCache, watchers: list[CacheWatcher], placed: list[tuple[str, str]], *,
                 events: int, start_rev: int, indexed: bool) -> tuple[float, float]:
    """CPU µs per event, and watchers offered per event."""
    real = cache.watchers.candidates
    offered = 0

    def everyone(ev: WatchEvent) -> Iterable[CacheWatcher]:
        return list(cache.watchers)

    def counting(ev: WatchEvent) -> Iterable[CacheWatcher]:
        nonlocal offered
        out = real(ev) if indexed else everyone(ev)
        out = list(out)
        offered += len(out)
        return out

    cache.watchers.candidates = counting  # type: ignore[method-assign]
    try:
        cpu = 0.0
        rev = start_rev
        for i in range(events):
            name, node = placed[(i * 7919) % len(placed)]
            rev += 1
            t0 = time.process_time()
            cache.apply(Event(EventType.UPDATED, PREFIX + "density/" + name, rev, pod(name, node, rev), None))
            cpu += time.process_time() - t0
            if i % 256 == 255:
                await asyncio.sleep(0)  # let the flush run, as the loop would
                for w in watchers:
                    w.pending.clear()
        await asyncio.sleep(0)
        expected = int(node.rsplit("-", 1)[1])
        assert watchers[expected].pending, "the node's watcher did not get its pod's event"
        for w in watchers:
            w.pending.clear()
        return cpu / events * 1e6, offered / events
    finally:
        cache.watchers.candidates = real  # type: ignore[method-assign]


async def main_async(args: argparse.Namespace) -> None:
    cache, watchers, placed = build(args.nodes, args.plain, args.pods)
    print(f"{args.nodes} node watchers (spec.nodeName=<node>) + {args.plain} unindexed, {args.pods} pods, "
          f"{args.events} MODIFIED events per round, {args.rounds} rounds each, interleaved", flush=True)
    rev = args.pods
    figures: dict[bool, list[float]] = {True: [], False: []}
    offered: dict[bool, float] = {}
    for r in range(args.rounds):
        for indexed in ((True, False) if r % 2 == 0 else (False, True)):
            us, per = await round_(cache, watchers, placed, events=args.events, start_rev=rev, indexed=indexed)
            rev += args.events
            figures[indexed].append(us)
            offered[indexed] = per
    for indexed in (True, False):
        label = "trigger index   " if indexed else "no index (all)  "
        print(f"  {label}: {statistics.median(figures[indexed]):8.1f} us CPU per event (median; rounds "
              f"{', '.join(f'{x:.0f}' for x in figures[indexed])}), {offered[indexed]:.0f} watchers offered per event")
    ratio = statistics.median(figures[False]) / statistics.median(figures[True])
    print(f"  the index makes an event {ratio:.1f}x cheaper with {args.nodes} node watchers")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--plain", type=int, default=5, help="unindexed watchers (scheduler, controllers)")
    ap.add_argument("--pods", type=int, default=30000)
    ap.add_argument("--events", type=int, default=4000)
    ap.add_argument("--rounds", type=int, default=3)
    asyncio.run(main_async(ap.parse_args()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
