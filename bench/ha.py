"""HA benchmark: API servers behind HAProxy over a 3-member etcd, as ``sampan up --control-plane-nodes`` runs them.

    .venv/bin/python bench/ha.py            # ~1-2 minutes
    .venv/bin/python bench/ha.py --quick    # shorter windows, fewer watchers

Starts a 3-member etcd on loopback (ports and data in a temporary directory), then for 1, 2 and 3
``sampan apiserver --storage etcd`` processes behind one HAProxy (the config ``sampan up`` writes):

- creates/s: ConfigMap creates (small bodies) through the balancer with 64 requests in flight from
  one client process (aiohttp, one connection per request in flight), for a fixed window;
- watch fan-out with 3 servers: 1,000 watches of one namespace through the balancer (HAProxy's
  ``leastconn`` spreads them, each server's ``apiserver_registered_watchers`` shows its share), then
  writes paced every 20 ms; latency runs from just before the create is sent to each watcher reading
  the event; p50/p99 over every (write, watcher) pair.

The client is one Python process: its own CPU use is printed beside the figures, since on a 2-core
machine it competes with the servers (and etcd) it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp

from sampan.cli import ha_plane


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def _wait(pred: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise SystemExit(f"timed out waiting for {what}")


_CLK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float:
    """CPU seconds used by ``pid`` so far (0 when gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _CLK


class CPUMeter:
    """CPU use of named groups of processes over a window, as a share of one core."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups
        self.start = {g: sum(_proc_cpu(p) for p in pids) for g, pids in groups.items()}
        self.t0 = time.monotonic()

    def report(self) -> str:
        dt = time.monotonic() - self.t0
        return " ".join(f"{g} {(sum(_proc_cpu(p) for p in pids) - self.start[g]) / dt:.0%}"
                        for g, pids in self.groups.items())


@contextlib.contextmanager
def _procs(argvs: list[list[str]], log_dir: Path) -> Iterator[list[int]]:
    log_dir.mkdir(parents=True, exist_ok=True)
    procs = []
    try:
        for i, argv in enumerate(argvs):
            with (log_dir / f"{i}.log").open("ab") as out:
                procs.append(subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True))
        yield [p.pid for p in procs]
    finally:
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


@contextlib.contextmanager
def control_plane(tmp: Path, plan: ha_plane.ControlPlanePlan, servers: int,
                  tag: str) -> Iterator[tuple[str, list[str], list[int]]]:
    """``servers`` API servers over ``plan``'s etcd, HAProxy in front; (balancer URL, server URLs, pids with
    HAProxy's last)."""
    ports = [_free_port() for _ in range(servers)]
    lb_port = _free_port()
    cfg = tmp / f"haproxy-{tag}.cfg"
    cfg.write_text(ha_plane.haproxy_config(port=lb_port, backends=[(f"apiserver-{i + 1}", p)
                                                                    for i, p in enumerate(ports)]))
    argvs = [[sys.executable, "-m", "sampan.cli.main", "apiserver", "--port", str(p), "--storage", "etcd",
              "--etcd-servers", plan.etcd_servers, "--data-dir", str(tmp / tag)] for p in ports]
    argvs.append([ha_plane.haproxy_binary(), "-db", "-f", str(cfg)])
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    lb = f"http://127.0.0.1:{lb_port}"
    with _procs(argvs, tmp / f"logs-{tag}") as pids:
        _wait(lambda: all(_ready(u) for u in [*urls, lb]), 90, "the API servers")
        # HAProxy marks a server up only after a passing check: give every server its (rise) checks
        time.sleep((ha_plane.CHECK_RISE + 1) * ha_plane.CHECK_INTERVAL_MS / 1000)
        yield lb, urls, pids


async def _create_ns(session: aiohttp.ClientSession, lb: str, name: str) -> None:
    async with session.post(f"{lb}/api/v1/namespaces", json={"metadata": {"name": name}}) as r:
        await r.read()


async def creates_per_second(lb: str, *, window: float, in_flight: int, tag: str) -> tuple[float, int]:
    """(creates/s, errors) through the balancer."""
    conn = aiohttp.TCPConnector(limit=in_flight)
    async with aiohttp.ClientSession(connector=conn) as session:
        await _create_ns(session, lb, tag)
        done = errors = 0
        stop = time.monotonic() + window
        url = f"{lb}/api/v1/namespaces/{tag}/configmaps"

        async def worker(k: int) -> None:
            nonlocal done, errors
            i = 0
            while time.monotonic() < stop:
                body = {"metadata": {"name": f"w{k}-{i}"}, "data": {"v": "x" * 64}}
                async with session.post(url, json=body) as r:
                    await r.read()
                    if r.status == 201:
                        done += 1
                    else:
                        errors += 1
                i += 1

        started = time.monotonic()
        await asyncio.gather(*(worker(k) for k in range(in_flight)))
        return done / (time.monotonic() - started), errors


async def fan_out(lb: str, urls: list[str], *, watchers: int, writes: int) -> tuple[float, float, list[float]]:
    """(p50 ms, p99 ms, watchers per server) of watch delivery through the balancer."""
    ns = "fanout"
    conn = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as session:
        await _create_ns(session, lb, ns)
        sent: dict[str, float] = {}
        latencies: list[float] = []
        connected = asyncio.Event()
        ready_count = 0
        all_seen = asyncio.Event()
        seen = 0

        async def watch() -> None:
            nonlocal ready_count, seen
            async with session.get(f"{lb}/api/v1/namespaces/{ns}/configmaps",
                                   params={"watch": "1", "timeoutSeconds": "600"}) as r:
                ready_count += 1
                if ready_count == watchers:
                    connected.set()
                async for line in r.content:
                    now = time.perf_counter()
                    name = json.loads(line)["object"]["metadata"]["name"]
                    if name in sent:
                        latencies.append(now - sent[name])
                        seen += 1
                        if seen == watchers * writes:
                            all_seen.set()

        tasks = [asyncio.create_task(watch()) for _ in range(watchers)]
        try:
            await asyncio.wait_for(connected.wait(), 120)
            per_server = []
            for u in urls:
                async with session.get(f"{u}/metrics") as r:
                    text = await r.text()
                per_server.append(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                                      if line.startswith("apiserver_registered_watchers{")))
            for i in range(writes):
                name = f"cm-{i}"
                sent[name] = time.perf_counter()
                async with session.post(f"{lb}/api/v1/namespaces/{ns}/configmaps",
                                        json={"metadata": {"name": name}}) as r:
                    await r.read()
                await asyncio.sleep(0.02)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(all_seen.wait(), 60)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    latencies.sort()
    if not latencies:
        raise SystemExit("no watch event arrived")
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return statistics.median(latencies) * 1e3, p99 * 1e3, per_server


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run(quick: bool) -> None:
    window = 5.0 if quick else 15.0
    watchers = 300 if quick else 1000
    with tempfile.TemporaryDirectory(prefix="sampan-bench-ha-") as tmp_name:
        tmp = Path(tmp_name)
        plan = ha_plane.ControlPlanePlan(3, ha_plane.new_members(3))
        etcd = ha_plane.etcd_binary()
        with _procs([list(ha_plane.etcd_argv(m, plan, data_dir=tmp, etcd=etcd)) for m in plan.members],
                    tmp / "etcd") as etcd_pids:
            _wait(lambda: all(_ready_etcd(m.client_url) for m in plan.members), 30, "etcd")
            print(f"3-member etcd on loopback; {os.cpu_count()} cores (load average {os.getloadavg()[0]:.1f} "
                  f"at start); {window:.0f} s windows, 64 creates in flight")
            print(f"{'API servers':>12} {'creates/s':>10} {'errors':>7}  CPU (share of one core)")
            for n in (1, 2, 3):
                with control_plane(tmp, plan, n, f"n{n}") as (lb, _, pids):
                    meter = CPUMeter({f"apiservers({n})": pids[:-1], "haproxy": pids[-1:], "etcd(3)": etcd_pids})
                    cpu = _cpu()
                    rate, errors = await creates_per_second(lb, window=window, in_flight=64, tag=f"bench-{n}")
                    print(f"{n:>12} {rate:>10.0f} {errors:>7}  {meter.report()} client {(_cpu() - cpu) / window:.0%}")
            with control_plane(tmp, plan, 3, "fan") as (lb, urls, _):
                cpu = _cpu()
                p50, p99, per_server = await fan_out(lb, urls, watchers=watchers, writes=50 if quick else 100)
                print(f"watch fan-out, {watchers} watchers over 3 servers "
                      f"({'/'.join(f'{c:.0f}' for c in per_server)} per server): p50 {p50:.1f} ms, p99 {p99:.1f} ms "
                      f"(client CPU {_cpu() - cpu:.1f} s)")


def _ready_etcd(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter windows, 300 watchers")
    asyncio.run(run(parser.parse_args().quick))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
