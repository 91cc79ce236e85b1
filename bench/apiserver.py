"""API server benchmark: a real ``sampan apiserver`` process per backend, driven over HTTP.

    .venv/bin/python bench/apiserver.py              # sqlite and etcd, a few minutes
    .venv/bin/python bench/apiserver.py --quick      # smaller counts, ~1 minute
    .venv/bin/python bench/apiserver.py --backends sqlite --watchers 200
    nice -n 10 .venv/bin/python bench/apiserver.py --backends sqlite --workers 1,2 --rounds 3

With ``--workers 1,2`` only the 64-client create workload runs, against ``sampan apiserver --workers N``
for each N in turn, ``--rounds`` times interleaved (1 2 1 2 ...): creates/s, p50/p99, the server's CPU
(all its processes) per create and as a share of one core, the load average, and each N's medians.
The load generator can be split over ``--client-procs`` processes (64 clients in all).

For each backend (etcd: a single member started via ``sampan.testing.etcd``) it starts the server as
its own process and measures, one workload at a time:

- pod creates/s and their p50/p99 latency with 1, 16 and 64 concurrent clients;
- pod updates (PUT with the resourceVersion from the last write)/s and p50/p99, same concurrencies;
- GET p50/p99 (16 clients);
- LIST of 10,000 pods: from the watch cache (``resourceVersion=0``) and consistent (``""``), median s;
- watch fan-out: N watchers (in 2 helper processes) on one namespace while pods are created at a fixed
  rate; delivery latency runs from just before the create is sent to the watcher reading the event.

Goals (issue 3): >= 1,000 creates/s with p99 < 100 ms; 1,000 watchers with delivery p99 < 250 ms.
The machine has 2 cores shared by server, load generator and watchers: figures are lower bounds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson

from sampan.testing.etcd import EtcdCluster

JSON = {"Content-Type": "application/json", "Accept": "application/json"}


def pod(name: str, sent: float | None = None) -> dict[str, object]:
    md: dict[str, object] = {"name": name, "labels": {"bench": "x"}}
    if sent is not None:
        md["annotations"] = {"bench/sent": repr(sent)}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md,
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}}


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def ms(v: float) -> str:
    return f"{v * 1000:.1f} ms"


@dataclass
class Results:
    rows: list[tuple[str, str]] = field(default_factory=list)

    def add(self, name: str, value: str) -> None:
        self.rows.append((name, value))
        print(f"  {name:<44} {value}", flush=True)


# ---- server process -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/readyz", timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def process_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and its live children (the workers of ``--workers``)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    with contextlib.suppress(OSError):
        pids += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    for p in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


SERVER_PIDS: dict[str, int] = {}


@contextlib.contextmanager
def apiserver(workdir: Path, storage: str, etcd_urls: list[str], workers: int = 1) -> Iterator[str]:
    """``sampan apiserver`` as a child process (blocking start: this is a benchmark, not a server)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "sampan.cli.main", "apiserver", "--port", str(port), "--storage", storage,
            "--data-dir", str(workdir / "data"), "--workers", str(workers)]
    if etcd_urls:
        argv += ["--etcd-servers", ",".join(etcd_urls)]
    log = open(workdir / "apiserver.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300  # a loaded machine (and nice -n 10) can take minutes
        while not _ready(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("apiserver did not start: " + (workdir / "apiserver.log").read_text()[-2000:])
            time.sleep(0.1)
        if workers > 1:  # every worker up: each serves /readyz only once its cache is loaded
            time.sleep(3)
            deadline = time.monotonic() + 60
            while not all(_ready(url) for _ in range(8 * workers)) and time.monotonic() < deadline:
                time.sleep(0.2)
        SERVER_PIDS[url] = proc.pid
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


# ---- request workloads ------------------------------------------------------------------------------


async def run_workers(concurrency: int, total: int, op: Callable[[int, int], Awaitable[None]]) -> tuple[float,
                                                                                                        list[float]]:
    """Run ``op(worker, i)`` for i in range(total) on ``concurrency`` workers; (elapsed s, latencies)."""
    latencies: list[float] = []
    counter = iter(range(total))

    async def worker(w: int) -> None:
        for i in counter:
            t0 = time.perf_counter()
            await op(w, i)
            latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return time.perf_counter() - start, latencies


async def ensure_namespace(http: aiohttp.ClientSession, url: str, name: str) -> None:
    body = orjson.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    async with http.post(f"{url}/api/v1/namespaces", data=body, headers=JSON) as r:
        if r.status not in (201, 409):
            raise RuntimeError(f"namespace {name}: {r.status} {await r.text()}")


async def create_pod(http: aiohttp.ClientSession, url: str, ns: str, name: str,
                     sent: float | None = None) -> dict[str, object]:
    async with http.post(f"{url}/api/v1/namespaces/{ns}/pods", data=orjson.dumps(pod(name, sent)),
                         headers=JSON) as r:
        body = await r.read()
        if r.status != 201:
            raise RuntimeError(f"create {name}: {r.status} {body[:300]!r}")
        result: dict[str, object] = orjson.loads(body)
        return result


async def bench_writes(http: aiohttp.ClientSession, url: str, res: Results, *, count: int) -> list[str]:
    names: list[str] = []
    for conc in (1, 16, 64):
        ns = f"bench-c{conc}"
        await ensure_namespace(http, url, ns)
        objs: dict[int, dict[str, object]] = {}

        async def create(_w: int, i: int, ns: str = ns, objs: dict[int, dict[str, object]] = objs) -> None:
            objs[i] = await create_pod(http, url, ns, f"p{i}")

        elapsed, lat = await run_workers(conc, count, create)
        res.add(f"create, {conc} clients", f"{count / elapsed:7.0f}/s  p50 {ms(pct(lat, 50))}  p99 {ms(pct(lat, 99))}")

        async def update(w: int, i: int, ns: str = ns, objs: dict[int, dict[str, object]] = objs) -> None:
            k = (w * 7919 + i) % count  # spread workers over pods; each update uses the latest RV we saw
            obj = objs[k]
            obj["metadata"]["labels"]["n"] = str(i)  # type: ignore[index]
            async with http.put(f"{url}/api/v1/namespaces/{ns}/pods/p{k}", data=orjson.dumps(obj),
                                headers=JSON) as r:
                body = await r.read()
                if r.status == 200:
                    objs[k] = orjson.loads(body)
                elif r.status != 409:  # a concurrent update of the same pod: counted, retried by nobody
                    raise RuntimeError(f"update: {r.status} {body[:300]!r}")

        elapsed, lat = await run_workers(conc, count, update)
        res.add(f"update, {conc} clients", f"{count / elapsed:7.0f}/s  p50 {ms(pct(lat, 50))}  p99 {ms(pct(lat, 99))}")
        names = [f"bench-c{conc}/p{i}" for i in range(count)]

    async def get(_w: int, i: int) -> None:
        ns, name = names[(i * 31) % len(names)].split("/")
        async with http.get(f"{url}/api/v1/namespaces/{ns}/pods/{name}", headers=JSON) as r:
            await r.read()
            assert r.status == 200

    _, lat = await run_workers(16, count * 2, get)
    res.add("get, 16 clients", f"p50 {ms(pct(lat, 50))}  p99 {ms(pct(lat, 99))}")
    return names


async def bench_list(http: aiohttp.ClientSession, url: str, res: Results, *, size: int) -> None:
    ns = "bench-list"
    await ensure_namespace(http, url, ns)

    async def create(_w: int, i: int) -> None:
        await create_pod(http, url, ns, f"l{i}")

    elapsed, _ = await run_workers(64, size, create)
    res.add(f"fill {size} pods, 64 clients", f"{size / elapsed:7.0f}/s")
    # consistent first: it waits for the watch cache to catch up, after which rv=0 (served from the cache,
    # allowed to be stale) sees every pod too
    for label, query in (("consistent, rv=''", ""), ("cache, rv=0", "?resourceVersion=0")):
        times = []
        nbytes = 0
        for _ in range(3):
            t0 = time.perf_counter()
            async with http.get(f"{url}/api/v1/namespaces/{ns}/pods{query}", headers=JSON) as r:
                body = await r.read()
            times.append(time.perf_counter() - t0)
            nbytes = len(body)
            count = len(orjson.loads(body)["items"])
            if count != size:
                raise RuntimeError(f"list ({label}) returned {count} of {size} pods")
        res.add(f"list {size} pods ({label})", f"{statistics.median(times):.3f} s  ({nbytes / 1e6:.1f} MB)")


# ---- watch fan-out -------------------------------------------------------------------------------


def watcher_process(url: str, path: str, watchers: int, expected: int, timeout: float,
                    ready: mp.Queue, out: mp.Queue) -> None:  # type: ignore[type-arg]
    """A helper process: ``watchers`` watch connections; reports connection count, then latencies."""

    async def main() -> None:
        latencies: list[float] = []
        marker = b'"bench/sent":"'
        conn = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=None)) as http:
            connected = asyncio.Event()
            opened = 0

            async def one() -> int:
                # Chunks, not lines: the per-event cost on this side must stay far below the server's.
                nonlocal opened
                got = 0
                buf = b""
                async with http.get(url + path, headers={"Accept": "application/json"}) as resp:
                    opened += 1
                    if opened == watchers:
                        connected.set()
                    async for data in resp.content.iter_any():
                        now = time.time()
                        buf += data
                        cut = buf.rfind(b"\n")
                        if cut < 0:
                            continue
                        block, buf = buf[:cut], buf[cut + 1:]
                        at = block.find(marker)
                        while at >= 0:
                            start = at + len(marker)
                            end = block.index(b'"', start)
                            latencies.append(now - float(block[start:end]))
                            got += 1
                            at = block.find(marker, end)
                        if got >= expected:
                            break
                return got

            tasks = [asyncio.create_task(one()) for _ in range(watchers)]
            await asyncio.wait_for(connected.wait(), 60)
            ready.put(watchers)
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            for t in pending:
                t.cancel()
            out.put(latencies)

    asyncio.run(main())


