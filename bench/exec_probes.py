"""What 220 exec probes a second cost a kubelet-sized Python process: forked from the process itself on
worker threads (how the process runtime ran them before session 5) vs sent to the spawn helper
(``sampan.kubelet.runtime.spawner``, how it runs them now).

    .venv/bin/python bench/exec_probes.py                 # 4 interleaved rounds, 8 s each
    .venv/bin/python bench/exec_probes.py --rate 220 --seconds 8 --rounds 4 --rss-mb 150

Each round holds ``--rss-mb`` of live Python objects (a kubelet's heap: fork copies its page tables), runs
an event loop with the loop-stall monitor, and starts ``true`` at ``--rate`` per second for ``--seconds``.
Printed per variant (medians over the rounds): this process's CPU per probe (its own, without the probes'
children), the spawn helper's CPU per probe, the loop's longest stall and the loop thread's own CPU in it.
No kernel objects are created; the machine may be shared, so the variants are interleaved (A B A B).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sampan._lib.loopstall import LoopStallMonitor
from sampan.kubelet.runtime.spawner import Spawner


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_on_thread(argv: list[str], timeout: float) -> tuple[int, bytes]:
    """The pre-session-5 path: Popen from this process (on a worker thread), communicate, reap."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode or 0, out


async def one_round(variant: str, *, rate: float, seconds: float) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    monitor = LoopStallMonitor(f"bench-{variant}")
    mon = asyncio.create_task(monitor.run())
    pool = ThreadPoolExecutor(max_workers=16)
    spawner = Spawner()
    await spawner.run(["true"], env=None, cwd="/", timeout=5)  # start the helper outside the measurement
    helper = spawner._proc.pid if spawner._proc is not None else 0
    tasks: set[asyncio.Task[tuple[int, bytes]]] = set()
    await asyncio.sleep(0.2)
    monitor.reset()
    me0, helper0 = cpu_seconds(os.getpid()), cpu_seconds(helper)
    start, n = time.monotonic(), 0
    while (now := time.monotonic()) < start + seconds:
        due = start + n / rate
        if due > now:
            await asyncio.sleep(due - now)
        if variant == "threads":
            fut = loop.run_in_executor(pool, run_on_thread, ["true"], 5.0)
            tasks.add(asyncio.ensure_future(fut))
        else:
            tasks.add(asyncio.create_task(spawner.run(["true"], env=None, cwd="/", timeout=5)))
        n += 1
    await asyncio.gather(*tasks)
    me, helper_cpu = cpu_seconds(os.getpid()) - me0, cpu_seconds(helper) - helper0
    result = {"probes": n, "cpu_ms": me / n * 1000, "helper_ms": helper_cpu / n * 1000 if variant == "helper" else 0.0,
              "stall_ms": monitor.longest * 1000, "own_cpu_ms": monitor.longest_cpu * 1000}
    mon.cancel()
    await asyncio.gather(mon, return_exceptions=True)
    await spawner.aclose()
    pool.shutdown()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=220.0)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--rss-mb", type=int, default=150)
    args = ap.parse_args()
    heap = [bytearray(1024) for _ in range(args.rss_mb * 1024)]  # live objects: the RSS a fork must copy
    results: dict[str, list[dict[str, float]]] = {"threads": [], "helper": []}
    for _ in range(args.rounds):
        for variant in ("threads", "helper"):
            results[variant].append(asyncio.run(one_round(variant, rate=args.rate, seconds=args.seconds)))
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(f"bench/exec_probes.py: {args.rate:g} exec probes/s for {args.seconds:g}s, {args.rss_mb} MB heap, "
          f"{args.rounds} interleaved rounds, medians (load average {load}); Python {sys.version.split()[0]}")
    for variant, rows in results.items():
        def med(key: str, rows: list[dict[str, float]] = rows) -> float:
            return statistics.median(r[key] for r in rows)
        runs = ", ".join(f"{r['stall_ms']:.0f}" for r in rows)
        print(f"  {variant:8s} this process {med('cpu_ms'):.2f} ms CPU per probe, helper {med('helper_ms'):.2f} ms; "
              f"longest loop stall {med('stall_ms'):.0f} ms (runs: {runs}), loop thread's own CPU in it "
              f"{med('own_cpu_ms'):.0f} ms")
    del heap


if __name__ == "__main__":
    main()
