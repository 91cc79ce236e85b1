"""``--tracing ENDPOINT`` (here through the environment a ``sampan`` process reads) exports OTLP/HTTP to a
user's collector: a fake collector on loopback decodes the protobuf ExportTraceServiceRequest and finds the
API server's request span for a create, with the object's uid, revision and storage step."""

from __future__ import annotations

import asyncio
import dataclasses
import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from sampan.client import Client, load_config
from tests.support.apiserver import free_port, run_apiserver_process

pytestmark = pytest.mark.slow


class Collector(http.server.BaseHTTPRequestHandler):
    received: list[tuple[str, str, dict[str, str]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        req = ExportTraceServiceRequest()
        req.ParseFromString(body)
        for rs in req.resource_spans:
            service = next((a.value.string_value for a in rs.resource.attributes if a.key == "service.name"), "")
            for ss in rs.scope_spans:
                for s in ss.spans:
                    attrs = {a.key: a.value.string_value for a in s.attributes}
                    attrs["events"] = ",".join(e.name for e in s.events)
                    Collector.received.append((service, s.name, attrs))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def collector() -> Iterator[int]:
    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        server.shutdown()
        server.server_close()


async def test_apiserver_spans_reach_an_otlp_collector(tmp_path: Path) -> None:
    Collector.received = []
    gen = collector()
    port = next(gen)
    try:
        with run_apiserver_process(tmp_path / "apiserver",
                                   env={"SAMPAN_TRACING_ENDPOINT": f"127.0.0.1:{port}"}) as apiserver:
            async with Client(dataclasses.replace(load_config(str(apiserver.kubeconfig)), qps=0.0)) as client:
                cms = await client.resource("v1", "configmaps")
                obj = await cms.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "otlp"}},
                                       namespace="default")
            uid = obj["metadata"]["uid"]
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # the collector is a thread: poll what it received
                if any(n == "apiserver.request" and a.get("k8s.uid") == uid for _, n, a in Collector.received):
                    break
                await asyncio.sleep(0.2)
    finally:
        next(gen, None)
    writes = [(svc, a) for svc, n, a in Collector.received if n == "apiserver.request" and a.get("k8s.uid") == uid]
    assert writes
    assert writes[0][0] == "kube-apiserver"
    assert writes[0][1]["k8s.resource_version"] == obj["metadata"]["resourceVersion"]
    assert "storage.create" in writes[0][1]["events"].split(",")
