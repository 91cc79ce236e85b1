"""Container probes: exec, httpGet and tcpSocket handlers, and a per-probe worker with upstream's timing.

A :class:`ProbeWorker` probes one container (identified by its runtime id) for one probe type. Timing
as upstream's ``prober/worker.go``: nothing before ``initialDelaySeconds`` after the container started,
then one probe every ``periodSeconds``, each bounded by ``timeoutSeconds``; the reported result flips
only after ``successThreshold`` consecutive successes or ``failureThreshold`` consecutive failures.
Initial results: liveness Success, readiness Failure, startup Failure. Liveness and readiness do not
probe until the startup probe (if any) has succeeded (``gate``).

Worker states::

    waiting (initial delay) --> probing every period --(result flips)--> on_change() ... until cancelled
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sampan._lib.clock import Clock
from sampan.kubelet.runtime.interface import Runtime, RuntimeFailure

log = logging.getLogger(__name__)

LIVENESS, READINESS, STARTUP = "liveness", "readiness", "startup"
USER_AGENT = "kube-probe/1.32"


@dataclass(frozen=True, slots=True)
class ProbeOutcome:
    success: bool
    message: str = ""


Handler = Callable[[float], Awaitable[ProbeOutcome]]
"""A probe action: called with the timeout in seconds."""


@dataclass(frozen=True, slots=True)
class ProbeTiming:
    initial_delay: float = 0.0
    period: float = 10.0
    timeout: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3

    @classmethod
    def from_spec(cls, probe: Mapping[str, Any]) -> ProbeTiming:
        def num(key: str, default: float, minimum: float) -> float:
            v = probe.get(key)
            return max(minimum, float(v)) if isinstance(v, int | float) and not isinstance(v, bool) else default

        return cls(initial_delay=num("initialDelaySeconds", 0, 0), period=num("periodSeconds", 10, 1),
                   timeout=num("timeoutSeconds", 1, 1), success_threshold=int(num("successThreshold", 1, 1)),
                   failure_threshold=int(num("failureThreshold", 3, 1)))


def resolve_port(port: Any, container: Mapping[str, Any]) -> int:
    """A probe port: a number, or the name of one of the container's ports."""
    if isinstance(port, int) and not isinstance(port, bool):
        return port
    if isinstance(port, str) and port.isdigit():
        return int(port)
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return int(p.get("containerPort", 0))
    raise ValueError(f"port {port!r} not found in container {container.get('name')!r}")


async def tcp_check(host: str, port: int, timeout: float) -> ProbeOutcome:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError) as err:
        return ProbeOutcome(False, f"dial tcp {host}:{port}: {err or 'i/o timeout'}")
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return ProbeOutcome(True)


