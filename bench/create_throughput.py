"""Pod creates/s of ``sampan apiserver --workers N``, driven by ApacheBench so the load generator stays cheap.

    nice -n 10 .venv/bin/python bench/create_throughput.py                    # workers 1,2; vs 53fbf94; ~4 min
    .venv/bin/python bench/create_throughput.py --workers 1 --rounds 1 --count 5000 --baseline ""  # quick

The Python load generator of ``bench/apiserver.py`` spends ~0.4 ms of CPU per create, which on a 2-core
machine competes with the server it measures. Here ``ab`` (apache2-utils, C, one thread, keep-alive) sends
``--clients`` concurrent POSTs of one pod with ``metadata.generateName``, so every request creates a new pod
and the generator costs a few microseconds per request. Per run it prints:

- creates/s, p50 and p99 (ab's own figures, whole milliseconds);
- the server's CPU per create (utime + stime of the server and all its worker processes, from /proc) and
  the load generator's CPU per create (ab, from ``RUSAGE_CHILDREN``);
- GETs of one pod (same clients): GETs/s, p99 and the server's CPU per GET;
- the 1-minute load average when the run ended (other work on the machine skews every wall-clock figure;
  CPU per request much less).

``--baseline REV`` (default ``53fbf94``, main before session 7's request-path work; ``699cd36`` before
session 6's) is checked out into a temporary ``git worktree`` and its server started from that tree's
``src`` (``PYTHONPATH``), with this checkout's virtualenv. Runs are interleaved (baseline, this tree,
baseline, ...) for each worker count and round, and the table at the end gives each combination's medians
and the ratio to the baseline. ``--event-loops asyncio,uvloop`` instead interleaves this tree's server under
each ``SAMPAN_EVENT_LOOP`` (no baseline). Requests must all succeed: any non-2xx answer fails the run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from server_process import baseline_tree, cpu_seconds, free_port, process, wait_http

REPO = Path(__file__).resolve().parent.parent
POD = (b'{"apiVersion":"v1","kind":"Pod","metadata":{"generateName":"bench-","labels":{"app":"bench"}},'
       b'"spec":{"containers":[{"name":"c","image":"registry.k8s.io/pause:3.9"}]}}')


@dataclass(frozen=True)
class Run:
    rate: float
    p50_ms: float
    p99_ms: float
    server_us: float
    client_us: float
    get_rate: float
    get_p99_ms: float
    get_server_us: float
    load: float


def tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and every live descendant (the ``--workers`` processes)."""
    total = 0.0
    todo = [pid]
    while todo:
        p = todo.pop()
        with contextlib.suppress(OSError):
            total += cpu_seconds(p)
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
    return total


