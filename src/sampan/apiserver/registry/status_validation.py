"""Validation of writes to the ``status`` subresource, after upstream's ``ValidateXStatusUpdate``
functions (the status strategies' ``ValidateUpdate``): the checks a kind's own ``validate_update``
does not make because they concern ``status``. Each function takes the new and old object (dicts as
on the wire) and returns causes with upstream's paths and messages. The API server calls the
strategy's ``validate_status_update`` hook, when it has one, for every status write.

Values of the wrong JSON type are reported here too (``Invalid value: 5``) rather than stored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from sampan.api import validation
from sampan.api.errors import Cause, invalid, not_supported
from sampan.api.quantity import Quantity
from sampan.apiserver.registry.base import as_dict, as_list
from sampan.apiserver.registry.netvalidation import IP_MSG, is_ip

NEGATIVE_MSG = "must be greater than or equal to 0"
GREATER_THAN_REPLICAS = "cannot be greater than status.replicas"
CONDITION_STATUSES = ["False", "True", "Unknown"]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def nonnegative(status: dict[str, Any], fields: tuple[str, ...], prefix: str = "status") -> list[Cause]:
    """Upstream ``ValidateNonnegativeField`` over ``status[f]`` for each present field (a non-integer
    is invalid as well)."""
    causes = []
    for name in fields:
        if name not in status or status[name] is None:
            continue
        value = status[name]
        number = _int(value)
        if number is None:
            causes.append(invalid(f"{prefix}.{name}", value, "must be an integer"))
        elif number < 0:
            causes.append(invalid(f"{prefix}.{name}", number, NEGATIVE_MSG))
    return causes


def _counts(status: dict[str, Any], name: str) -> int:
    return _int(status.get(name)) or 0


def namespace(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """``ValidateNamespaceStatusUpdate``: Active unless deleted, Terminating once deleted."""
    phase = as_dict(new.get("status")).get("phase")
    if as_dict(new.get("metadata")).get("deletionTimestamp"):
        if phase != "Terminating":
            return [invalid("status.Phase", phase, "may only be 'Terminating' if `deletionTimestamp` is not empty")]
    elif phase != "Active":
        return [invalid("status.Phase", phase, "may only be 'Active' if `deletionTimestamp` is empty")]
    return []


def _replica_bounds(status: dict[str, Any], bounded: tuple[str, ...]) -> list[Cause]:
    causes = []
    replicas = _counts(status, "replicas")
    for name in bounded:
        if _counts(status, name) > replicas:
            causes.append(invalid(f"status.{name}", status[name], GREATER_THAN_REPLICAS))
    if _counts(status, "availableReplicas") > _counts(status, "readyReplicas"):
        causes.append(invalid("status.availableReplicas", status["availableReplicas"],
                              "cannot be greater than readyReplicas"))
    return causes


def deployment(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """``ValidateDeploymentStatusUpdate``."""
    status = as_dict(new.get("status"))
    causes = nonnegative(status, ("observedGeneration", "replicas", "updatedReplicas", "readyReplicas",
                                  "availableReplicas", "unavailableReplicas", "collisionCount"))
    causes += _replica_bounds(status, ("updatedReplicas", "readyReplicas", "availableReplicas"))
    new_count, old_count = _int(status.get("collisionCount")), _int(as_dict(old.get("status")).get("collisionCount"))
    if old_count is not None and (new_count is None or new_count < old_count):
        causes.append(invalid("status.collisionCount", new_count or 0, "cannot be decremented"))
    return causes


def replicaset(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """``ValidateReplicaSetStatusUpdate``."""
    status = as_dict(new.get("status"))
    causes = nonnegative(status, ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas",
                                  "observedGeneration"))
    return causes + _replica_bounds(status, ("fullyLabeledReplicas", "readyReplicas", "availableReplicas"))


def horizontal_pod_autoscaler(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """``ValidateHorizontalPodAutoscalerStatusUpdate``."""
    return nonnegative(as_dict(new.get("status")), ("currentReplicas", "desiredReplicas"))


def conditions(items: Any, path: str) -> list[Cause]:
    """The parts of metav1 ``ValidateConditions`` that protect readers: a type and a known status."""
    causes: list[Cause] = []
    for i, cond in enumerate(as_list(items)):
        cond = as_dict(cond)
        if cond.get("status") not in CONDITION_STATUSES:
            causes.append(not_supported(f"{path}[{i}].status", cond.get("status"), CONDITION_STATUSES))
        if "observedGeneration" in cond:
            causes += nonnegative(cond, ("observedGeneration",), prefix=f"{path}[{i}]")
    return causes


def pod_disruption_budget(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """``ValidatePodDisruptionBudgetStatusUpdate`` (policy/v1)."""
    status = as_dict(new.get("status"))
    causes = nonnegative(status, ("disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods",
                                  "observedGeneration"))
    return causes + conditions(status.get("conditions"), "status.conditions")


def job(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """The counters of ``ValidateJobStatusUpdate``."""
    status = as_dict(new.get("status"))
    return nonnegative(status, ("active", "succeeded", "failed", "ready", "terminating"))


def resource_quota(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """``ValidateResourceQuotaStatusUpdate``: quantities that parse and are not negative."""
    causes: list[Cause] = []
    status = as_dict(new.get("status"))
    for part in ("hard", "used"):
        for name, value in as_dict(status.get(part)).items():
            path = f"status.{part}[{name}]"
            try:
                quantity = Quantity.parse(value)
            except ValueError as exc:
                causes.append(invalid(path, value, str(exc)))
                continue
            if quantity.value_exact < 0:
                causes.append(invalid(path, value, NEGATIVE_MSG))
    return causes


def node(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """The status part of ``ValidateNodeUpdate``: capacity and allocatable quantities that parse and are
    not negative (``ValidateNodeResources``), no address listed twice."""
    causes: list[Cause] = []
    status = as_dict(new.get("status"))
    for part in ("capacity", "allocatable"):
        for name, value in as_dict(status.get(part)).items():
            path = f"status.{part}.{name}"
            try:
                quantity = Quantity.parse(value)
            except ValueError as exc:
                causes.append(invalid(path, value, str(exc)))
                continue
            if quantity.value_exact < 0:
                causes.append(invalid(path, value, NEGATIVE_MSG))
    seen: set[tuple[Any, Any]] = set()
    for i, address in enumerate(as_list(status.get("addresses"))):
        key = (as_dict(address).get("type"), as_dict(address).get("address"))
        if key in seen:
            causes.append(Cause("FieldValueDuplicate", f"status.addresses[{i}]",
                                f"Duplicate value: {{\"type\":{_json(key[0])},\"address\":{_json(key[1])}}}"))
        seen.add(key)
    return causes


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def load_balancer_ingress(ingress: Any, path: str, *, ip_mode: bool) -> list[Cause]:
    """``ingress`` entries of a service's load-balancer status: IPs that parse, host names that are DNS
    names and not IPs, ``ipMode`` only with an IP."""
    causes: list[Cause] = []
    for i, item in enumerate(as_list(ingress)):
        item = as_dict(item)
        where = f"{path}[{i}]"
        ip = item.get("ip")
        if ip not in (None, "") and not is_ip(ip):
            causes.append(invalid(f"{where}.ip", ip, IP_MSG))
        hostname = item.get("hostname")
        if isinstance(hostname, str) and hostname:
            causes += [invalid(f"{where}.hostname", hostname, msg) for msg in validation.dns1123_subdomain(hostname)]
            if is_ip(hostname):
                causes.append(invalid(f"{where}.hostname", hostname, "must be a DNS name, not an IP address"))
        if ip_mode and item.get("ipMode") is not None:
            if not ip:
                causes.append(Cause("FieldValueRequired", f"{where}.ipMode",
                                    "Required value: must be specified when `ip` is set"))
            elif item["ipMode"] not in ("Proxy", "VIP"):
                causes.append(not_supported(f"{where}.ipMode", item["ipMode"], ["Proxy", "VIP"]))
    return causes


def service(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """``ValidateServiceStatusUpdate``: load-balancer ingress addresses."""
    ingress = as_dict(as_dict(new.get("status")).get("loadBalancer")).get("ingress")
    return load_balancer_ingress(ingress, "status.loadBalancer.ingress", ip_mode=True)


def pod(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """The address and counter checks of ``ValidatePodStatusUpdate``."""
    status = as_dict(new.get("status"))
    causes: list[Cause] = []
    for name in ("podIP", "hostIP"):
        value = status.get(name)
        if value not in (None, "") and not is_ip(value):
            causes.append(invalid(f"status.{name}", value, IP_MSG))
    for plural in ("podIPs", "hostIPs"):
        for i, item in enumerate(as_list(status.get(plural))):
            ip = as_dict(item).get("ip")
            if not is_ip(ip):
                causes.append(invalid(f"status.{plural}[{i}].ip", ip, IP_MSG))
    nominated = status.get("nominatedNodeName")
    if nominated and nominated != as_dict(old.get("status")).get("nominatedNodeName"):
        causes += [invalid("status.nominatedNodeName", nominated, msg)
                   for msg in (validation.dns1123_subdomain(nominated) if isinstance(nominated, str)
                               else ["must be a string"])]
    for field in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"):
        for i, item in enumerate(as_list(status.get(field))):
            causes += nonnegative(as_dict(item), ("restartCount",), prefix=f"status.{field}[{i}]")
    return causes


StatusValidator = Callable[[dict[str, Any], dict[str, Any]], list[Cause]]

VALIDATORS: dict[tuple[str, str], StatusValidator] = {
    ("", "Namespace"): namespace,
    ("", "Node"): node,
    ("", "Pod"): pod,
    ("", "Service"): service,
    ("", "ResourceQuota"): resource_quota,
    ("apps", "Deployment"): deployment,
    ("apps", "ReplicaSet"): replicaset,
    ("batch", "Job"): job,
    ("autoscaling", "HorizontalPodAutoscaler"): horizontal_pod_autoscaler,
    ("policy", "PodDisruptionBudget"): pod_disruption_budget,
}
"""(group, kind) -> its status-update validator (kinds without one: the main validation only;
ReplicationControllers and Ingresses check their status in their own ``validate_update``)."""


def validate_status_update(strategy: Any, new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """The status checks for a status write of ``strategy``'s kind: the strategy's own
    ``validate_status_update`` hook when it has one, else :data:`VALIDATORS`."""
    hook = getattr(strategy, "validate_status_update", None)
    if callable(hook):
        causes: list[Cause] = hook(new, old)
        return causes
    validator = VALIDATORS.get((strategy.info.group, strategy.info.kind))
    return validator(new, old) if validator is not None else []
