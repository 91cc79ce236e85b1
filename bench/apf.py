"""API Priority and Fairness under a flood: one user's many heavy LISTs against kubelet lease renewals
and scheduler bindings, with APF on and off, side by side.

    .venv/bin/python bench/apf.py                      # 400 LISTs of 5,000 pods, 20 s per mode
    .venv/bin/python bench/apf.py --pods 1000 --lists 100 --duration 8    # a smoke run

For each mode it starts a real API server process (memory store) whose authentication maps bearer
tokens to identities (``alice`` in ``system:authenticated``; ``system:node:nK`` in ``system:nodes``;
``system:kube-scheduler``), loads ``--pods`` pods, then for ``--duration`` seconds runs at once:

* ``--lists`` workers as alice, each sending cluster-wide LISTs of pods back to back (a 429 is
  counted and retried after its ``Retry-After``, as client-go does);
* 50 kubelets renewing their Lease (GET + PUT) every ``--renew-interval`` seconds;
* the scheduler binding pending pods one after another.

The kubelets and the scheduler run in a second client process (``--same-process``: on the LIST
generator's loop, whose own lag then inflates their latencies, as in figures before session 4).

It prints lease-renewal latency (p50/p99/max), 429s per client, bindings done and their p99, LISTs
served. ``--overhead`` instead measures the CPU cost APF adds to one request (classification, seat
accounting, metrics, headers) in process: ``apf.serve`` around a no-op handler vs the handler alone,
for an exempt admin request and for a queued-level (global-default) request that finds free seats.
Mode "APF on" is the default configuration (upstream's FlowSchemas and levels); "APF off" is
``--enable-priority-and-fairness=false`` (the plain max-in-flight limiter: 400 read-only, 200 mutating).
The machine has 2 cores shared by the server and the load generator: compare the modes, not the figures
to a real cluster.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson

from server_process import free_port, process, wait_http

NODES = 50
TOKENS = {"alice": ("alice", ("system:authenticated",)),
          "scheduler": ("system:kube-scheduler", ("system:authenticated",))}
TOKENS.update({f"node-{i}": (f"system:node:n{i}", ("system:nodes", "system:authenticated")) for i in range(NODES)})
JSON = {"Content-Type": "application/json", "Accept": "application/json"}


# ---- the server process ------------------------------------------------------------------------

def serve(port: int, apf: bool, borrowing_period: float) -> None:
    """Run an API server on ``port`` with the bench's token authenticator (child process entry)."""
    from aiohttp import web

    from sampan.api import errors
    from sampan.apiserver.app import build_app
    from sampan.apiserver.authn import InsecureAdmin
    from sampan.apiserver.config import APIServerConfig, StorageOptions
    from sampan.apiserver.userinfo import UserInfo
    from sampan.storage.factory import open_storage

    users = {token: UserInfo(name, groups=groups) for token, (name, groups) in TOKENS.items()}

    class Tokens:
        async def authenticate(self, request: web.BaseRequest) -> UserInfo | None:
            header = request.headers.get("Authorization", "")
            if not header.startswith("Bearer "):
                return None
            user = users.get(header[7:])
            if user is None:
                raise errors.Unauthorized("Unauthorized")
            return user

    async def main() -> None:
        with tempfile.TemporaryDirectory(prefix="sampan-apf-") as tmp:
            cfg = APIServerConfig(port=port, storage=StorageOptions(backend="memory", data_dir=Path(tmp)),
                                  enable_priority_and_fairness=apf, kubernetes_service=False,
                                  apf_borrowing_period=borrowing_period,
                                  authorization_modes=("AlwaysAllow",))  # flow control is under test, not RBAC
            storage = await open_storage(cfg.storage)
            app = build_app(cfg, storage, authenticators=[Tokens(), InsecureAdmin()])
            runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            await asyncio.Event().wait()

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(main())


@contextlib.contextmanager
def server(apf: bool, borrowing_period: float) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = Path(tempfile.gettempdir()) / f"sampan-bench-apf-{'on' if apf else 'off'}.log"
    with process([sys.executable, __file__, "--serve", str(port), "--apf", str(apf).lower(),
                  "--borrowing-period", str(borrowing_period)], log, grace=10) as proc:
        wait_http(url + "/readyz", proc, log)
        time.sleep(0.5)  # the flowcontrol configuration from the store is in force
        yield url


# ---- the load ----------------------------------------------------------------------------------

