"""Diagnostics for a running component, loaded by Python at start-up through ``PYTHONPATH=bench/diag``.

Nothing happens unless ``SAMPAN_DIAG_COMMAND`` names the ``sampan`` command to watch (``apiserver``,
``kubelet``, ...): every process of the run inherits ``PYTHONPATH``, only that command's processes are
instrumented. Every 10 s a JSON line is appended to each file asked for:

- ``SAMPAN_DIAG_LOOP=FILE``: every event-loop callback timed (CPython's ``asyncio.events.Handle._run``).
  ``busy_s`` is the loop's time in callbacks over the 10 s (10 = saturated: every ready callback waits
  for the ones before it), ``callbacks`` a histogram of callback durations by upper bound in seconds, and
  ``stacks`` the loop thread's stack, sampled once per callback that ran longer than 30 ms, with counts.
- ``SAMPAN_DIAG_WRITER=FILE``: the sqlite writer's stages as ``[count, p50, p99]`` seconds: ``txn``
  (one batch's transaction, commit included) with ``batch`` its sizes, ``handoff`` (batch committed ->
  its callback running on the loop) and ``lease_write`` / ``other_write`` (a store write as its caller
  awaits it: queue, transaction, hand-off and wake-up).

Issue 21 used it to find where a store write's ~0.4 s went at 5,000 hollow nodes (README, "Scale",
session 10). The timing costs ~1 µs per callback; the stack sampler wakes every 10 ms.
"""

from __future__ import annotations

import collections
import json
import os
import sys
import threading
import time
import traceback
from typing import Any

INTERVAL = 10.0
LONG_CALLBACK = 0.03
BOUNDS = (0.001, 0.005, 0.01, 0.03, 0.1, 0.3, 1.0, float("inf"))


def _wanted() -> bool:
    command = os.environ.get("SAMPAN_DIAG_COMMAND", "")
    return bool(command) and "sampan.cli.main" in sys.orig_argv and command in sys.orig_argv


def _every(path: str, snapshot: Any) -> None:
    def run() -> None:
        while True:
            time.sleep(INTERVAL)
            with open(path, "a") as out:
                out.write(json.dumps({"t": round(time.time(), 1), "pid": os.getpid(), **snapshot()}) + "\n")
    threading.Thread(target=run, name="sampan-diag", daemon=True).start()


def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 4)


def _watch_loop(path: str) -> None:
    import asyncio.events

    state: dict[str, Any] = {"start": 0.0, "seq": 0, "thread": None}
    counts: collections.Counter[float] = collections.Counter()
    busy = [0.0]
    stacks: collections.Counter[str] = collections.Counter()
    original = asyncio.events.Handle._run

    def timed_run(handle: Any) -> None:
        state["thread"] = threading.get_ident()
        start = state["start"] = time.perf_counter()
        state["seq"] += 1
        try:
            original(handle)
        finally:
            took = time.perf_counter() - start
            state["start"] = 0.0
            busy[0] += took
            counts[next(b for b in BOUNDS if took <= b)] += 1

    asyncio.events.Handle._run = timed_run  # type: ignore[method-assign,assignment]

    def sampler() -> None:
        seen = -1
        while True:
            time.sleep(0.01)
            start, seq = state["start"], state["seq"]
            if start and seq != seen and time.perf_counter() - start > LONG_CALLBACK:
                frame = sys._current_frames().get(state["thread"])
                if frame is not None:
                    where = [f"{f.f_code.co_filename.rsplit('/', 2)[-1]}:{f.f_code.co_name}:{line}"
                             for f, line in traceback.walk_stack(frame)]
                    stacks[" <- ".join(where[:14])] += 1
                seen = seq

    threading.Thread(target=sampler, name="sampan-diag-sampler", daemon=True).start()

    def snapshot() -> dict[str, Any]:
        out = {"busy_s": round(busy[0], 2), "callbacks": {str(b): counts[b] for b in BOUNDS},
               "stacks": stacks.most_common(10)}
        busy[0] = 0.0
        counts.clear()
        stacks.clear()
        return out

    _every(path, snapshot)


def _watch_writer(path: str) -> None:
    from sampan.storage.sqlite import writer

    samples: dict[str, list[float]] = collections.defaultdict(list)
    delivered: collections.deque[float] = collections.deque()
    submit, transaction = writer.Writer.submit, writer.Writer._transaction
    deliver, resolve = writer.Writer._deliver, writer.Writer._resolve

    async def timed_submit(self: Any, request: Any) -> Any:
        start = time.perf_counter()
        try:
            return await submit(self, request)
        finally:
            kind = "lease_write" if "/leases/" in getattr(request, "key", "") else "other_write"
            samples[kind].append(time.perf_counter() - start)

    def timed_transaction(self: Any, batch: Any) -> Any:
        start = time.perf_counter()
        try:
            return transaction(self, batch)
        finally:
            samples["txn"].append(time.perf_counter() - start)
            samples["batch"].append(len(batch))

    def timed_deliver(self: Any, *args: Any, **kwargs: Any) -> None:
        delivered.append(time.perf_counter())  # batches reach the loop in commit order
        deliver(self, *args, **kwargs)

    def timed_resolve(self: Any, *args: Any, **kwargs: Any) -> None:
        if delivered:
            samples["handoff"].append(time.perf_counter() - delivered.popleft())
        resolve(self, *args, **kwargs)

    writer.Writer.submit = timed_submit  # type: ignore[method-assign]
    writer.Writer._transaction = timed_transaction  # type: ignore[method-assign]
    writer.Writer._deliver = timed_deliver  # type: ignore[method-assign]
    writer.Writer._resolve = timed_resolve  # type: ignore[method-assign]

    def snapshot() -> dict[str, Any]:
        taken = {k: samples.pop(k) for k in list(samples)}
        return {k: [len(v), _pct(v, 50), _pct(v, 99)] for k, v in taken.items()}

    _every(path, snapshot)


if _wanted():
    if os.environ.get("SAMPAN_DIAG_LOOP"):
        _watch_loop(os.environ["SAMPAN_DIAG_LOOP"])
    if os.environ.get("SAMPAN_DIAG_WRITER"):
        _watch_writer(os.environ["SAMPAN_DIAG_WRITER"])
