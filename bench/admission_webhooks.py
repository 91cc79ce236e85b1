"""Admission webhook overhead: pod create latency with no webhook, then with one mutating webhook (adds
a label by JSONPatch) and one validating webhook (allows), both HTTPS on loopback with a test CA.

    .venv/bin/python bench/admission_webhooks.py            # 2,000 creates per case
    .venv/bin/python bench/admission_webhooks.py --quick    # 300 per case

A real ``sampan apiserver`` process (sqlite); the webhook server runs in a child process of its own
(aiohttp); creates are sent by 1, then 8 concurrent clients. Prints creates/s and p50/p99 per case. The
machine has 2 cores shared by the server, the webhooks and the load generator: figures are upper
bounds of the latency a dedicated machine would see.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson

sys.path.insert(0, str(Path(__file__).parent))
from apiserver import JSON, apiserver, ms, pct, pod, run_workers
from sampan.testing.webhooks import Certificates, WebhookServer, allow, make_certificates

GROUP = "admissionregistration.k8s.io"
RULE = {"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}


async def _mutate(review: dict[str, Any]) -> dict[str, Any]:
    return allow(review, patch=[{"op": "add", "path": "/metadata/labels/webhook", "value": "yes"}])


async def _validate(review: dict[str, Any]) -> dict[str, Any]:
    return allow(review)


def _serve(certs: Certificates, port_out: Any, stop: Any) -> None:
    with WebhookServer(certs, {"/mutate": _mutate, "/validate": _validate}) as server:
        port_out.put(server.port)
        stop.wait()


async def configure(http: aiohttp.ClientSession, url: str, certs: Certificates, port: int) -> None:
    for kind, resource, path in (("MutatingWebhookConfiguration", "mutatingwebhookconfigurations", "/mutate"),
                                 ("ValidatingWebhookConfiguration", "validatingwebhookconfigurations", "/validate")):
        body = {"apiVersion": f"{GROUP}/v1", "kind": kind, "metadata": {"name": "bench"}, "webhooks": [{
            "name": f"{path[1:]}.bench.example.com", "rules": [RULE], "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
            "clientConfig": {"url": f"https://127.0.0.1:{port}{path}", "caBundle": certs.ca_bundle}}]}
        async with http.post(f"{url}/apis/{GROUP}/v1/{resource}", data=orjson.dumps(body), headers=JSON) as r:
            assert r.status == 201, await r.text()


async def measure(http: aiohttp.ClientSession, url: str, label: str, total: int, *, expect_label: bool,
                  clients: int) -> None:
    base = f"{url}/api/v1/namespaces/default/pods"

    async def create(w: int, i: int) -> None:
        name = f"{label.replace(' ', '').replace('+', '-').replace(',', '')}-{clients}-{i}"
        async with http.post(base, data=orjson.dumps(pod(name)), headers=JSON) as r:
            body = await r.read()
            assert r.status == 201, body
            if expect_label:
                assert orjson.loads(body)["metadata"]["labels"].get("webhook") == "yes"

    await run_workers(clients, min(100, total // 10), lambda w, i: create(w, 10_000_000 + i))  # warm-up
    elapsed, lat = await run_workers(clients, total, create)
    print(f"  {label:<24} {clients} client(s) {total / elapsed:7.0f} creates/s   p50 {ms(pct(lat, 50)):>9}   "
          f"p99 {ms(pct(lat, 99)):>9}", flush=True)


async def main_async(url: str, certs: Certificates, port: int, total: int) -> None:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as http:
        for clients in (1, 8):
            await measure(http, url, "no webhooks", total, expect_label=False, clients=clients)
        await configure(http, url, certs, port)
        deadline = time.monotonic() + 10
        while True:  # the server's watch cache picks the configurations up
            async with http.post(f"{url}/api/v1/namespaces/default/pods", params={"dryRun": "All"},
                                 data=orjson.dumps(pod("probe")), headers=JSON) as r:
                if (orjson.loads(await r.read())["metadata"].get("labels") or {}).get("webhook") == "yes":
                    break
            assert time.monotonic() < deadline, "webhook configurations never applied"
            await asyncio.sleep(0.05)
        for clients in (1, 8):
            await measure(http, url, "mutating + validating", total, expect_label=True, clients=clients)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    total = 300 if args.quick else 2000
    with tempfile.TemporaryDirectory(prefix="sampan-bench-webhooks-") as tmp:
        certs = make_certificates(Path(tmp) / "certs")
        ctx = mp.get_context("spawn")
        ports, stop = ctx.Queue(), ctx.Event()
        server = ctx.Process(target=_serve, args=(certs, ports, stop), daemon=True)
        server.start()
        try:
            port = int(ports.get(timeout=30))
            with apiserver(Path(tmp), "sqlite", []) as url:
                print(f"pod creates, {total} per case:")
                asyncio.run(main_async(url, certs, port, total))
        finally:
            stop.set()
            server.join(10)


if __name__ == "__main__":
    main()