@dataclass
class Outcome:
    lease_latencies: list[float] = field(default_factory=list)
    lease_429: int = 0
    lease_errors: int = 0
    binds: list[float] = field(default_factory=list)
    bind_429: int = 0
    lists_ok: int = 0
    lists_429: int = 0
    list_errors: int = 0
    longest_stall: float = float("nan")
    global_default_limit: float = float("nan")
    global_default_executing: list[int] = field(default_factory=list)
    load_stalls: dict[str, float] = field(default_factory=dict)
    """During the load: wake-ups of the stall monitor later than 0.1 / 0.5 / 1.0 s."""
    load_wakeups: int = 0


def _auth(token: str) -> dict[str, str]:
    return {**JSON, "Authorization": f"Bearer {token}"}


async def populate(http: aiohttp.ClientSession, url: str, pods: int, pending: int) -> None:
    sem = asyncio.Semaphore(32)

    async def create(path: str, body: dict[str, object]) -> None:
        async with sem, http.post(url + path, data=orjson.dumps(body), headers=JSON) as r:
            assert r.status in (201, 409), await r.text()

    def pod(ns: str, name: str) -> dict[str, object]:
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
                "spec": {"containers": [{"name": "c", "image": "nginx", "resources": {"requests": {"cpu": "10m"}}}]}}

    await create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "load"}})
    await create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "sched"}})
    await asyncio.gather(*(create("/api/v1/namespaces/load/pods", pod("load", f"p-{i}")) for i in range(pods)))
    await asyncio.gather(*(create("/api/v1/namespaces/sched/pods", pod("sched", f"s-{i}")) for i in range(pending)))
    for i in range(NODES):
        await create("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                     {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                      "metadata": {"name": f"n{i}", "namespace": "kube-node-lease"},
                      "spec": {"holderIdentity": f"n{i}", "leaseDurationSeconds": 40}})


async def _retry_after(r: aiohttp.ClientResponse) -> float:
    await r.read()
    return float(r.headers.get("Retry-After", "1"))


async def lister(http: aiohttp.ClientSession, url: str, stop: float, out: Outcome) -> None:
    while time.monotonic() < stop:
        try:
            async with http.get(url + "/api/v1/pods", headers=_auth("alice")) as r:
                if r.status == 429:
                    out.lists_429 += 1
                    await asyncio.sleep(await _retry_after(r))
                    continue
                async for _ in r.content.iter_chunked(1 << 16):
                    pass
                if r.status == 200:
                    out.lists_ok += 1
                else:
                    out.list_errors += 1
        except (TimeoutError, aiohttp.ClientError):
            out.list_errors += 1


async def kubelet(http: aiohttp.ClientSession, url: str, i: int, stop: float, interval: float, out: Outcome) -> None:
    path = f"{url}/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n{i}"
    token = f"node-{i}"
    await asyncio.sleep(interval * i / NODES)
    while time.monotonic() < stop:
        began = time.monotonic()
        try:
            async with http.get(path, headers=_auth(token)) as r:
                if r.status == 429:
                    out.lease_429 += 1
                    continue
                lease = await r.json()
            lease["spec"]["renewTime"] = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
            async with http.put(path, data=orjson.dumps(lease), headers=_auth(token)) as r:
                await r.read()
                if r.status == 429:
                    out.lease_429 += 1
                elif r.status == 200:
                    out.lease_latencies.append(time.monotonic() - began)
                else:
                    out.lease_errors += 1
        except (TimeoutError, aiohttp.ClientError):
            out.lease_errors += 1
        await asyncio.sleep(max(0.0, interval - (time.monotonic() - began)))


async def scheduler(http: aiohttp.ClientSession, url: str, pending: int, stop: float, out: Outcome) -> None:
    i = 0
    while i < pending and time.monotonic() < stop:
        body = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": f"s-{i}", "namespace": "sched"},
                "target": {"apiVersion": "v1", "kind": "Node", "name": f"n{i % NODES}"}}
        began = time.monotonic()
        async with http.post(f"{url}/api/v1/namespaces/sched/pods/s-{i}/binding", data=orjson.dumps(body),
                             headers=_auth("scheduler")) as r:
            await r.read()
            if r.status == 429:
                out.bind_429 += 1
                await asyncio.sleep(float(r.headers.get("Retry-After", "1")))
                continue
            out.binds.append(time.monotonic() - began)
        i += 1
        await asyncio.sleep(0.05)


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return float("nan")


