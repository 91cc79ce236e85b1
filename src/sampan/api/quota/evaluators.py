"""What an object costs a quota (upstream's quota evaluators): one :class:`Evaluator` per resource.

* every resource: ``count/<resource>[.<group>]`` = 1 per object, charged on CREATE;
* legacy names: ``configmaps``, ``secrets``, ``replicationcontrollers``, ``resourcequotas`` count too;
* pods (:class:`PodEvaluator`, CREATE): ``pods`` and compute ``cpu``/``memory``/``ephemeral-storage``
  (= requests), ``requests.*``, ``limits.*``, hugepages and extended ``requests.<domain>/<name>``,
  from the pod's effective requests/limits; a pod in a terminal phase, or past its deletion grace,
  costs only ``count/pods``. Quotas on cpu/memory make every container state them ("must specify");
* services (CREATE, UPDATE): ``services``, ``services.nodeports`` (ports of a NodePort service, or of a
  LoadBalancer that allocates node ports), ``services.loadbalancers``;
* persistentvolumeclaims (CREATE, UPDATE): ``persistentvolumeclaims``, ``requests.storage`` and the
  per-class ``<class>.storageclass.storage.k8s.io/{requests.storage,persistentvolumeclaims}``.

Only pods can match a quota's scopes (:mod:`.scopes`); any other object falls only under unscoped quotas.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sampan.api.podresources import pod_limits, pod_requests
from sampan.api.quantity import Quantity
from sampan.api.quota.resourcelist import ResourceList, parse

ONE = Quantity(1)

LEGACY_COUNTS: Mapping[tuple[str, str], str] = {
    ("", "configmaps"): "configmaps", ("", "secrets"): "secrets",
    ("", "replicationcontrollers"): "replicationcontrollers", ("", "resourcequotas"): "resourcequotas",
}
POD_COMPUTE = frozenset({"cpu", "memory", "ephemeral-storage", "requests.cpu", "requests.memory",
                         "requests.ephemeral-storage", "limits.cpu", "limits.memory", "limits.ephemeral-storage"})
MUST_SPECIFY = frozenset({"cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory"})
"""Quota names that make every container state the matching request/limit (upstream's validation set)."""
STORAGE_CLASS_SUFFIX = ".storageclass.storage.k8s.io/"


def count_name(group: str, resource: str) -> str:
    """``count/deployments.apps``, ``count/pods``."""
    return f"count/{resource}.{group}" if group else f"count/{resource}"


def parse_count_name(name: str) -> tuple[str, str] | None:
    """(group, resource) of ``count/<resource>[.<group>]``, or None for another name."""
    if not name.startswith("count/") or len(name) <= len("count/"):
        return None
    resource, _, group = name[len("count/"):].partition(".")
    return group, resource


class Evaluator:
    """Object counts for one (group, resource); subclasses add what their objects cost."""

    operations: frozenset[str] = frozenset({"CREATE"})

    def __init__(self, group: str, resource: str) -> None:
        self.group = group
        self.resource = resource
        names = {count_name(group, resource)}
        legacy = LEGACY_COUNTS.get((group, resource))
        if legacy:
            names.add(legacy)
        self.count_names = frozenset(names)

    def handles(self, operation: str) -> bool:
        return operation in self.operations

    def tracks(self, name: str) -> bool:
        return name in self.count_names

    def matching_resources(self, names: Iterable[str]) -> list[str]:
        """The quota resource names among ``names`` that this evaluator measures."""
        return sorted(n for n in names if self.tracks(n))

    def constraints(self, required: Iterable[str], obj: Mapping[str, Any]) -> str | None:
        """Why ``obj`` cannot be admitted under a quota on ``required`` names (None: it can)."""
        return None

    def usage(self, obj: Mapping[str, Any], *, now: datetime) -> ResourceList:
        return {name: ONE for name in self.count_names}


class PodEvaluator(Evaluator):
    def __init__(self) -> None:
        super().__init__("", "pods")

    def tracks(self, name: str) -> bool:
        return (name in self.count_names or name == "pods" or name in POD_COMPUTE
                or name.startswith(("hugepages-", "requests.hugepages-")) or _extended_request(name))

    def constraints(self, required: Iterable[str], obj: Mapping[str, Any]) -> str | None:
        needed = set(required) & MUST_SPECIFY
        if not needed:
            return None
        spec = _d(obj.get("spec"))
        missing: dict[str, set[str]] = {}
        for c in [*_l(spec.get("containers")), *_l(spec.get("initContainers"))]:
            c = _d(c)
            res = _d(c.get("resources"))
            have = set(_compute_usage(_d(res.get("requests")), _d(res.get("limits"))))
            for name in needed - have:
                missing.setdefault(name, set()).add(str(c.get("name") or ""))
        if not missing:
            return None
        parts = [f"{name} for: {','.join(sorted(missing[name]))}" for name in sorted(missing)]
        return "must specify " + "; ".join(parts)

    def usage(self, obj: Mapping[str, Any], *, now: datetime) -> ResourceList:
        result: ResourceList = {count_name("", "pods"): ONE}
        if not counts_compute(obj, now=now):
            return result
        result["pods"] = ONE
        result.update(_compute_usage_q(pod_requests(obj), pod_limits(obj)))
        return result


class ServiceEvaluator(Evaluator):
    operations = frozenset({"CREATE", "UPDATE"})

    def __init__(self) -> None:
        super().__init__("", "services")

    def tracks(self, name: str) -> bool:
        return name in self.count_names or name in ("services", "services.nodeports", "services.loadbalancers")

    def usage(self, obj: Mapping[str, Any], *, now: datetime) -> ResourceList:
        spec = _d(obj.get("spec"))
        result: ResourceList = {"services": ONE, count_name("", "services"): ONE}
        ports = Quantity(len(_l(spec.get("ports"))))
        kind = spec.get("type")
        if kind == "NodePort":
            result["services.nodeports"] = ports
        elif kind == "LoadBalancer":
            if spec.get("allocateLoadBalancerNodePorts") is not False:
                result["services.nodeports"] = ports
            result["services.loadbalancers"] = ONE
        return result


class PersistentVolumeClaimEvaluator(Evaluator):
    operations = frozenset({"CREATE", "UPDATE"})

    def __init__(self) -> None:
        super().__init__("", "persistentvolumeclaims")

    def tracks(self, name: str) -> bool:
        return (name in self.count_names or name in ("persistentvolumeclaims", "requests.storage")
                or (STORAGE_CLASS_SUFFIX in name
                    and name.endswith(("/requests.storage", "/persistentvolumeclaims"))))

    def usage(self, obj: Mapping[str, Any], *, now: datetime) -> ResourceList:
        spec = _d(obj.get("spec"))
        result: ResourceList = {"persistentvolumeclaims": ONE, count_name("", "persistentvolumeclaims"): ONE}
        klass = spec.get("storageClassName") or _d(_d(obj.get("metadata")).get("annotations")).get(
            "volume.beta.kubernetes.io/storage-class") or ""
        if klass:
            result[f"{klass}{STORAGE_CLASS_SUFFIX}persistentvolumeclaims"] = ONE
        storage = _compute_usage(_d(_d(spec.get("resources")).get("requests")), {}).get("requests.storage")
        if storage is not None:
            result["requests.storage"] = storage
            if klass:
                result[f"{klass}{STORAGE_CLASS_SUFFIX}requests.storage"] = storage
        return result


def evaluator_for(group: str, resource: str) -> Evaluator:
    if group == "":
        if resource == "pods":
            return PodEvaluator()
        if resource == "services":
            return ServiceEvaluator()
        if resource == "persistentvolumeclaims":
            return PersistentVolumeClaimEvaluator()
    return Evaluator(group, resource)


def resources_measured(names: Iterable[str]) -> list[tuple[str, str]]:
    """Every (group, resource) whose objects a quota with these ``hard`` names must count."""
    out: set[tuple[str, str]] = set()
    for name in names:
        counted = parse_count_name(name)
        if counted is not None:
            out.add(counted)
            continue
        for gr in (("", "pods"), ("", "services"), ("", "persistentvolumeclaims"), *LEGACY_COUNTS):
            if evaluator_for(*gr).tracks(name):
                out.add(gr)
    return sorted(out)


def counts_compute(pod: Mapping[str, Any], *, now: datetime) -> bool:
    """Upstream's ``QuotaV1Pod``: a pod still holds compute quota unless it finished or its deletion
    grace period has passed."""
    phase = _d(pod.get("status")).get("phase")
    if phase in ("Succeeded", "Failed"):
        return False
    md = _d(pod.get("metadata"))
    stamp, grace = md.get("deletionTimestamp"), md.get("deletionGracePeriodSeconds")
    if isinstance(stamp, str) and isinstance(grace, int):
        try:
            deleted = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            return True
        return now.timestamp() <= deleted.timestamp() + grace
    return True


def _extended_request(name: str) -> bool:
    if not name.startswith("requests."):
        return False
    rest = name[len("requests."):]
    domain = rest.split("/", 1)[0]
    return "/" in rest and domain != "kubernetes.io" and not domain.endswith(".kubernetes.io")


def _compute_usage(requests: Mapping[str, Any], limits: Mapping[str, Any]) -> ResourceList:
    return _compute_usage_q(parse(dict(requests)), parse(dict(limits)))


def _compute_usage_q(requests: Mapping[str, Quantity], limits: Mapping[str, Quantity]) -> ResourceList:
    """Upstream's ``podComputeUsageHelper`` (without its ``pods: 1``, which the caller adds)."""
    result: ResourceList = {}
    for base in ("cpu", "memory", "ephemeral-storage", "storage"):
        if base in requests:
            if base != "storage":
                result[base] = requests[base]
            result[f"requests.{base}"] = requests[base]
        if base in limits and base != "storage":
            result[f"limits.{base}"] = limits[base]
    for name, q in requests.items():
        if name.startswith("hugepages-"):
            result[name] = q
            result[f"requests.{name}"] = q
        elif "/" in name and _extended_request(f"requests.{name}"):
            result[f"requests.{name}"] = q
    return result


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _l(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
