"""The one door to tracing for every component: spans around the work done on an object, linked across
components by the object's uid and resourceVersion (attributes :data:`UID`, :data:`RV`) and by W3C
``traceparent``, exported as OpenTelemetry (OTLP) or to sampan's embedded store.

Off by default, and then free: :data:`STATE.on` is False, :func:`span` returns a shared no-op context
manager, hot sites guard themselves with ``if tracing.STATE.on:`` (one attribute read) before building
attributes, and opentelemetry is never imported. States::

    off --configure(exporters)--> on --shutdown()--> off

While on, the hot path never touches the OpenTelemetry SDK (whose per-span cost — sampler, id generator,
bounded attribute maps with locks, processor callbacks — was a third of a create's CPU): a span is one
small :class:`Span` (ids from ``random.getrandbits``, a plain attribute dict, events as tuples) made current
in a :class:`~contextvars.ContextVar` and, once ended, appended to a bounded deque. A thread of
:mod:`sampan._lib.trace_export` drains the deque every 200 ms and converts the batch: to JSON for the
embedded store, to SDK ``ReadableSpan`` objects for the OTLP exporter. Sampling is upstream's
``ParentBased(TraceIdRatioBased(samplingRatePerMillion))``, decided once per trace from its id.

Invariants: a span is recorded (appended) at most once, at its end, and only when sampled; a child has its
parent's trace id and sampling decision; the deque holds at most :data:`BUFFER_SPANS` spans (the oldest
are dropped, with a warning, when an exporter cannot keep up).
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from random import getrandbits
from typing import Any

from sampan._lib.tracing_config import (
    ENV_CONFIG_FILE,
    ENV_ENDPOINT,
    ENV_STORE,
    TracingConfig,
    config_from_env,
    load_tracing_config_file,
    otlp_url,
)

__all__ = ["ENV_CONFIG_FILE", "ENV_ENDPOINT", "ENV_STORE", "TracingConfig", "config_from_env",
           "load_tracing_config_file", "otlp_url"]

log = logging.getLogger(__name__)

UID = "k8s.uid"
RV = "k8s.resource_version"
KIND = "k8s.resource"
NAMESPACE = "k8s.namespace"
NAME = "k8s.name"
RELATED_UIDS = "k8s.related_uids"
"""Other objects a span worked for (e.g. the pods an EndpointSlice write points at)."""
ENDPOINT_IPS = "net.endpoint_ips"
"""Endpoint addresses a span programmed (kube-proxy); the trace store finds a pod's syncs by its IP."""
STEP_DURATION = "sampan.step_duration_ns"
"""The event attribute that makes an event a timed step (the trace store shows it as a child hop)."""

BUFFER_SPANS = 50_000
"""Ended spans waiting for the export thread, at most (about 20 MB)."""

AttrValue = str | int | float | bool | Sequence[str]

_ID64 = (1 << 64) - 1


class _State:
    __slots__ = ("bound", "buffer", "component", "on", "pipeline", "record")

    def __init__(self) -> None:
        self.on = False
        self.component = ""
        self.bound = 1 << 64
        """A trace is sampled when the low 64 bits of its id are below this (upstream's ratio sampler)."""
        self.buffer: deque[Span] = deque(maxlen=BUFFER_SPANS)
        self.record: Callable[[Span], None] = self.buffer.append
        self.pipeline: Any = None


STATE = _State()
"""``STATE.on`` is the cheap check every span site makes."""


class _NoSpan:
    """What :func:`span` yields while tracing is off: accepts attributes and drops them."""

    __slots__ = ()

    def set_attribute(self, key: str, value: AttrValue) -> None:
        pass

    def set_attributes(self, attrs: Mapping[str, AttrValue]) -> None:
        pass

    def __enter__(self) -> _NoSpan:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


NO_SPAN = _NoSpan()


class RemoteParent:
    """A caller's span, from its ``traceparent`` header (see :func:`extract_context`)."""

    __slots__ = ("sampled", "span_id", "trace_id")

    def __init__(self, trace_id: int, span_id: int, sampled: bool) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.sampled = sampled


