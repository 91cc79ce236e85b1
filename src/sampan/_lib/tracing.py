"""The one door to OpenTelemetry for every component: spans around the work done on an object, linked
across components by the object's uid and resourceVersion (attributes :data:`UID`, :data:`RV`).

Off by default, and then free: :data:`STATE.on` is False, :func:`span` returns a shared no-op context
manager, and hot sites guard themselves with ``if tracing.STATE.on:`` (one attribute read) before building
attributes. opentelemetry is imported only by :func:`configure`. States::

    off --configure(exporters)--> on --shutdown()--> off

Exporters: OTLP/HTTP to a user's collector (``opentelemetry-exporter-otlp-proto-http``, the ``otlp`` extra;
the endpoint as upstream's TracingConfiguration writes it) and/or sampan's embedded store (JSON batches
POSTed to ``<store>/v1/spans``, see :mod:`sampan.tracestore`). Spans are batched and exported on a thread,
never on the component's event loop.

Cross-process parentage: :func:`inject` writes a W3C ``traceparent`` header into a request,
:func:`extract_context` reads it on the server, so a client span parents the API server's request span.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import urllib.request
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

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

ENV_STORE = "SAMPAN_TRACE_STORE"
ENV_ENDPOINT = "SAMPAN_TRACING_ENDPOINT"
ENV_CONFIG_FILE = "SAMPAN_TRACING_CONFIG_FILE"

AttrValue = str | int | float | bool | Sequence[str]


class _State:
    __slots__ = ("component", "on", "provider", "tracer")

    def __init__(self) -> None:
        self.on = False
        self.tracer: Any = None
        self.provider: Any = None
        self.component = ""


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


def span(name: str, attributes: Mapping[str, AttrValue] | None = None, *, start_time_ns: int | None = None,
         context: Any = None) -> Any:
    """A context manager for one span (the no-op :data:`NO_SPAN` while off). The value it yields has
    ``set_attribute``/``set_attributes``. ``context`` (from :func:`extract_context`) sets a remote parent."""
    if not STATE.on:
        return NO_SPAN
    return _CurrentSpan(STATE.tracer.start_span(name, context=context, attributes=_clean(attributes),
                                                start_time=start_time_ns, record_exception=False))


class _CurrentSpan:
    """An SDK span made current for the ``with`` block, then ended (a leaner ``start_as_current_span``)."""

    __slots__ = ("span", "token")

    def __init__(self, span: Any) -> None:
        self.span = span
        self.token: Any = None

    def __enter__(self) -> Any:
        from opentelemetry import context, trace

        self.token = context.attach(trace.set_span_in_context(self.span))
        return self.span

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        from opentelemetry import context
        from opentelemetry.trace import Status, StatusCode

        context.detach(self.token)
        if exc is not None and not isinstance(exc, GeneratorExit):
            self.span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        self.span.end()


class _Step:
    """A timed step recorded as an event on the current span (cheaper than a span: the API server's hot
    path has one span per request, with authentication, admission and the storage write as steps). With
    no recording span current (work outside a request), the step is a span of its own."""

    __slots__ = ("attrs", "name", "own", "span", "start")

    def __init__(self, name: str, attrs: dict[str, AttrValue]) -> None:
        self.name = name
        self.attrs = attrs
        self.start = 0
        self.span: Any = None
        self.own: Any = None

    def set_attribute(self, key: str, value: AttrValue) -> None:
        self.attrs[key] = value

    def set_attributes(self, attrs: Mapping[str, AttrValue]) -> None:
        self.attrs.update(attrs)

    def __enter__(self) -> _Step:
        from opentelemetry import trace

        self.span = trace.get_current_span()
        self.start = time.time_ns()
        if not self.span.is_recording():
            self.own = STATE.tracer.start_span(self.name, start_time=self.start, record_exception=False)
        return self

    def __exit__(self, *exc: object) -> None:
        end = time.time_ns()
        if self.own is not None:
            self.own.set_attributes(_clean(self.attrs) or {})
            self.own.end(end_time=end)
        elif self.span.is_recording():
            self.attrs[STEP_DURATION] = end - self.start
            self.span.add_event(self.name, _clean(self.attrs), timestamp=self.start)


STEP_DURATION = "sampan.step_duration_ns"
"""The event attribute that makes an event a timed step (the trace store shows it as a child hop)."""


def step(name: str, attributes: Mapping[str, AttrValue] | None = None) -> Any:
    """A timed step of the current span (an event with its duration); the no-op :data:`NO_SPAN` while off."""
    if not STATE.on:
        return NO_SPAN
    return _Step(name, dict(attributes or {}))


def annotate(attributes: Mapping[str, AttrValue]) -> None:
    """Set attributes on the current span (e.g. the uid and revision a request wrote); no-op while off."""
    if not STATE.on:
        return
    from opentelemetry import trace

    current = trace.get_current_span()
    if current.is_recording():
        current.set_attributes(_clean(attributes) or {})


def _clean(attributes: Mapping[str, AttrValue] | None) -> dict[str, Any] | None:
    """Attributes without empty values (sequences as lists, as OpenTelemetry wants)."""
    if not attributes:
        return None
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
    """The pods an EndpointSlice or Endpoints object points at (``targetRef.uid``)."""
    addresses: list[Any] = []
    if obj.get("kind") == "EndpointSlice":
        addresses = obj.get("endpoints") or []
    elif obj.get("kind") == "Endpoints":
        for subset in obj.get("subsets") or []:
            if isinstance(subset, dict):
                addresses += (subset.get("addresses") or []) + (subset.get("notReadyAddresses") or [])
    out = []
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
    from opentelemetry.propagate import inject as _inject

    _inject(headers)


def extract_context(headers: Mapping[str, str]) -> Any:
    """The remote parent context carried by incoming ``headers`` (None while off or without one)."""
    if not STATE.on or "traceparent" not in headers:
        return None
    from opentelemetry.propagate import extract

    return extract(dict(headers))


@dataclass(frozen=True)
class TracingConfig:
    """Where spans go. ``endpoint``: an OTLP/HTTP collector (``host:port`` or a URL; upstream's
    TracingConfiguration ``endpoint``); ``store``: the embedded store's base URL;
    ``sampling_rate_per_million``: as upstream (default 1,000,000 here: every span, since it is opt-in)."""

    endpoint: str = ""
    store: str = ""
    sampling_rate_per_million: int = 1_000_000

    @property
    def wanted(self) -> bool:
        return bool(self.endpoint or self.store)


def load_tracing_config_file(path: str) -> TracingConfig:
    """Parse upstream's ``TracingConfiguration`` (apiserver.config.k8s.io or kubelet's ``tracing`` stanza):
    ``endpoint`` and ``samplingRatePerMillion``. Raises ValueError with a one-line message."""
    import yaml

    try:
        with open(path) as f:
            doc = yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ValueError(f"tracing config {path}: {e}") from None
    if not isinstance(doc, dict):
        raise ValueError(f"tracing config {path}: not a mapping")
    if doc.get("kind") not in (None, "TracingConfiguration"):
        raise ValueError(f"tracing config {path}: kind {doc.get('kind')!r} is not TracingConfiguration")
    if isinstance(doc.get("tracing"), dict):  # a KubeletConfiguration's stanza
        doc = doc["tracing"]
    rate = doc.get("samplingRatePerMillion", 1_000_000)
    if not isinstance(rate, int) or isinstance(rate, bool) or not 0 <= rate <= 1_000_000:
        raise ValueError(f"tracing config {path}: samplingRatePerMillion must be an integer in [0, 1000000]")
    endpoint = doc.get("endpoint", "localhost:4317")
    if not isinstance(endpoint, str):
        raise ValueError(f"tracing config {path}: endpoint must be a string")
    return TracingConfig(endpoint=endpoint, sampling_rate_per_million=rate)


def config_from_env(environ: Mapping[str, str] | None = None) -> TracingConfig:
    """The configuration the environment asks for (``sampan up --trace`` passes it to its children)."""
    env = os.environ if environ is None else environ
    base = TracingConfig()
    if env.get(ENV_CONFIG_FILE):
        base = load_tracing_config_file(env[ENV_CONFIG_FILE])
    return TracingConfig(endpoint=env.get(ENV_ENDPOINT) or base.endpoint, store=env.get(ENV_STORE, ""),
                         sampling_rate_per_million=base.sampling_rate_per_million)


def configure(component: str, config: TracingConfig) -> bool:
    """Turn tracing on for this process as ``component`` (the OpenTelemetry service.name). Returns whether
    it is on. Without the OTLP exporter installed, an endpoint is logged and skipped."""
    if not config.wanted:
        return False
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    sampler = ParentBased(TraceIdRatioBased(config.sampling_rate_per_million / 1_000_000))
    provider = TracerProvider(resource=Resource.create({"service.name": component}), sampler=sampler)
    exporters = 0
    if config.store:
        exporter: Any = StoreExporter(config.store)  # duck-typed: the SDK is imported only here
        provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=200))
        exporters += 1
    if config.endpoint:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            log.warning("tracing endpoint ignored: install sampan[otlp] endpoint=%s", config.endpoint)
        else:
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_url(config.endpoint))))
            exporters += 1
    if not exporters:
        return False
    with contextlib.suppress(Exception):
        trace.set_tracer_provider(provider)
    STATE.provider = provider
    STATE.tracer = provider.get_tracer("sampan")
    STATE.component = component
    STATE.on = True
    log.info("tracing on component=%s store=%s endpoint=%s", component, config.store, config.endpoint)
    return True


def otlp_url(endpoint: str) -> str:
    """``host:port`` (upstream writes the gRPC port 4317) -> the OTLP/HTTP traces URL on that host."""
    if "://" in endpoint:
        url = endpoint.rstrip("/")
        return url if url.endswith("/v1/traces") else url + "/v1/traces"
    return f"http://{endpoint}/v1/traces"


def shutdown() -> None:
    """Flush and stop exporting; back to off."""
    provider, STATE.provider = STATE.provider, None
    STATE.on = False
    STATE.tracer = None
    if provider is not None:
        provider.shutdown()


def force_flush() -> None:
    if STATE.provider is not None:
        STATE.provider.force_flush()


def span_record(s: Any, component: str) -> dict[str, Any]:
    """One finished SDK span as the embedded store's JSON record."""
    ctx = s.get_span_context()
    parent = s.parent
    return {
        "trace_id": f"{ctx.trace_id:032x}", "span_id": f"{ctx.span_id:016x}",
        "parent_id": f"{parent.span_id:016x}" if parent is not None else "",
        "name": s.name, "component": component, "start_ns": s.start_time, "end_ns": s.end_time,
        "attributes": _plain(s.attributes),
        "events": [{"name": e.name, "time_ns": e.timestamp, "attributes": _plain(e.attributes)} for e in s.events],
        "error": not s.status.is_ok,
    }


def _plain(attrs: Any) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in (attrs or {}).items()}


class StoreExporter:
    """A SpanExporter (duck-typed, as the SDK only calls these methods) that POSTs span batches as JSON
    to the embedded store. Runs on the batch processor's thread; a store that is down loses the batch."""

    def __init__(self, base_url: str, *, timeout: float = 2.0) -> None:
        self.url = base_url.rstrip("/") + "/v1/spans"
        self.timeout = timeout

    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        body = orjson.dumps({"spans": [span_record(s, _service(s)) for s in spans]})
        req = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                resp.read()
        except OSError as e:
            log.debug("span export failed url=%s err=%s", self.url, e)
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _service(s: Any) -> str:
    res = getattr(s, "resource", None)
    name = res.attributes.get("service.name") if res is not None else None
    return str(name or STATE.component)


@contextlib.contextmanager
def enabled_for_tests(exporter: Any) -> Iterator[None]:
    """Tracing on with a given SDK exporter (e.g. InMemorySpanExporter) for the duration; then off."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "test"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    STATE.provider, STATE.tracer, STATE.component, STATE.on = provider, provider.get_tracer("sampan"), "test", True
    try:
        yield
    finally:
        shutdown()
