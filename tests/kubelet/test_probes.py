"""Probe handlers against real local servers; probe worker timing on a fake clock."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest

from sampan._lib.clock import FakeClock
from sampan.kubelet import probes
from sampan.kubelet.probes import ProbeOutcome, ProbeTiming, ProbeWorker, http_check, make_handler, tcp_check
from sampan.kubelet.runtime.interface import ContainerConfig, PodSandboxConfig
from sampan.kubelet.runtime.simulated import SimulatedRuntime
from sampan.testing.webhooks import make_certificates
from tests.kubelet.conftest import until


@dataclass
class HTTPServer:
    code: int = 200
    paths: list[str] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)
    port: int = 0
    hang: bool = False


@pytest.fixture
async def http() -> AsyncIterator[HTTPServer]:
    state = HTTPServer()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = (await reader.readuntil(b"\r\n\r\n")).decode()
        lines = request.split("\r\n")
        state.paths.append(lines[0].split()[1])
        state.headers.extend(lines[1:])
        if state.hang:
            await asyncio.sleep(30)
        writer.write(f"HTTP/1.1 {state.code} X\r\nContent-Length: 0\r\n\r\n".encode())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    yield state
    server.close()


async def test_http_check_status_codes_headers_and_timeout(http: HTTPServer) -> None:
    ok = await http_check(host="127.0.0.1", port=http.port, path="/healthz", scheme="HTTP",
                          headers={"X-Probe": "1"}, timeout=2)
    assert ok == ProbeOutcome(True)
    assert http.paths == ["/healthz"]
    assert "X-Probe: 1" in http.headers
    assert f"User-Agent: {probes.USER_AGENT}" in http.headers
    http.code = 302
    assert (await http_check(host="127.0.0.1", port=http.port, path="/", scheme="HTTP", headers={}, timeout=2)).success
    http.code = 503
    bad = await http_check(host="127.0.0.1", port=http.port, path="/", scheme="HTTP", headers={}, timeout=2)
    assert bad == ProbeOutcome(False, "HTTP probe failed with statuscode: 503")
    http.hang = True
    slow = await http_check(host="127.0.0.1", port=http.port, path="/", scheme="HTTP", headers={}, timeout=0.1)
    assert not slow.success
    assert "context deadline exceeded" in slow.message


async def test_https_check_skips_verification_and_loads_no_ca_bundle(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Upstream's prober does not verify the server; loading the system's CA bundle for every probe had
    cost ~25 ms of CPU each (half a sampan up node's kubelet CPU): no probe may load it."""
    certs = make_certificates(tmp_path)  # signed by a CA nobody trusts
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(certs.cert_file, certs.key_file)
    paths: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        paths.append((await reader.readuntil(b"\r\n\r\n")).decode().split()[1])
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    loads: list[object] = []
    real_load = ssl.SSLContext.load_default_certs
    monkeypatch.setattr(ssl.SSLContext, "load_default_certs",
                        lambda self, *a: (loads.append(self), real_load(self, *a))[1])
    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_tls)
    port = server.sockets[0].getsockname()[1]
    try:
        for _ in range(3):
            outcome = await http_check(host="127.0.0.1", port=port, path="/livez", scheme="HTTPS", headers={},
                                       timeout=10)
            assert outcome == ProbeOutcome(True)
    finally:
        server.close()
    assert paths == ["/livez"] * 3
    assert loads == []


async def test_tcp_check_and_named_port(http: HTTPServer) -> None:
    assert (await tcp_check("127.0.0.1", http.port, 2)).success
    sock = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    free = sock.sockets[0].getsockname()[1]
    sock.close()
    await sock.wait_closed()
    refused = await tcp_check("127.0.0.1", free, 2)
    assert not refused.success
    assert f"dial tcp 127.0.0.1:{free}" in refused.message
    rt = SimulatedRuntime()
    handler = make_handler({"tcpSocket": {"port": "web"}}, container={"name": "c", "ports": [
        {"name": "web", "containerPort": http.port}]}, container_id="x", pod_ip="127.0.0.1", runtime=rt)
    assert (await handler(1)).success
    missing = make_handler({"httpGet": {"port": "nope"}}, container={"name": "c"}, container_id="x",
                           pod_ip="127.0.0.1", runtime=rt)
    assert (await missing(1)) == ProbeOutcome(False, "port 'nope' not found in container 'c'")


async def test_exec_handler_uses_runtime() -> None:
    rt = SimulatedRuntime()
    sid = await rt.run_pod_sandbox(PodSandboxConfig(name="p", namespace="ns", uid="u"))
    cid = await rt.create_container(sid, ContainerConfig(name="c", image="i"))
    handler = make_handler({"exec": {"command": ["true"]}}, container={}, container_id=cid, pod_ip="", runtime=rt)
    assert not (await handler(1)).success  # not running yet
    await rt.start_container(cid)
    assert (await handler(1)).success