class Span:
    """One span: created by :func:`span`, current for its ``with`` block, recorded at its end if sampled.
    Times are Unix ns; ``events`` are ``(name, time_ns, attributes)``; ``error`` is "" or the exception."""

    __slots__ = ("attributes", "end_ns", "error", "events", "name", "parent_id", "remote_parent", "sampled",
                 "span_id", "start_ns", "token", "trace_id")

    trace_id: int
    span_id: int
    sampled: bool

    def __init__(self, name: str, attributes: dict[str, AttrValue], parent: Span | RemoteParent | None,
                 start_ns: int | None) -> None:
        self.name = name
        self.attributes = attributes
        if parent is None:
            self.trace_id = getrandbits(128) or 1
            self.parent_id = 0
            self.sampled = (self.trace_id & _ID64) < STATE.bound
        else:
            self.trace_id = parent.trace_id
            self.parent_id = parent.span_id
            self.sampled = parent.sampled
        self.remote_parent = isinstance(parent, RemoteParent)
        self.span_id = getrandbits(64) or 1
        self.start_ns = start_ns or time.time_ns()
        self.end_ns = 0
        self.events: list[tuple[str, int, dict[str, AttrValue]]] = []
        self.error = ""
        self.token: contextvars.Token[Span | RemoteParent | None] | None = None

    def set_attribute(self, key: str, value: AttrValue) -> None:
        self.attributes[key] = value

    def set_attributes(self, attrs: Mapping[str, AttrValue]) -> None:
        self.attributes.update(attrs)

    def __enter__(self) -> Span:
        self.token = _CURRENT.set(self)
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.end_ns = time.time_ns()
        if self.token is not None:
            try:
                _CURRENT.reset(self.token)
            except ValueError:  # ended in another context than it started in (e.g. another task)
                pass
        if exc is not None and not isinstance(exc, GeneratorExit):
            self.error = f"{type(exc).__name__}: {exc}"
        if self.sampled:
            STATE.record(self)


_CURRENT: contextvars.ContextVar[Span | RemoteParent | None] = contextvars.ContextVar("sampan_span",
                                                                                        default=None)


def current() -> Span | RemoteParent | None:
    """The span current in this context (a :class:`RemoteParent` inside a request with no span yet)."""
    return _CURRENT.get()


def span(name: str, attributes: Mapping[str, AttrValue] | None = None, *, start_time_ns: int | None = None,
         context: RemoteParent | None = None) -> Any:
    """A context manager for one span (the no-op :data:`NO_SPAN` while off). The value it yields has
    ``set_attribute``/``set_attributes``. ``context`` (from :func:`extract_context`) sets a remote parent;
    otherwise the current span is the parent."""
    if not STATE.on:
        return NO_SPAN
    return Span(name, dict(attributes) if attributes else {}, context or _CURRENT.get(), start_time_ns)


class _Step:
    """A timed step recorded as an event on the current span (cheaper than a span: the API server's hot
    path has one span per request, with authentication, admission and the storage write as steps). With
    no span current (work outside a request), the step is a span of its own."""

    __slots__ = ("attrs", "name", "own", "parent", "start")

    def __init__(self, name: str, attrs: dict[str, AttrValue]) -> None:
        self.name = name
        self.attrs = attrs
        self.start = 0
        self.parent: Span | None = None
        self.own: Span | None = None

    def set_attribute(self, key: str, value: AttrValue) -> None:
        self.attrs[key] = value

    def set_attributes(self, attrs: Mapping[str, AttrValue]) -> None:
        self.attrs.update(attrs)

    def __enter__(self) -> _Step:
        cur = _CURRENT.get()
        self.start = time.time_ns()
        if isinstance(cur, Span):
            self.parent = cur
        else:
            self.own = Span(self.name, self.attrs, cur, self.start)
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self.own is not None:
            self.own.__exit__(exc_type, exc, tb)
        elif self.parent is not None and self.parent.sampled:
            self.attrs[STEP_DURATION] = time.time_ns() - self.start
            self.parent.events.append((self.name, self.start, self.attrs))


def step(name: str, attributes: Mapping[str, AttrValue] | None = None) -> Any:
    """A timed step of the current span (an event with its duration); the no-op :data:`NO_SPAN` while off."""
    if not STATE.on:
        return NO_SPAN
    return _Step(name, dict(attributes) if attributes else {})


def annotate(attributes: Mapping[str, AttrValue]) -> None:
    """Set attributes on the current span (e.g. the uid and revision a request wrote); no-op while off."""
    if not STATE.on:
        return
    cur = _CURRENT.get()
    if isinstance(cur, Span) and cur.sampled:
        cur.attributes.update(attributes)


def clean(attributes: Mapping[str, AttrValue] | None) -> dict[str, Any]:
    """Attributes without empty values (sequences as lists, as OpenTelemetry wants). Export time only."""
    if not attributes:
        return {}
    return {k: (list(v) if isinstance(v, tuple | set | frozenset) else v)
            for k, v in attributes.items() if v is not None and v != ""}


def object_attributes(obj: Mapping[str, Any] | None, *, resource: str = "") -> dict[str, AttrValue]:
    """uid, resourceVersion, namespace and name of an object (what the embedded store correlates by)."""
    md = (obj or {}).get("metadata") or {}
    out: dict[str, AttrValue] = {}
    for key, field in ((UID, "uid"), (RV, "resourceVersion"), (NAMESPACE, "namespace"), (NAME, "name")):
        v = md.get(field)
        if isinstance(v, str) and v:
            out[key] = v
    kind = resource or (obj or {}).get("kind")
    if isinstance(kind, str) and kind:
        out[KIND] = kind
    related = _target_uids(obj or {})
    if related:
        out[RELATED_UIDS] = related
    return out