@functools.cache
def _probe_tls() -> ssl.SSLContext:
    """The one TLS context of every HTTPS probe: like upstream's prober, it does not verify the server
    (``InsecureSkipVerify``), so it loads no CA certificates. Made once: loading the system's CA bundle
    (``ssl.create_default_context``) costs ~25 ms of CPU, which per probe was half the kubelet's CPU on a
    ``sampan up`` node (the API server's readiness probe runs every second)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def http_check(
    *, host: str, port: int, path: str, scheme: str, headers: Mapping[str, str], timeout: float,
) -> ProbeOutcome:
    """One HTTP GET; 200 <= status < 400 is success (redirects are not followed)."""
    ctx = _probe_tls() if scheme.upper() == "HTTPS" else None

    async def get() -> int:
        reader, writer = await asyncio.open_connection(host, port, ssl=ctx)
        try:
            hdrs = {"Host": f"{host}:{port}", "User-Agent": USER_AGENT, "Accept": "*/*", **headers,
                    "Connection": "close"}
            req = f"GET {path or '/'} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
            writer.write(req.encode())
            await writer.drain()
            status_line = await reader.readline()
            parts = status_line.decode(errors="replace").split()
            if len(parts) < 2 or not parts[1].isdigit():
                raise ValueError(f"malformed HTTP response {status_line[:80]!r}")
            return int(parts[1])
        finally:
            writer.close()

    url = f"{scheme.lower()}://{host}:{port}{path or '/'}"
    try:
        code = await asyncio.wait_for(get(), timeout)
    except TimeoutError:
        return ProbeOutcome(False, f'Get "{url}": context deadline exceeded')
    except (OSError, ValueError) as err:
        return ProbeOutcome(False, f'Get "{url}": {err}')
    if 200 <= code < 400:
        return ProbeOutcome(True)
    return ProbeOutcome(False, f"HTTP probe failed with statuscode: {code}")


def make_handler(
    probe: Mapping[str, Any], *, container: Mapping[str, Any], container_id: str, pod_ip: str, runtime: Runtime,
) -> Handler:
    """The action of ``probe`` for one running container."""
    if "exec" in probe:
        cmd = [str(c) for c in (probe["exec"] or {}).get("command") or []]

        async def run_exec(timeout: float) -> ProbeOutcome:
            try:
                code, out = await runtime.exec_sync(container_id, cmd, timeout)
            except TimeoutError:
                return ProbeOutcome(False, f"command {cmd!r} timed out")
            except RuntimeFailure as err:
                return ProbeOutcome(False, err.message)
            text = out.decode(errors="replace").strip()
            # upstream's message is the command's output ("cat: can't open '/tmp/healthy': ...")
            return ProbeOutcome(code == 0, text if code == 0 or text else f"command {cmd!r} exited with {code}")

        return run_exec
    if "httpGet" in probe:
        spec = probe["httpGet"] or {}
        host = spec.get("host") or pod_ip
        headers = {h.get("name", ""): str(h.get("value", "")) for h in spec.get("httpHeaders") or []}

        async def run_http(timeout: float) -> ProbeOutcome:
            try:
                port = resolve_port(spec.get("port"), container)
            except ValueError as err:
                return ProbeOutcome(False, str(err))
            return await http_check(host=host, port=port, path=spec.get("path") or "/",
                                    scheme=spec.get("scheme") or "HTTP", headers=headers, timeout=timeout)

        return run_http
    if "tcpSocket" in probe:
        spec = probe["tcpSocket"] or {}

        async def run_tcp(timeout: float) -> ProbeOutcome:
            try:
                port = resolve_port(spec.get("port"), container)
            except ValueError as err:
                return ProbeOutcome(False, str(err))
            return await tcp_check(spec.get("host") or pod_ip, port, timeout)

        return run_tcp

    async def unsupported(timeout: float) -> ProbeOutcome:
        return ProbeOutcome(False, f"unsupported probe handler: {sorted(probe)}")

    return unsupported


class ProbeWorker:
    """Probes one container for one probe type until cancelled. ``result`` is the current verdict."""

    def __init__(
        self, kind: str, timing: ProbeTiming, handler: Handler, *, started_at: float, clock: Clock,
        on_change: Callable[[], None], gate: Callable[[], bool] = lambda: True,
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        """``on_failure`` is called with the message of every failed probe (the kubelet's ``Unhealthy``
        event, which upstream records per failure, not per flip)."""
        self.kind, self.timing, self.handler = kind, timing, handler
        self.on_failure = on_failure
        self.started_at, self.clock, self.on_change, self.gate = started_at, clock, on_change, gate
        self.result = kind == LIVENESS
        self.message = ""
        self.probes = 0
        self._last: bool | None = None
        self._streak = 0

    def observe(self, outcome: ProbeOutcome) -> None:
        """Count one probe outcome; flip ``result`` when a threshold is reached."""
        self.probes += 1
        if outcome.success == self._last:
            self._streak += 1
        else:
            self._last, self._streak = outcome.success, 1
        threshold = self.timing.success_threshold if outcome.success else self.timing.failure_threshold
        if not outcome.success:
            self.message = outcome.message
            if self.on_failure is not None:
                self.on_failure(outcome.message)
        if self._streak >= threshold and self.result != outcome.success:
            self.result = outcome.success
            log.debug("probe result changed kind=%s success=%s message=%s", self.kind, self.result, outcome.message)
            self.on_change()

    async def run(self) -> None:
        delay = self.started_at + self.timing.initial_delay - self.clock.wall()
        if delay > 0:
            await self.clock.sleep(delay)
        while True:
            if self.gate():
                self.observe(await self.handler(self.timing.timeout))
            await self.clock.sleep(self.timing.period)
