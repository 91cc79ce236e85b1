"""What tracing costs the API server: pod creates/s (16 concurrent clients, sqlite) and API-server CPU per
create, for the code before tracing (a ref of this repository, default ``main``, exported with ``git
archive``), this tree with tracing off, and this tree with tracing on (spans exported to the embedded trace
store in its own process).

    .venv/bin/python bench/tracing_overhead.py                    # 12 rotations of 300-create blocks
    nice -n 10 .venv/bin/python bench/tracing_overhead.py --baseline-ref 5da04ee --rounds 20
    .venv/bin/python bench/tracing_overhead.py --variants off,on   # this tree only: on vs off
    .venv/bin/python bench/tracing_overhead.py --micro             # the span work of one create, in-process

One API server per variant runs for the whole benchmark; the client sends them short blocks of creates in
rotation (before, off, on, before, …), so a burst of other load on a shared machine hits every variant
alike. Each variant's median block counts, and so does the median of the per-rotation ratios (each ratio
compares blocks run seconds apart). Goals (issue 22): off within 3 % of before, on within 15 %.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import orjson

sys.path.insert(0, str(Path(__file__).parent))
from apiserver import create_pod, ensure_namespace, free_port, run_workers

ROOT = Path(__file__).resolve().parent.parent


def _ready(probe: str) -> bool:
    try:
        with urllib.request.urlopen(probe, timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


@contextlib.contextmanager
def process(argv: list[str], *, env: dict[str, str], log: Path, probe: str) -> Iterator[int]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **env})
    try:
        deadline = time.monotonic() + 60
        while not _ready(probe):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{argv[2:5]} did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


async def creates_per_second(url: str, count: int, ns: str) -> float:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        await ensure_namespace(http, url, ns)

        async def create(_w: int, i: int) -> None:
            await create_pod(http, url, ns, f"p{i}")

        elapsed, _ = await run_workers(16, count, create)
    return count / elapsed


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(stack: contextlib.ExitStack, variant: str, *, src: Path, store: str, workdir: Path
                 ) -> tuple[str, int]:
    """One API server for ``variant``, running until ``stack`` closes: (its URL, its pid)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {"PYTHONPATH": str(src)}
    if variant == "on":
        env["SAMPAN_TRACE_STORE"] = store
    argv = [sys.executable, "-m", "sampan.cli.main", "apiserver", "--port", str(port), "--storage", "sqlite",
            "--data-dir", str(workdir / variant)]
    pid = stack.enter_context(process(argv, env=env, log=workdir / f"{variant}.log", probe=url + "/readyz"))
    return url, pid


def one_block(url: str, pid: int, *, count: int, n: int) -> tuple[float, float]:
    """(creates/s, API server CPU µs per create) for ``count`` creates into a fresh namespace."""
    cpu0 = cpu_seconds(pid)
    rate = asyncio.run(creates_per_second(url, count, f"bench-{n}"))
    return rate, (cpu_seconds(pid) - cpu0) * 1e6 / count


