"""Chain and set names, upstream style: ``service-<HASH>-ns/svc/tcp/port`` and
``endpoint-<HASH>-ns/svc/tcp/port__10.0.0.1/80``; the hash (8 base32 characters of a SHA-256) keeps names
unique and visually distinct. Names use only characters nft identifiers allow; no fixed chain name
contains ``/``, so a ``/`` marks a per-service chain or set."""

from __future__ import annotations

import base64
import hashlib

from sampan.proxy.model import Endpoint, ServicePortName

NAME_MAX = 240


def _hashed(name: str) -> str:
    digest = base64.b32encode(hashlib.sha256(name.encode()).digest()).decode()[:8]
    out = f"{digest}-{name}"
    return out if len(out) <= NAME_MAX else out[: NAME_MAX - 3] + "..."


def port_base(pn: ServicePortName) -> str:
    return _hashed(f"{pn.namespace}/{pn.name}/{pn.protocol.lower()}/{pn.port}")


def endpoint_base(pn: ServicePortName, ep: Endpoint) -> str:
    return _hashed(f"{pn.namespace}/{pn.name}/{pn.protocol.lower()}/{pn.port}__{ep.ip}/{ep.port}")


def cluster_chain(pn: ServicePortName) -> str:
    return "service-" + port_base(pn)


def local_chain(pn: ServicePortName) -> str:
    return "local-" + port_base(pn)


def external_chain(pn: ServicePortName) -> str:
    return "external-" + port_base(pn)


def endpoint_chain(pn: ServicePortName, ep: Endpoint) -> str:
    return "endpoint-" + endpoint_base(pn, ep)


def affinity_set(pn: ServicePortName, ep: Endpoint, timeout: int) -> str:
    """Per-endpoint ClientIP affinity set; the timeout is part of the name (a set's timeout cannot change
    in place, so a new timeout makes a new set)."""
    return "affinity-" + _hashed(f"{pn.namespace}/{pn.name}/{pn.protocol.lower()}/{pn.port}__{ep.ip}/{ep.port}"
                                 f"__{timeout}s")


def is_service_object(name: str) -> bool:
    """Whether a chain or set of our table is per-service (generated) rather than part of the base."""
    return "/" in name
