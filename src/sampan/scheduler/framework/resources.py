"""Resource vectors: what a pod requests and what a node offers, as integers.

``Resource`` holds cpu in millicores, memory and ephemeral storage in bytes, a pod count, and every
other resource (extended resources such as ``example.com/gpu``, ``hugepages-*``) in ``scalars``.
``pod_requests`` follows upstream's rule: the sum over containers plus sidecars (init containers with
``restartPolicy: Always``), at least the largest regular init container (plus the sidecars started
before it), plus ``spec.overhead``. A container with a limit but no request requests its limit (the API
server's defaulting does the same). ``non_zero`` cpu/memory replace missing requests with 100m/200Mi,
used only for scoring so that request-less pods still spread.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from sampan.api.quantity import Quantity

CPU = "cpu"
MEMORY = "memory"
EPHEMERAL_STORAGE = "ephemeral-storage"
PODS = "pods"
DEFAULT_MILLI_CPU_REQUEST = 100
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024


class Resource:
    """A mutable resource vector. ``scalars`` never holds cpu/memory/ephemeral-storage/pods."""

    __slots__ = ("allowed_pods", "ephemeral_storage", "memory", "milli_cpu", "scalars")

    def __init__(
        self, milli_cpu: int = 0, memory: int = 0, *, ephemeral_storage: int = 0, allowed_pods: int = 0,
        scalars: Mapping[str, int] | None = None,
    ) -> None:
        self.milli_cpu = milli_cpu
        self.memory = memory
        self.ephemeral_storage = ephemeral_storage
        self.allowed_pods = allowed_pods
        self.scalars: dict[str, int] = dict(scalars) if scalars else {}

    def add(self, other: Resource) -> None:
        self.milli_cpu += other.milli_cpu
        self.memory += other.memory
        self.ephemeral_storage += other.ephemeral_storage
        self.allowed_pods += other.allowed_pods
        for k, v in other.scalars.items():
            self.scalars[k] = self.scalars.get(k, 0) + v

    def sub(self, other: Resource) -> None:
        self.milli_cpu -= other.milli_cpu
        self.memory -= other.memory
        self.ephemeral_storage -= other.ephemeral_storage
        self.allowed_pods -= other.allowed_pods
        for k, v in other.scalars.items():
            self.scalars[k] = self.scalars.get(k, 0) - v

    def set_max(self, other: Resource) -> None:
        self.milli_cpu = max(self.milli_cpu, other.milli_cpu)
        self.memory = max(self.memory, other.memory)
        self.ephemeral_storage = max(self.ephemeral_storage, other.ephemeral_storage)
        for k, v in other.scalars.items():
            self.scalars[k] = max(self.scalars.get(k, 0), v)

    def get(self, name: str) -> int:
        if name == CPU:
            return self.milli_cpu
        if name == MEMORY:
            return self.memory
        if name == EPHEMERAL_STORAGE:
            return self.ephemeral_storage
        if name == PODS:
            return self.allowed_pods
        return self.scalars.get(name, 0)

    def clone(self) -> Resource:
        return Resource(
            self.milli_cpu, self.memory, ephemeral_storage=self.ephemeral_storage,
            allowed_pods=self.allowed_pods, scalars=self.scalars,
        )

    def is_zero(self) -> bool:
        return not (self.milli_cpu or self.memory or self.ephemeral_storage or any(self.scalars.values()))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Resource):
            return NotImplemented
        return (self.milli_cpu, self.memory, self.ephemeral_storage, self.allowed_pods,
                {k: v for k, v in self.scalars.items() if v}) == (
            other.milli_cpu, other.memory, other.ephemeral_storage, other.allowed_pods,
            {k: v for k, v in other.scalars.items() if v})

    def __repr__(self) -> str:
        return (f"Resource(cpu={self.milli_cpu}m, memory={self.memory}, eph={self.ephemeral_storage}, "
                f"pods={self.allowed_pods}, scalars={self.scalars})")


@functools.lru_cache(maxsize=4096)
def _milli(text: str) -> int:
    return Quantity.parse(text).milli_value()


@functools.lru_cache(maxsize=4096)
def _units(text: str) -> int:
    return Quantity.parse(text).value()


def _as_text(q: Any) -> str:
    if isinstance(q, bool) or not isinstance(q, str | int | float):
        raise ValueError(f"quantity must be a string or a number, got {q!r}")
    return q if isinstance(q, str) else repr(q)


def resource_list(rl: Any, *, where: str) -> Resource:
    """A v1.ResourceList (``{"cpu": "2", "memory": "4Gi", "pods": "110"}``) as a Resource."""
    if rl is None:
        return Resource()
    if not isinstance(rl, dict):
        raise ValueError(f"{where}: must be an object")
    r = Resource()
    for name, q in rl.items():
        try:
            if name == CPU:
                r.milli_cpu = _milli(_as_text(q))
            elif name == MEMORY:
                r.memory = _units(_as_text(q))
            elif name == EPHEMERAL_STORAGE:
                r.ephemeral_storage = _units(_as_text(q))
            elif name == PODS:
                r.allowed_pods = _units(_as_text(q))
            else:
                r.scalars[name] = _units(_as_text(q))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{where}[{name}]: {exc}") from None
    return r


def _container_requests(c: Any, *, where: str) -> tuple[Resource, bool, bool]:
    """A container's effective requests, and whether it set cpu / memory requests at all."""
    if not isinstance(c, dict):
        raise ValueError(f"{where}: must be an object")
    res = c.get("resources") or {}
    requests = dict(res.get("limits") or {})
    requests.update(res.get("requests") or {})
    r = resource_list(requests, where=f"{where}.resources.requests")
    return r, CPU in requests, MEMORY in requests


def pod_requests(spec: Mapping[str, Any], *, non_zero: bool = False) -> Resource:
    """The pod's effective request vector (see the module docstring). With ``non_zero`` the
    scoring defaults replace missing cpu/memory requests, container by container."""
    total = Resource()
    for i, c in enumerate(spec.get("containers") or []):
        r, has_cpu, has_mem = _container_requests(c, where=f"spec.containers[{i}]")
        if non_zero:
            _apply_non_zero(r, has_cpu=has_cpu, has_mem=has_mem)
        total.add(r)
    sidecars = Resource()
    init_max = Resource()
    for i, c in enumerate(spec.get("initContainers") or []):
        r, has_cpu, has_mem = _container_requests(c, where=f"spec.initContainers[{i}]")
        if non_zero:
            _apply_non_zero(r, has_cpu=has_cpu, has_mem=has_mem)
        if c.get("restartPolicy") == "Always":
            sidecars.add(r)
            total.add(r)
            # a sidecar starting after earlier init containers runs alongside the sidecars before it
            with_sidecars = sidecars.clone()
            init_max.set_max(with_sidecars)
        else:
            r.add(sidecars)
            init_max.set_max(r)
    total.set_max(init_max)
    if spec.get("overhead"):
        total.add(resource_list(spec["overhead"], where="spec.overhead"))
    return total


def _apply_non_zero(r: Resource, *, has_cpu: bool, has_mem: bool) -> None:
    if not has_cpu:
        r.milli_cpu = DEFAULT_MILLI_CPU_REQUEST
    if not has_mem:
        r.memory = DEFAULT_MEMORY_REQUEST