def test_timing_defaults_and_minimums() -> None:
    assert ProbeTiming.from_spec({}) == ProbeTiming(0, 10, 1, 1, 3)
    t = ProbeTiming.from_spec({"initialDelaySeconds": 5, "periodSeconds": 0, "timeoutSeconds": 3,
                               "successThreshold": 2, "failureThreshold": 1})
    assert t == ProbeTiming(5, 1, 3, 2, 1)


async def test_worker_initial_delay_period_and_thresholds() -> None:
    clock = FakeClock()
    results = [True, True, False, False, True, False, False, False, True]
    calls: list[float] = []
    changes: list[bool] = []

    async def handler(timeout: float) -> ProbeOutcome:
        calls.append(clock.monotonic())
        return ProbeOutcome(results[len(calls) - 1], "boom")

    worker = ProbeWorker(probes.READINESS, ProbeTiming(initial_delay=5, period=2, timeout=1, success_threshold=2,
                                                       failure_threshold=3),
                         handler, started_at=clock.wall(), clock=clock, on_change=lambda: changes.append(worker.result))
    task = asyncio.create_task(worker.run())
    try:
        assert worker.result is False  # readiness starts failed
        await clock.advance(4.9)
        assert calls == []
        await clock.advance(0.1)
        await until(lambda: len(calls) == 1, what="first probe")
        for i in range(2, 10):
            await clock.advance(2)
            await until(lambda i=i: len(calls) == i, what=f"probe {i}")
        assert calls == pytest.approx([5.0 + 2 * k for k in range(9)], abs=1e-3)
        # T T | F F T | F F F | T: two successes flip to ready, a success resets the failure streak,
        # three failures in a row flip back.
        assert changes == [True, False]
        assert worker.result is False
    finally:
        task.cancel()


async def test_worker_liveness_starts_true_and_flips_after_failures() -> None:
    clock = FakeClock()
    outcomes = iter([False, False, False, True])
    changes: list[bool] = []

    async def handler(timeout: float) -> ProbeOutcome:
        return ProbeOutcome(next(outcomes), "down")

    worker = ProbeWorker(probes.LIVENESS, ProbeTiming(period=1, failure_threshold=3), handler,
                         started_at=clock.wall(), clock=clock, on_change=lambda: changes.append(worker.result))
    assert worker.result is True
    task = asyncio.create_task(worker.run())
    try:
        await until(lambda: worker.probes == 1, what="first probe")
        assert worker.result is True
        await clock.advance(1)
        await until(lambda: worker.probes == 2, what="second probe")
        assert worker.result is True
        await clock.advance(1)
        await until(lambda: worker.probes == 3, what="third probe")
        assert (worker.result, worker.message, changes) == (False, "down", [False])
    finally:
        task.cancel()


async def test_gate_holds_probes_back() -> None:
    clock = FakeClock()
    open_gate = False
    calls = 0

    async def handler(timeout: float) -> ProbeOutcome:
        nonlocal calls
        calls += 1
        return ProbeOutcome(True)

    worker = ProbeWorker(probes.READINESS, ProbeTiming(period=1), handler, started_at=clock.wall(), clock=clock,
                         on_change=lambda: None, gate=lambda: open_gate)
    task = asyncio.create_task(worker.run())
    try:
        for _ in range(3):
            await clock.advance(1)
        assert calls == 0
        open_gate = True
        await clock.advance(1)
        await until(lambda: worker.result, what="ready")
    finally:
        task.cancel()


class _FailingExec:
    """Only ``exec_sync``: a command that fails with or without output."""

    def __init__(self, output: bytes) -> None:
        self.output = output

    async def exec_sync(self, container_id: str, cmd: list[str], timeout: float) -> tuple[int, bytes]:
        return 1, self.output


async def test_exec_failure_message_is_the_command_output() -> None:
    """Upstream's ``Unhealthy`` text: ``Liveness probe failed: cat: can't open '/tmp/healthy': ...``."""
    spec = {"exec": {"command": ["cat", "/tmp/healthy"]}}
    said = make_handler(spec, container={}, container_id="x", pod_ip="",
                        runtime=cast(Any, _FailingExec(b"cat: can't open '/tmp/healthy': No such file\n")))
    assert (await said(1)) == ProbeOutcome(False, "cat: can't open '/tmp/healthy': No such file")
    silent = make_handler(spec, container={}, container_id="x", pod_ip="", runtime=cast(Any, _FailingExec(b"")))
    assert (await silent(1)) == ProbeOutcome(False, "command ['cat', '/tmp/healthy'] exited with 1")