async def bench_watch(http: aiohttp.ClientSession, url: str, res: Results, *, watchers: int, rate: float,
                      duration: float) -> None:
    ns = "bench-watch"
    await ensure_namespace(http, url, ns)
    async with http.get(f"{url}/api/v1/namespaces/{ns}/pods", headers=JSON) as r:
        rv = orjson.loads(await r.read())["metadata"]["resourceVersion"]
    count = int(rate * duration)
    path = f"/api/v1/namespaces/{ns}/pods?watch=true&resourceVersion={rv}&timeoutSeconds={int(duration) + 120}"
    ctx = mp.get_context("spawn")
    ready: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    out: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    procs = []
    per = [watchers // 2 + watchers % 2, watchers // 2] if watchers > 1 else [watchers]
    for n in per:
        if n:
            p = ctx.Process(target=watcher_process, args=(url, path, n, count, duration + 60, ready, out))
            p.start()
            procs.append(p)
    for _ in procs:
        await asyncio.get_running_loop().run_in_executor(None, ready.get, True, 120)
    interval = 1.0 / rate
    start = time.perf_counter()
    pending = []
    for i in range(count):
        delay = start + i * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        pending.append(asyncio.create_task(create_pod(http, url, ns, f"w{i}", sent=time.time())))
    await asyncio.gather(*pending)
    achieved = count / (time.perf_counter() - start)
    latencies: list[float] = []
    for _ in procs:
        latencies += await asyncio.get_running_loop().run_in_executor(None, out.get, True, duration + 120)
    for p in procs:
        p.join(30)
    delivered = len(latencies)
    res.add(f"watch: {watchers} watchers, {achieved:.0f} creates/s",
            f"delivered {delivered}/{count * watchers}  p50 {ms(pct(latencies, 50))}  p99 {ms(pct(latencies, 99))}"
            f"  max {ms(max(latencies) if latencies else float('nan'))}")


# ---- workers: creates/s of 1 vs N API server processes, interleaved ------------------------------


def create_client_process(url: str, ns: str, prefix: str, clients: int, count: int,
                          out: mp.Queue) -> None:  # type: ignore[type-arg]
    """A helper process: ``count`` pod creates over ``clients`` connections; puts (elapsed, latencies)."""

    async def main() -> None:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            async def create(_w: int, i: int) -> None:
                await create_pod(http, url, ns, f"{prefix}-{i}")

            cpu0 = time.process_time()
            elapsed, lat = await run_workers(clients, count, create)
            out.put((elapsed, lat, time.process_time() - cpu0))

    asyncio.run(main())


async def creates_round(url: str, *, count: int, procs: int,
                        tag: str) -> tuple[float, float, float, float, float]:
    """64 clients (over ``procs`` processes) create ``count`` pods: (creates/s, p50, p99, server CPU s,
    load generator CPU s)."""
    ns = f"bench-w-{tag}"
    async with aiohttp.ClientSession() as http:
        await ensure_namespace(http, url, ns)
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    per = count // procs
    children = [ctx.Process(target=create_client_process, args=(url, ns, f"c{j}", 64 // procs, per, out))
                for j in range(procs)]
    cpu0 = process_cpu(SERVER_PIDS[url])
    for c in children:
        c.start()
    latencies: list[float] = []
    slowest = client_cpu = 0.0
    for _ in children:
        elapsed, lat, used = await asyncio.get_running_loop().run_in_executor(None, out.get, True, 600)
        slowest = max(slowest, elapsed)
        latencies += lat
        client_cpu += used
    cpu = process_cpu(SERVER_PIDS[url]) - cpu0
    for c in children:
        c.join(30)
    return per * procs / slowest, pct(latencies, 50), pct(latencies, 99), cpu, client_cpu


def run_workers_bench(args: argparse.Namespace, tmp: Path) -> int:
    counts = [int(w) for w in args.workers.split(",")]
    figures: dict[tuple[str, int], list[tuple[float, float, float, float, float]]] = {}
    for backend in args.backends.split(","):
        for r in range(args.rounds):
            for n in counts:
                workdir = tmp / f"{backend}-w{n}-r{r}"
                workdir.mkdir()
                with contextlib.ExitStack() as stack:
                    etcd_urls: list[str] = []
                    if backend == "etcd":
                        cluster = asyncio.run(EtcdCluster.start(workdir / "etcd"))
                        stack.callback(cluster.kill_all)
                        etcd_urls = cluster.client_urls
                    url = stack.enter_context(apiserver(workdir, backend, etcd_urls, workers=n))
                    asyncio.run(creates_round(url, count=args.count // 4, procs=args.client_procs, tag="warm"))
                    row = asyncio.run(creates_round(url, count=args.count, procs=args.client_procs, tag="run"))
                rate, p50, p99, cpu, client = row
                load = os.getloadavg()[0]
                figures.setdefault((backend, n), []).append(row)
                print(f"  {backend} workers={n} round {r + 1}: {rate:6.0f} creates/s  p50 {ms(p50)}  p99 {ms(p99)}"
                      f"  server CPU {cpu / args.count * 1e6:.0f} us/create, {cpu * rate / args.count:.2f} cores"
                      f"  client CPU {client / args.count * 1e6:.0f} us/create  (load {load:.1f})", flush=True)
    print("\n| store | workers | creates/s (median) | p50 | p99 (median) | server CPU per create | server cores"
          " | client CPU per create |")
    print("|---|---|---|---|---|---|---|---|")
    for (backend, n), rows in figures.items():
        rate = statistics.median(r[0] for r in rows)
        p50 = statistics.median(r[1] for r in rows)
        p99 = statistics.median(r[2] for r in rows)
        cpu = statistics.median(r[3] for r in rows) / args.count
        client = statistics.median(r[4] for r in rows) / args.count
        print(f"| {backend} | {n} | {rate:.0f} | {ms(p50)} | {ms(p99)} | {cpu * 1e6:.0f} us | {cpu * rate:.2f}"
              f" | {client * 1e6:.0f} us |")
    return 0


# ---- driver -------------------------------------------------------------------------------------


async def run_backend(name: str, args: argparse.Namespace, workdir: Path) -> Results:
    print(f"== {name}", flush=True)
    res = Results()
    async with contextlib.AsyncExitStack() as stack:
        etcd_urls: list[str] = []
        if name == "etcd":
            cluster = await stack.enter_async_context(await EtcdCluster.start(workdir / "etcd"))
            etcd_urls = cluster.client_urls
        url = stack.enter_context(apiserver(workdir, name, etcd_urls))
        conn = aiohttp.TCPConnector(limit=0)
        http = await stack.enter_async_context(aiohttp.ClientSession(connector=conn))
        await bench_writes(http, url, res, count=args.count)
        await bench_list(http, url, res, size=args.list_size)
        await bench_watch(http, url, res, watchers=args.watchers, rate=args.rate, duration=args.duration)
    return res


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="sqlite,etcd")
    parser.add_argument("--count", type=int, default=1000, help="creates/updates per concurrency level")
    parser.add_argument("--list-size", type=int, default=10_000)
    parser.add_argument("--watchers", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100.0, help="pod creates per second during the watch test")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of creates during the watch test")
    parser.add_argument("--quick", action="store_true", help="small counts (a smoke run)")
    parser.add_argument("--workers", default="", help="e.g. 1,2: compare API server process counts (creates only)")
    parser.add_argument("--rounds", type=int, default=3, help="with --workers: interleaved rounds")
    parser.add_argument("--client-procs", type=int, default=1, help="with --workers: load generator processes")
    args = parser.parse_args()
    if args.quick:
        args.count, args.list_size, args.watchers, args.duration = 200, 2000, 100, 3.0
    if args.workers:
        with tempfile.TemporaryDirectory(prefix="sampan-bench-") as tmp:
            return run_workers_bench(args, Path(tmp))
    results: dict[str, Results] = {}
    with tempfile.TemporaryDirectory(prefix="sampan-bench-") as tmp:
        for name in args.backends.split(","):
            if name == "etcd" and not any(os.access(os.path.join(d, "etcd"), os.X_OK)
                                          for d in os.environ.get("PATH", "").split(os.pathsep)):
                print("== etcd: skipped (no etcd binary on PATH)")
                continue
            workdir = Path(tmp) / name
            workdir.mkdir()
            results[name] = asyncio.run(run_backend(name, args, workdir))
    if len(results) > 1:
        print("\n| workload | " + " | ".join(results) + " |")
        print("|---|" + "---|" * len(results))
        first = next(iter(results.values()))
        for i, (label, _) in enumerate(first.rows):
            print(f"| {label} | " + " | ".join(r.rows[i][1] if i < len(r.rows) else "" for r in results.values())
                  + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
