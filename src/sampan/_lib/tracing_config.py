"""Where a process's spans go: upstream's TracingConfiguration (``endpoint``, ``samplingRatePerMillion``),
the ``--tracing``/``--tracing-config-file``/``--trace-store`` flags as the environment ``sampan`` passes to
its components, and the OTLP/HTTP URL of an endpoint. Pure parsing: no OpenTelemetry here."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

ENV_STORE = "SAMPAN_TRACE_STORE"
ENV_ENDPOINT = "SAMPAN_TRACING_ENDPOINT"
ENV_CONFIG_FILE = "SAMPAN_TRACING_CONFIG_FILE"


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


def otlp_url(endpoint: str) -> str:
    """``host:port`` (upstream writes the gRPC port 4317) -> the OTLP/HTTP traces URL on that host."""
    if "://" in endpoint:
        url = endpoint.rstrip("/")
        return url if url.endswith("/v1/traces") else url + "/v1/traces"
    return f"http://{endpoint}/v1/traces"