def ab(args: argparse.Namespace, url: str, *, count: int, body: Path | None) -> tuple[float, float, float, float]:
    """Run ab; (requests/s, p50 ms, p99 ms, ab's CPU seconds). Raises on any failed or non-2xx request."""
    argv = ["ab", "-q", "-k", "-r", "-s", "120", "-c", str(args.clients), "-n", str(count)]
    if body is not None:
        argv += ["-p", str(body), "-T", "application/json"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([*argv, url], capture_output=True, text=True, timeout=900, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    text = out.stdout + out.stderr
    complete = re.search(rf"Complete requests:\s+{count}\b", text)
    if out.returncode != 0 or "Non-2xx responses" in text or not complete:
        raise RuntimeError(f"ab failed (exit {out.returncode}):\n{text[-2000:]}")
    # ab counts a body of another length than the first as "failed" (names differ): not an error here
    exceptions = re.search(r"\(Connect: (\d+), Receive: (\d+), Length: \d+, Exceptions: (\d+)\)", text)
    if exceptions and any(int(g) for g in exceptions.groups()):
        raise RuntimeError(f"ab saw connection errors:\n{text[-2000:]}")

    def figure(pattern: str) -> float:
        m = re.search(pattern, text)
        if m is None:
            raise RuntimeError(f"no {pattern!r} in ab's output:\n{text[-2000:]}")
        return float(m.group(1))

    return figure(r"Requests per second:\s+([\d.]+)"), figure(r"\n\s+50%\s+(\d+)"), figure(r"\n\s+99%\s+(\d+)"), used


@contextlib.contextmanager
def server(src: Path, work: Path, workers: int, loop: str = "") -> Iterator[tuple[str, int]]:
    """``sampan apiserver --workers N`` (sqlite, plain HTTP) started from ``src``; (url, pid)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = work / "apiserver.log"
    argv = [sys.executable, "-m", "sampan.cli.main", "apiserver", "--port", str(port), "--storage", "sqlite",
            "--data-dir", str(work / "data"), "--workers", str(workers)]
    env = {"PYTHONPATH": str(src), **({"SAMPAN_EVENT_LOOP": loop} if loop else {})}
    with process(argv, log, env=env) as proc:
        wait_http(url + "/readyz", proc, log, timeout=300)
        if workers > 1:  # each worker answers /readyz only once its cache is loaded: wait for all of them
            time.sleep(3)
            for _ in range(50 * workers):
                wait_http(url + "/readyz", proc, log, timeout=120)
        yield url, proc.pid


def measure(args: argparse.Namespace, src: Path, work: Path, workers: int, loop: str = "") -> Run:
    work.mkdir(parents=True)
    body = work / "pod.json"
    body.write_bytes(POD)
    with server(src, work, workers, loop) as (url, pid):
        pods = f"{url}/api/v1/namespaces/default/pods"
        ab(args, pods, count=max(args.count // 5, args.clients), body=body)  # warm-up: caches, connections
        cpu0 = tree_cpu(pid)
        rate, p50, p99, client = ab(args, pods, count=args.count, body=body)
        cpu = tree_cpu(pid) - cpu0
        subprocess.run(["curl", "-sf", "-o", "/dev/null", "-H", "Content-Type: application/json", "--data-binary",
                        b'{"metadata":{"name":"one"},"spec":{"containers":[{"name":"c","image":"x"}]}}', pods],
                       check=True, timeout=60)
        gcpu0 = tree_cpu(pid)
        get_rate, _, get_p99, _ = ab(args, f"{pods}/one", count=args.count, body=None)
        gcpu = tree_cpu(pid) - gcpu0
    return Run(rate, p50, p99, cpu / args.count * 1e6, client / args.count * 1e6, get_rate, get_p99,
               gcpu / args.count * 1e6, os.getloadavg()[0])



def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", default="1,2", help="API server process counts to compare")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--count", type=int, default=20_000, help="creates (and GETs) per run")
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--baseline", default="53fbf94", help='git revision to compare with ("" for none)')
    ap.add_argument("--event-loops", default="", metavar="A,B",
                    help="interleave this tree under each SAMPAN_EVENT_LOOP (e.g. asyncio,uvloop); no baseline")
    args = ap.parse_args()
    if args.event_loops:
        args.baseline = ""
    if shutil.which("ab") is None:
        print("create_throughput: skipped: needs ApacheBench `ab` (Debian: apt-get install apache2-utils)")
        return 0
    counts = [int(w) for w in args.workers.split(",")]
    figures: dict[tuple[str, int], list[Run]] = {}
    with tempfile.TemporaryDirectory(prefix="sampan-create-throughput-") as tmp, \
            baseline_tree(args.baseline, Path(tmp)) as base_src:
        builds = ([(f"baseline {args.baseline}", base_src, "")] if base_src else []) + [("this tree", REPO / "src", "")]
        if args.event_loops:
            builds = [(f"loop {loop}", REPO / "src", loop) for loop in args.event_loops.split(",")]
        print(f"create throughput: {args.count} creates per run, {args.clients} clients (ab -k), sqlite, "
              f"workers {args.workers}, {args.rounds} rounds, {os.cpu_count()} CPUs", flush=True)
        for r in range(args.rounds):
            for n in counts:
                for label, src, loop in builds:
                    run = measure(args, src, Path(tmp) / f"{r}-{n}-{len(figures)}-{label.split()[-1]}", n, loop)
                    figures.setdefault((label, n), []).append(run)
                    print(f"  {label:<18} workers={n} round {r + 1}: {run.rate:6.0f} creates/s  p50 {run.p50_ms:.0f} ms"
                          f"  p99 {run.p99_ms:.0f} ms  server {run.server_us:4.0f} us/create  ab {run.client_us:3.0f}"
                          f" us/create | GET {run.get_rate:6.0f}/s p99 {run.get_p99_ms:.0f} ms server"
                          f" {run.get_server_us:4.0f} us/GET  (load {run.load:.1f})", flush=True)
    print("\n| build | workers | creates/s | p50 | p99 | server CPU/create | GETs/s | server CPU/GET | load |")
    print("|---|---|---|---|---|---|---|---|---|")
    medians: dict[tuple[str, int], tuple[float, float]] = {}
    for (label, n), runs in figures.items():
        def med(attr: str, runs: list[Run] = runs) -> float:
            return statistics.median(getattr(x, attr) for x in runs)
        medians[(label, n)] = (med("rate"), med("server_us"))
        print(f"| {label} | {n} | {med('rate'):.0f} | {med('p50_ms'):.0f} ms | {med('p99_ms'):.0f} ms |"
              f" {med('server_us'):.0f} us | {med('get_rate'):.0f} | {med('get_server_us'):.0f} us |"
              f" {med('load'):.1f} |")
    if args.baseline:
        for n in counts:
            base, this = medians.get((f"baseline {args.baseline}", n)), medians.get(("this tree", n))
            if base and this:
                print(f"workers={n}: this tree / baseline: creates/s x{this[0] / base[0]:.2f},"
                      f" server CPU per create x{this[1] / base[1]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