def _stall_buckets(text: str) -> dict[str, float]:
    """``le`` -> cumulative count of the server's loop-stall histogram."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("sampan_event_loop_stall_seconds_bucket{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            out[le] = float(line.rsplit(" ", 1)[1])
    return out


async def monitor(http: aiohttp.ClientSession, url: str, stop: float, out: Outcome) -> None:
    """Every second: global-default's executing requests (debug dump); at the end its seat limit, the
    server's longest event-loop stall since it started and the stalls during the load alone (the
    difference of the stall histogram between the start and the end of the load)."""
    async with http.get(url + "/metrics") as r:
        before = _stall_buckets(await r.text())
    while time.monotonic() < stop:
        async with http.get(url + "/debug/api_priority_and_fairness/dump_priority_levels") as r:
            if r.status == 200:
                for line in (await r.text()).splitlines():
                    if line.startswith("global-default,"):
                        out.global_default_executing.append(int(line.split(",")[5]))
            else:
                await r.read()
        await asyncio.sleep(1.0)
    async with http.get(url + "/metrics") as r:
        text = await r.text()
    out.longest_stall = _sample(text, "sampan_event_loop_stall_seconds_max")
    after = _stall_buckets(text)
    cumulative = {le: after[le] - before.get(le, 0.0) for le in after}
    total = cumulative.get("+Inf", 0.0)
    out.load_stalls = {le: total - n for le, n in cumulative.items() if le in ("0.1", "0.5", "1.0")}
    out.load_wakeups = int(total)
    for line in text.splitlines():
        if line.startswith('apiserver_flowcontrol_current_limit_seats{priority_level="global-default"}'):
            out.global_default_limit = float(line.rsplit(" ", 1)[1])


async def heartbeats(url: str, *, duration: float, pending: int, interval: float, out: Outcome) -> None:
    """The kubelets' renewals and the scheduler's bindings for ``duration`` seconds."""
    timeout = aiohttp.ClientTimeout(total=None)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as http:
        stop = time.monotonic() + duration
        async with asyncio.TaskGroup() as tg:
            for i in range(NODES):
                tg.create_task(kubelet(http, url, i, stop, interval, out))
            tg.create_task(scheduler(http, url, pending, stop, out))


def heartbeats_process(url: str, args: argparse.Namespace) -> None:
    """Child process entry: run :func:`heartbeats`, print the outcome as JSON on stdout."""
    out = Outcome()
    asyncio.run(heartbeats(url, duration=args.duration, pending=args.pending, interval=args.renew_interval, out=out))
    sys.stdout.write(orjson.dumps({"lease_latencies": out.lease_latencies, "lease_429": out.lease_429,
                                   "lease_errors": out.lease_errors, "binds": out.binds,
                                   "bind_429": out.bind_429}).decode())


async def run_mode(apf: bool, args: argparse.Namespace) -> Outcome:
    """One mode. The kubelets and the scheduler run in a process of their own (as they do in a cluster),
    so their latencies are the server's, not the LIST load generator's loop lag; ``--same-process``
    runs them on the load generator's loop instead (how figures before session 4 were taken)."""
    out = Outcome()
    with server(apf, args.borrowing_period) as url:
        timeout = aiohttp.ClientTimeout(total=None)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as http:
            await populate(http, url, args.pods, args.pending)
            child = None
            if not args.same_process:
                child = await asyncio.create_subprocess_exec(
                    sys.executable, __file__, "--heartbeats", url, "--duration", str(args.duration),
                    "--pending", str(args.pending), "--renew-interval", str(args.renew_interval),
                    stdout=asyncio.subprocess.PIPE)
            stop = time.monotonic() + args.duration
            async with asyncio.TaskGroup() as tg:
                for _ in range(args.lists):
                    tg.create_task(lister(http, url, stop, out))
                if child is None:
                    tg.create_task(heartbeats(url, duration=args.duration, pending=args.pending,
                                              interval=args.renew_interval, out=out))
                tg.create_task(monitor(http, url, stop, out))
            if child is not None:
                stdout, _ = await child.communicate()
                got = orjson.loads(stdout)
                out.lease_latencies, out.lease_429, out.lease_errors = (got["lease_latencies"], got["lease_429"],
                                                                         got["lease_errors"])
                out.binds, out.bind_429 = got["binds"], got["bind_429"]
    return out