def micro(count: int) -> None:
    """CPU µs the tracing facade spends on one create's API-server spans (a request span with its four
    steps and the uid/revision annotation, one watch-cache dispatch span) and on exporting them (the store's
    JSON), in this process: a figure other load on the machine barely moves."""
    from sampan._lib import trace_export, tracing

    def one_create() -> None:
        with tracing.span("apiserver.request", {"http.method": "POST", "http.target": "/api/v1/namespaces/b/pods"}
                          ) as request:
            for step in ("authentication", "admission.mutate", "admission.validate", "storage.create"):
                with tracing.step(step) as st:
                    st.set_attribute(tracing.RV, "123")
            tracing.annotate({tracing.UID: "6f1c4c1e-0b4e-4f7e-9a57-3f1d2c9b8a71", tracing.RV: "123"})
            request.set_attribute("http.status_code", 201)
        with tracing.span("watchcache.dispatch", {tracing.UID: "6f1c4c1e", tracing.RV: "123", "watch.event": "ADDED"}):
            pass

    tracing.STATE.on = True
    try:
        one_create()
        tracing.STATE.buffer.clear()
        t0 = time.process_time()
        for _ in range(count):
            one_create()
        t1 = time.process_time()
        spans = list(tracing.STATE.buffer)
        tracing.STATE.buffer.clear()
        for i in range(0, len(spans), trace_export.BATCH):
            orjson.dumps({"spans": [trace_export.span_record(s, "kube-apiserver")
                                    for s in spans[i:i + trace_export.BATCH]]})
        t2 = time.process_time()
    finally:
        tracing.STATE.on = False
    print(f"tracing on, per create: {1e6 * (t1 - t0) / count:.1f} µs recording spans, "
          f"{1e6 * (t2 - t1) / count:.1f} µs exporting them (JSON for the store)")
    t0 = time.process_time()
    for _ in range(count):
        one_create()
    print(f"tracing off, per create: {1e6 * (time.process_time() - t0) / count:.2f} µs")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline-ref", default="main", help="git ref of the code before tracing (default main)")
    parser.add_argument("--count", type=int, default=300, help="creates per block (default 300)")
    parser.add_argument("--rounds", type=int, default=12, help="rotations through the variants (default 12)")
    parser.add_argument("--warmup", type=int, default=1, help="rotations run first and not counted (default 1)")
    parser.add_argument("--variants", default="before,off,on", help="comma-separated subset of before,off,on")
    parser.add_argument("--micro", action="store_true", help="only the in-process span cost of one create")
    args = parser.parse_args()
    if args.micro:
        micro(max(args.count, 1000) * 5)
        return 0
    variants = [v for v in ("before", "off", "on") if v in args.variants.split(",")]
    if len(variants) < 2:
        parser.error("--variants needs two of before,off,on")
    with tempfile.TemporaryDirectory(prefix="sampan-bench-tracing-") as tmp:
        workdir = Path(tmp)
        before = workdir / "before"
        before.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.baseline_ref, "src"], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(before)], input=archive, check=True)
        store_port = free_port()
        store = f"http://127.0.0.1:{store_port}"
        results: dict[str, list[float]] = {v: [] for v in variants}
        cpu: dict[str, list[float]] = {v: [] for v in variants}
        with contextlib.ExitStack() as stack:
            stack.enter_context(process([sys.executable, "-m", "sampan.tracestore", "--port", str(store_port)],
                                        env={}, log=workdir / "store.log", probe=store + "/healthz"))
            servers = {v: start_server(stack, v, src=before / "src" if v == "before" else ROOT / "src",
                                       store=store, workdir=workdir) for v in variants}
            for n in range(args.warmup + args.rounds):
                order = list(servers.items())
                for variant, (url, pid) in order if n % 2 == 0 else reversed(order):  # no variant always first
                    rate, us = one_block(url, pid, count=args.count, n=n)
                    if n < args.warmup:
                        continue
                    results[variant].append(rate)
                    cpu[variant].append(us)
                    print(f"rotation {n + 1 - args.warmup:2d} {variant:>6}: {rate:7.0f} creates/s  {us:6.0f} µs "
                          "API server CPU per create", flush=True)
    print(f"\npod creates/s (16 clients, sqlite) and API server CPU µs per create: medians of {args.rounds} "
          f"blocks of {args.count} per variant, and the median of the per-rotation ratios")
    labels = {"before": f"before ({args.baseline_ref})", "off": "tracing off", "on": "tracing on"}
    reference = {"off": "before", "on": "off"}
    goals = {"off": 3, "on": 15}
    for v in variants:
        line = f"{labels[v]:>18} {statistics.median(results[v]):8.0f} creates/s {statistics.median(cpu[v]):7.0f} µs CPU"
        ref = reference.get(v)
        if ref in results:
            rate = statistics.median(a / b - 1 for a, b in zip(results[v], results[ref], strict=True))
            cost = statistics.median(a / b - 1 for a, b in zip(cpu[v], cpu[ref], strict=True))
            line += (f"   vs {labels[ref]}: {100 * rate:+6.1f}% creates/s {100 * cost:+6.1f}% CPU per create"
                     f"  (goal: within {goals[v]} %)")
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
