"""Cluster DNS benchmark: queries/s and latency percentiles from one client, over UDP on loopback.

(Not ``bench/dns.py``: a script of that name would shadow the ``dns`` package, dnspython.)

    .venv/bin/python bench/cluster_dns.py                 # 20,000 queries per case
    .venv/bin/python bench/cluster_dns.py --queries 5000  # quicker

Each server runs in its own process; the client is one blocking UDP socket in this process, sending one
query, waiting for its answer, then the next (so queries/s = 1 / mean latency). Cases:

- ``sampan dns``, cluster names (1,000 Services) with its wire cache (the steady state: a client asking
  the same names again) and with the cache off (every query parsed and answered from the zone table);
- ``sampan dns``, NXDOMAIN for search-path expansions (``example.org.default.svc.cluster.local``);
- ``sampan dns`` forwarding an outside name to the baseline server (the forward plugin's path);
- the baseline: a minimal dnspython server on loopback answering one fixed A record (parse, make a
  response, serialise). There is no other resolver on this machine to compare with (the issue asks for
  "the host's resolver": the host's resolv.conf names a resolver off this machine, which benchmarks must
  not load), so the baseline is the floor a Python DNS server built on the same library can reach.

The zone is filled directly from 1,000 Service/EndpointSlice dicts through the real record builder
(no API server: the figures are the serving path's; the informer path is ``bench/informer.py``'s).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing
import random
import socket
import statistics
import time
from multiprocessing.connection import Connection

import dns.message
import dns.rrset

SERVICES = 1000


def _fill_zone(zone: object) -> None:
    from sampan.dns.records import build_service_records
    from sampan.dns.zone import Zone

    assert isinstance(zone, Zone)
    for i in range(SERVICES):
        name = f"svc-{i}"
        svc = {"metadata": {"name": name, "namespace": "default"},
               "spec": {"clusterIP": f"100.96.{i // 250}.{i % 250 + 1}", "ports": [{"name": "http", "port": 80}]}}
        eps = [{"addresses": [f"100.64.{i % 200}.{j + 2}"], "conditions": {"ready": True}} for j in range(3)]
        sl = {"metadata": {"name": f"{name}-x"}, "addressType": "IPv4", "endpoints": eps,
              "ports": [{"name": "http", "port": 8080}]}
        zone.set_service(f"default/{name}", build_service_records(svc, [sl], zone=zone.zone))


def run_sampan(conn: Connection, cache_size: int, upstream_port: int) -> None:
    from sampan.cli.main import GC_THRESHOLDS
    from sampan.dns.answer import Answerer
    from sampan.dns.forward import Forwarder, Upstream
    from sampan.dns.metrics import DNSMetrics
    from sampan.dns.server import DNSListener, QueryHandler
    from sampan.dns.zone import Zone

    gc.set_threshold(*GC_THRESHOLDS)  # as `sampan dns` runs (sampan.cli.main)

    async def main() -> None:
        zone = Zone("cluster.local")
        _fill_zone(zone)
        handler = QueryHandler(Answerer(zone), Forwarder([Upstream("127.0.0.1", upstream_port)], timeout=2.0),
                               metrics=DNSMetrics("dns://bench"), cache_size=cache_size)
        listener = DNSListener(handler, host="127.0.0.1", port=0)
        await listener.start()
        conn.send(listener.port)
        await asyncio.Event().wait()

    asyncio.run(main())


class _Fixed(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        response = dns.message.make_response(query)
        response.answer.append(dns.rrset.from_text(query.question[0].name, 5, "IN", "A", "100.64.250.1"))
        self.transport.sendto(response.to_wire(), addr)  # type: ignore[attr-defined]


def run_baseline(conn: Connection) -> None:
    async def main() -> None:
        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(_Fixed, local_addr=("127.0.0.1", 0))
        conn.send(int(transport.get_extra_info("sockname")[1]))
        await asyncio.Event().wait()

    asyncio.run(main())


def measure(port: int, names: list[str], count: int) -> tuple[float, float, float]:
    """(queries/s, p50 ms, p99 ms) for ``count`` sequential queries cycling through ``names``."""
    wires = [dns.message.make_query(n, "A").to_wire() for n in names]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(2.0)
    sock.connect(("127.0.0.1", port))
    for w in wires[:200]:  # warm up
        sock.send(w)
        sock.recv(4096)
    latencies = []
    started = time.perf_counter()
    for i in range(count):
        wire = bytearray(wires[i % len(wires)])
        wire[0:2] = random.getrandbits(16).to_bytes(2, "big")
        t0 = time.perf_counter()
        sock.send(wire)
        while True:
            reply = sock.recv(4096)
            if reply[:2] == wire[:2]:
                break
        latencies.append(time.perf_counter() - t0)
    total = time.perf_counter() - started
    sock.close()
    latencies.sort()
    return count / total, statistics.median(latencies) * 1e3, latencies[int(len(latencies) * 0.99)] * 1e3


def start(target: object, *args: object) -> tuple[multiprocessing.Process, int]:
    parent, child = multiprocessing.Pipe()
    proc = multiprocessing.Process(target=target, args=(child, *args), daemon=True)  # type: ignore[arg-type]
    proc.start()
    return proc, int(parent.recv())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, default=20_000)
    args = parser.parse_args()
    multiprocessing.set_start_method("spawn")
    baseline, baseline_port = start(run_baseline)
    cached, cached_port = start(run_sampan, 10_000, baseline_port)
    uncached, uncached_port = start(run_sampan, 0, baseline_port)
    cluster_names = [f"svc-{i}.default.svc.cluster.local" for i in range(SERVICES)]
    cases = [
        ("sampan dns: service A, wire cache", cached_port, cluster_names),
        ("sampan dns: service A, no cache", uncached_port, cluster_names),
        ("sampan dns: NXDOMAIN (search path), cache", cached_port,
         [f"host-{i}.example.org.default.svc.cluster.local" for i in range(SERVICES)]),
        ("sampan dns: forwarded to the baseline", uncached_port, ["example.org"]),
        ("baseline: minimal dnspython server, fixed A", baseline_port, ["example.org"]),
    ]
    print(f"{args.queries} sequential UDP queries per case, one client, loopback")
    print(f"{'case':48} {'queries/s':>10} {'p50 ms':>8} {'p99 ms':>8}")
    results = {}
    for label, port, names in cases:
        qps, p50, p99 = measure(port, names, args.queries)
        results[label] = qps
        print(f"{label:48} {qps:10,.0f} {p50:8.3f} {p99:8.3f}")
    base = results["baseline: minimal dnspython server, fixed A"]
    print(f"ratio cached service A / baseline: {results[cases[0][0]] / base:.2f}x; "
          f"uncached / baseline: {results[cases[1][0]] / base:.2f}x")
    for proc in (baseline, cached, uncached):
        proc.terminate()


if __name__ == "__main__":
    main()