async def overhead(n: int) -> None:
    from aiohttp import web
    from aiohttp.test_utils import make_mocked_request

    from sampan.apiserver.app import build_app
    from sampan.apiserver.config import APIServerConfig, StorageOptions
    from sampan.apiserver.flowcontrol.controller import on_response_prepare
    from sampan.apiserver.flowcontrol.filter import controller
    from sampan.apiserver.routes import CONTEXT_KEY
    from sampan.apiserver.userinfo import REQUEST_KEY, UserInfo
    from sampan.storage.memory import MemoryStorage

    app = build_app(APIServerConfig(port=0, storage=StorageOptions(backend="memory")), MemoryStorage())
    apf = controller(app[CONTEXT_KEY])
    assert apf is not None
    users = {"admin (exempt)": UserInfo("admin", groups=("system:masters", "system:authenticated")),
             "alice (global-default)": UserInfo("alice", groups=("system:authenticated",))}

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.Response(text="{}")
        await on_response_prepare(request, response)  # what aiohttp's prepare signal would add
        return response

    for label, user in users.items():
        req = make_mocked_request("POST", "/api/v1/namespaces/default/pods", app=app)
        req[REQUEST_KEY] = user
        start = time.process_time()
        for _ in range(n):
            await handler(req)
        base = time.process_time() - start
        start = time.process_time()
        for _ in range(n):
            await apf.serve(req, handler)
        with_apf = time.process_time() - start
        print(f"  {label:28s} APF adds {(with_apf - base) / n * 1e6:6.1f} us of CPU per request")


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pods", type=int, default=5000, help="pods every LIST returns")
    parser.add_argument("--lists", type=int, default=400, help="concurrent LIST workers (one user)")
    parser.add_argument("--pending", type=int, default=300, help="pods the scheduler may bind")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load per mode")
    parser.add_argument("--renew-interval", type=float, default=1.0, help="seconds between a kubelet's renewals")
    parser.add_argument("--modes", default="on,off", help="which modes to run: on, off or both")
    parser.add_argument("--borrowing-period", type=float, default=10.0,
                        help="seconds between APF's re-divisions of seats (upstream 10; 1e9: no borrowing)")
    parser.add_argument("--overhead", action="store_true", help="measure APF's CPU cost per request instead")
    parser.add_argument("--same-process", action="store_true",
                        help="run kubelets and scheduler on the LIST load generator's loop (old figures)")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--heartbeats", help=argparse.SUPPRESS)
    parser.add_argument("--apf", default="true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.apf == "true", args.borrowing_period)
        return 0
    if args.heartbeats:
        heartbeats_process(args.heartbeats, args)
        return 0
    if args.overhead:
        print("== APF CPU overhead per request (in process, 20,000 requests)")
        asyncio.run(overhead(20_000))
        return 0
    results: dict[str, Outcome] = {}
    for mode in args.modes.split(","):
        load = os.getloadavg()[0]
        print(f"== APF {mode}: {args.lists} LIST workers x {args.pods} pods, {NODES} kubelets, {args.duration:.0f}s "
              f"(machine load average {load:.1f} on {os.cpu_count()} CPUs)", flush=True)
        results[mode] = asyncio.run(run_mode(mode == "on", args))
    rows = [
        ("lease renewals done", lambda o: str(len(o.lease_latencies))),
        ("lease renewal p50 (s)", lambda o: f"{pct(o.lease_latencies, 50):.3f}"),
        ("lease renewal p99 (s)", lambda o: f"{pct(o.lease_latencies, 99):.3f}"),
        ("lease renewal max (s)", lambda o: f"{max(o.lease_latencies, default=float('nan')):.3f}"),
        ("lease 429s / errors", lambda o: f"{o.lease_429} / {o.lease_errors}"),
        ("bindings done", lambda o: str(len(o.binds))),
        ("binding p99 (s)", lambda o: f"{pct(o.binds, 99):.3f}"),
        ("binding 429s", lambda o: str(o.bind_429)),
        ("LISTs served", lambda o: str(o.lists_ok)),
        ("LIST 429s (Retry-After honoured)", lambda o: str(o.lists_429)),
        ("LIST errors", lambda o: str(o.list_errors)),
        ("global-default executing (max sampled)", lambda o: str(max(o.global_default_executing, default=0))),
        ("global-default seat limit at the end", lambda o: f"{o.global_default_limit:.0f}"),
        ("longest event-loop stall since start (s)", lambda o: f"{o.longest_stall:.3f}"),
        ("loop stalls > 0.1 / 0.5 / 1 s during the load", lambda o: " / ".join(
            str(int(o.load_stalls.get(le, 0))) for le in ("0.1", "0.5", "1.0")) + f" (of {o.load_wakeups} wake-ups)"),
    ]
    print("\n| workload | " + " | ".join(f"APF {m}" for m in results) + " |")
    print("|---|" + "---|" * len(results))
    for label, cell in rows:
        print(f"| {label} | " + " | ".join(cell(o) for o in results.values()) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
