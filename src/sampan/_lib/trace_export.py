"""The export side of :mod:`sampan._lib.tracing`, off the components' event loops: one thread drains the
buffer of ended spans every ``interval`` and hands each batch to every sink.

- :class:`StoreSink`: JSON batches POSTed to the embedded store's ``/v1/spans`` over one kept-alive
  connection (a store that is down loses the batch, logged at debug level);
- :class:`SDKSink`: the batch as OpenTelemetry SDK ``ReadableSpan`` objects for any SDK ``SpanExporter``
  (the OTLP/HTTP exporter for ``--tracing``, an in-memory one in tests). OpenTelemetry is imported here
  only, and only when such a sink is made.

States of :class:`ExportThread`: new -> started -> stopped (the last batch exported, sinks closed).
"""

from __future__ import annotations

import http.client
import logging
import threading
import urllib.parse
from collections import deque
from collections.abc import Sequence
from typing import Any, Protocol

import orjson

from sampan._lib.tracing import Span, TracingConfig, clean, otlp_url

log = logging.getLogger(__name__)

BATCH = 2_000
"""Spans per export call, at most (a store POST of about 1 MB)."""


class Sink(Protocol):
    def export(self, spans: Sequence[Span]) -> None: ...

    def close(self) -> None: ...


def span_record(s: Span, component: str) -> dict[str, Any]:
    """One ended span as the embedded store's JSON record (ids as lowercase hex, as OTLP/JSON writes them)."""
    return {
        "trace_id": f"{s.trace_id:032x}", "span_id": f"{s.span_id:016x}",
        "parent_id": f"{s.parent_id:016x}" if s.parent_id else "",
        "name": s.name, "component": component, "start_ns": s.start_ns, "end_ns": s.end_ns,
        "attributes": clean(s.attributes),
        "events": [{"name": n, "time_ns": t, "attributes": clean(a)} for n, t, a in s.events],
        "error": bool(s.error),
    }


class StoreSink:
    """POSTs ``{"spans": [...]}`` to ``<base_url>/v1/spans`` (the embedded store, :mod:`sampan.tracestore`)."""

    def __init__(self, base_url: str, component: str, *, timeout: float = 2.0) -> None:
        url = urllib.parse.urlsplit(base_url.rstrip("/"))
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"trace store URL {base_url!r} is not http(s)://HOST[:PORT]")
        self.scheme, self.host, self.port = url.scheme, url.hostname, url.port
        self.path = url.path + "/v1/spans"
        self.component = component
        self.timeout = timeout
        self.conn: http.client.HTTPConnection | None = None

    def export(self, spans: Sequence[Span]) -> None:
        body = orjson.dumps({"spans": [span_record(s, self.component) for s in spans]})
        for attempt in (1, 2):  # a kept-alive connection the store closed fails once: reconnect
            try:
                if self.conn is None:
                    cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
                    self.conn = cls(self.host, self.port, timeout=self.timeout)
                self.conn.request("POST", self.path, body=body, headers={"Content-Type": "application/json"})
                resp = self.conn.getresponse()
                resp.read()
                if resp.status >= 300:
                    log.debug("span export refused status=%s", resp.status)
                return
            except (OSError, http.client.HTTPException) as e:
                self.close()
                if attempt == 2:
                    log.debug("span export failed path=%s err=%s", self.path, e)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class SDKSink:
    """Converts a batch to OpenTelemetry SDK ``ReadableSpan`` objects (resource ``service.name`` =
    ``component``, scope ``sampan``) and passes it to an SDK ``SpanExporter``."""

    def __init__(self, exporter: Any, component: str) -> None:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import Event, ReadableSpan
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope
        from opentelemetry.trace import SpanContext, Status, StatusCode, TraceFlags

        self.exporter = exporter
        self.resource = Resource.create({"service.name": component})
        self.scope = InstrumentationScope("sampan")
        self._event, self._readable, self._context = Event, ReadableSpan, SpanContext
        self._flags = TraceFlags(TraceFlags.SAMPLED)
        self._ok, self._error_code, self._status = Status(StatusCode.UNSET), StatusCode.ERROR, Status

    def readable(self, s: Span) -> Any:
        ctx = self._context(s.trace_id, s.span_id, is_remote=False, trace_flags=self._flags)
        parent = (self._context(s.trace_id, s.parent_id, is_remote=s.remote_parent, trace_flags=self._flags)
                  if s.parent_id else None)
        return self._readable(
            name=s.name, context=ctx, parent=parent, resource=self.resource, attributes=clean(s.attributes),
            events=[self._event(n, clean(a), timestamp=t) for n, t, a in s.events],
            status=self._status(self._error_code, s.error) if s.error else self._ok,
            start_time=s.start_ns, end_time=s.end_ns, instrumentation_scope=self.scope)

    def export(self, spans: Sequence[Span]) -> None:
        self.exporter.export([self.readable(s) for s in spans])

    def close(self) -> None:
        self.exporter.shutdown()


def sinks_for(component: str, config: TracingConfig) -> list[Sink]:
    """The sinks ``config`` asks for (an OTLP endpoint without the ``otlp`` extra is logged and skipped)."""
    sinks: list[Sink] = []
    if config.store:
        sinks.append(StoreSink(config.store, component))
    if config.endpoint:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            log.warning("tracing endpoint ignored: install sampan[otlp] endpoint=%s", config.endpoint)
        else:
            sinks.append(SDKSink(OTLPSpanExporter(endpoint=otlp_url(config.endpoint)), component))
    return sinks


class ExportThread:
    """Drains ``buffer`` (the deque the tracing facade appends ended spans to) every ``interval`` seconds
    and exports the spans in batches of at most :data:`BATCH` to each sink; a sink that raises loses that
    batch only. Drains are serialized by a lock, so :meth:`flush` from another thread is safe."""

    def __init__(self, buffer: deque[Span], sinks: Sequence[Sink], *, interval: float = 0.2) -> None:
        self.buffer = buffer
        self.sinks = list(sinks)
        self.interval = interval
        self._wake = threading.Event()
        self._stopping = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="sampan-span-export", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(self.interval)
            self._wake.clear()
            self._drain()

    def _drain(self) -> None:
        with self._lock:
            while self.buffer:
                if len(self.buffer) == self.buffer.maxlen:
                    log.warning("span buffer full (%d): the oldest spans are dropped", self.buffer.maxlen)
                n = min(len(self.buffer), BATCH)
                popleft = self.buffer.popleft
                batch = [popleft() for _ in range(n)]
                for sink in self.sinks:
                    try:
                        sink.export(batch)
                    except Exception:  # an exporter's bug must not stop the thread
                        log.exception("span export failed sink=%s", type(sink).__name__)

    def flush(self, timeout: float = 10.0) -> None:
        """Export every span buffered so far, from the caller's thread."""
        if self._lock.acquire(timeout=timeout):
            self._lock.release()
            self._drain()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping = True
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._drain()
        for sink in self.sinks:
            try:
                sink.close()
            except Exception:
                log.debug("closing span sink failed", exc_info=True)