def _target_uids(obj: Mapping[str, Any]) -> list[str]:
    """The pods an EndpointSlice or Endpoints object points at (``targetRef.uid``), and for an
    EndpointSlice its owner (the Service) too: a write of it belongs to their traces."""
    addresses: list[Any] = []
    out: list[str] = []
    if obj.get("kind") == "EndpointSlice":
        addresses = obj.get("endpoints") or []
        for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
            uid = ref.get("uid") if isinstance(ref, dict) else None
            if isinstance(uid, str) and uid:
                out.append(uid)
    elif obj.get("kind") == "Endpoints":
        for subset in obj.get("subsets") or []:
            if isinstance(subset, dict):
                addresses += (subset.get("addresses") or []) + (subset.get("notReadyAddresses") or [])
    for a in addresses:
        ref = a.get("targetRef") if isinstance(a, dict) else None
        uid = ref.get("uid") if isinstance(ref, dict) else None
        if isinstance(uid, str) and uid:
            out.append(uid)
    return out


def inject(headers: MutableMapping[str, str]) -> None:
    """Add ``traceparent`` for the current span to outgoing request ``headers`` (no-op while off)."""
    if not STATE.on:
        return
    cur = _CURRENT.get()
    if cur is not None:
        headers["traceparent"] = f"00-{cur.trace_id:032x}-{cur.span_id:016x}-{'01' if cur.sampled else '00'}"


def extract_context(headers: Mapping[str, str]) -> RemoteParent | None:
    """The remote parent carried by incoming ``headers``' W3C ``traceparent`` (None while off, without one,
    or when it is malformed: the request then starts a trace of its own, as the W3C spec says)."""
    if not STATE.on:
        return None
    value = headers.get("traceparent")
    if not value:
        return None
    parts = value.strip().split("-")
    if len(parts) < 4 or len(parts[0]) != 2 or parts[0] == "ff" or len(parts[1]) != 32 or len(parts[2]) != 16 \
            or len(parts[3]) != 2 or (parts[0] == "00" and len(parts) != 4):
        return None
    try:
        trace_id, span_id, flags = int(parts[1], 16), int(parts[2], 16), int(parts[3], 16)
        int(parts[0], 16)
    except ValueError:
        return None
    if not trace_id or not span_id:
        return None
    return RemoteParent(trace_id, span_id, bool(flags & 1))


def configure(component: str, config: TracingConfig) -> bool:
    """Turn tracing on for this process as ``component`` (the OpenTelemetry ``service.name``) with an
    export thread for the sinks ``config`` names. Returns whether it is on. Without the OTLP exporter
    installed, an endpoint is logged and skipped."""
    if not config.wanted:
        return False
    from sampan._lib import trace_export

    sinks = trace_export.sinks_for(component, config)
    if not sinks:
        return False
    STATE.buffer.clear()
    STATE.record = STATE.buffer.append
    STATE.pipeline = trace_export.ExportThread(STATE.buffer, sinks)
    STATE.pipeline.start()
    STATE.bound = round(config.sampling_rate_per_million * (1 << 64) / 1_000_000)
    STATE.component = component
    STATE.on = True
    atexit.register(shutdown)
    log.info("tracing on component=%s store=%s endpoint=%s", component, config.store, config.endpoint)
    return True


def shutdown() -> None:
    """Export what is buffered and stop the export thread; back to off."""
    STATE.on = False
    pipeline, STATE.pipeline = STATE.pipeline, None
    STATE.record = STATE.buffer.append
    if pipeline is not None:
        pipeline.stop()


def force_flush(timeout: float = 10.0) -> None:
    """Export every span ended so far (blocks the caller until the export thread has sent them)."""
    if STATE.pipeline is not None:
        STATE.pipeline.flush(timeout)


@contextlib.contextmanager
def enabled_for_tests(exporter: Any) -> Iterator[None]:
    """Tracing on for the duration, each span handed at its end to ``exporter`` (an OpenTelemetry SDK
    ``SpanExporter``, e.g. ``InMemorySpanExporter``) as an SDK ``ReadableSpan``; then off."""
    from sampan._lib import trace_export

    sink = trace_export.SDKSink(exporter, "test")
    STATE.record = lambda s: sink.export([s])
    STATE.bound, STATE.component, STATE.on = 1 << 64, "test", True
    try:
        yield
    finally:
        STATE.on = False
        STATE.record = STATE.buffer.append
