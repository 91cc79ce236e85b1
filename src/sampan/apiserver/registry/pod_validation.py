"""Validation of a pod spec, shared by pods and every pod template (deployments, replicasets, jobs).

Field paths and messages follow upstream's ``ValidatePodSpec`` for the parts sampan checks:
containers (required, DNS-1123 label names unique across init and main containers, image required,
ports, env names, volume mounts naming a declared volume, resources as quantities with requests not
above limits, enum fields), volumes (DNS-1123 label names, unique), restartPolicy, dnsPolicy,
terminationGracePeriodSeconds, activeDeadlineSeconds, nodeName, nodeSelector, tolerations.

Not checked (yet): volume source details, probes' handlers, security contexts, affinity, topology
spread constraints, ephemeral containers, resource claims.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from sampan.api import validation
from sampan.api.errors import Cause, duplicate, invalid, not_supported, required
from sampan.api.quantity import PATTERN_MSG, Quantity, parse_or_none
from sampan.apiserver.registry.base import as_dict, as_list

RESTART_POLICIES = ["Always", "OnFailure", "Never"]
DNS_POLICIES = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]
PULL_POLICIES = ["Always", "IfNotPresent", "Never"]
TERMINATION_MESSAGE_POLICIES = ["File", "FallbackToLogsOnError"]
PROTOCOLS = ["SCTP", "TCP", "UDP"]
TOLERATION_OPERATORS = ["Equal", "Exists"]
TAINT_EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"]
STANDARD_CONTAINER_RESOURCES = ("cpu", "memory", "ephemeral-storage")
MAX_INT32 = 2147483647


def not_found(path: str, value: str) -> Cause:
    return Cause("FieldValueNotFound", path, f'Not found: "{value}"')


def port_name(value: str) -> list[str]:
    """Upstream ``IsValidPortName``: an IANA service name."""
    errs = []
    if len(value) > 15:
        errs.append("must be no more than 15 characters")
    if not re.fullmatch(r"[-a-z0-9]+", value):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if "--" in value:
        errs.append("must not contain consecutive hyphens")
    if not re.search("[a-z]", value):
        errs.append("must contain at least one letter (a-z)")
    if value.startswith("-") or value.endswith("-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def _enum(spec: dict[str, Any], key: str, path: str, allowed: list[str], *, required_value: bool) -> list[Cause]:
    value = spec.get(key)
    if value is None or value == "":
        return [required(f"{path}.{key}")] if required_value else []
    if value not in allowed:
        return [not_supported(f"{path}.{key}", value, allowed)]
    return []


#: Specs remembered as valid at most (a ReplicaSet's pods, a benchmark's, share one spec); emptied when full.
_VALID_MEMO_SIZE = 512
_valid_specs: set[tuple[str, bytes]] = set()


def validate_pod_spec(spec: Any, path: str) -> list[Cause]:
    """Causes for a (defaulted) pod spec at ``path`` (``spec`` or ``spec.template.spec``).

    A pure function of the spec's JSON and ``path``: a spec found valid is remembered by its JSON (key
    order included), so the many pods created from one template are checked once; a spec with causes is
    checked every time (its causes are new objects for each caller)."""
    try:
        key: tuple[str, bytes] | None = (path, orjson.dumps(spec))
    except TypeError:  # not JSON (an int beyond 64 bits, a non-string key): no memo
        key = None
    if key is not None and key in _valid_specs:
        return []
    causes = _validate_pod_spec(spec, path)
    if key is not None and not causes:
        if len(_valid_specs) >= _VALID_MEMO_SIZE:
            _valid_specs.clear()
        _valid_specs.add(key)
    return causes


def _validate_pod_spec(spec: Any, path: str) -> list[Cause]:
    if not isinstance(spec, dict):
        return [required(path)]
    causes: list[Cause] = []
    volumes = as_list(spec.get("volumes"))
    volume_names: set[str] = set()
    for i, vol in enumerate(volumes):
        vpath = f"{path}.volumes[{i}]"
        name = as_dict(vol).get("name")
        if not name:
            causes.append(required(f"{vpath}.name"))
            continue
        causes += validation.validate_name(name, f"{vpath}.name", validation.dns1123_label)
        if name in volume_names:
            causes.append(duplicate(f"{vpath}.name", name))
        volume_names.add(str(name))

    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        causes.append(required(f"{path}.containers"))
    names: set[str] = set()
    for field in ("initContainers", "containers"):
        for i, c in enumerate(as_list(spec.get(field))):
            causes += validate_container(c, f"{path}.{field}[{i}]", names=names, volumes=volume_names)

    causes += _enum(spec, "restartPolicy", path, RESTART_POLICIES, required_value=True)
    causes += _enum(spec, "dnsPolicy", path, DNS_POLICIES, required_value=True)
    grace = spec.get("terminationGracePeriodSeconds")
    if grace is not None and (not _is_int(grace) or grace < 0):
        causes.append(invalid(f"{path}.terminationGracePeriodSeconds", grace, "must be greater than or equal to 0"))
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and (not _is_int(deadline) or not 1 <= deadline <= MAX_INT32):
        causes.append(
            invalid(f"{path}.activeDeadlineSeconds", deadline, f"must be between 1 and {MAX_INT32}, inclusive")
        )
    node = spec.get("nodeName")
    if node:
        causes += validation.validate_name(node, f"{path}.nodeName", validation.dns1123_subdomain)
    causes += validation.validate_labels(spec.get("nodeSelector"), f"{path}.nodeSelector")
    for i, tol in enumerate(as_list(spec.get("tolerations"))):
        causes += validate_toleration(tol, f"{path}.tolerations[{i}]")
    return causes


def validate_container(c: Any, path: str, *, names: set[str], volumes: set[str]) -> list[Cause]:
    """One container; ``names`` collects names across the pod to report duplicates."""
    if not isinstance(c, dict):
        return [invalid(path, str(c), "must be an object")]
    causes: list[Cause] = []
    name = c.get("name")
    if not name:
        causes.append(required(f"{path}.name"))
    else:
        causes += validation.validate_name(name, f"{path}.name", validation.dns1123_label)
        if name in names:
            causes.append(duplicate(f"{path}.name", name))
        names.add(str(name))
    image = c.get("image")
    if not isinstance(image, str) or not image.strip():
        causes.append(required(f"{path}.image"))
    causes += _enum(c, "imagePullPolicy", path, PULL_POLICIES, required_value=True)
    causes += _enum(c, "terminationMessagePolicy", path, TERMINATION_MESSAGE_POLICIES, required_value=True)
    port_names: set[str] = set()
    for i, port in enumerate(as_list(c.get("ports"))):
        causes += validate_container_port(port, f"{path}.ports[{i}]", port_names)
    for i, env in enumerate(as_list(c.get("env"))):
        env_name = as_dict(env).get("name")
        if not env_name:
            causes.append(required(f"{path}.env[{i}].name"))
        else:
            causes += validation.validate_name(env_name, f"{path}.env[{i}].name", validation.env_var_name)
    for i, mount in enumerate(as_list(c.get("volumeMounts"))):
        mount = as_dict(mount)
        mname = mount.get("name")
        if not mname:
            causes.append(required(f"{path}.volumeMounts[{i}].name"))
        elif mname not in volumes:
            causes.append(not_found(f"{path}.volumeMounts[{i}].name", str(mname)))
        if not mount.get("mountPath"):
            causes.append(required(f"{path}.volumeMounts[{i}].mountPath"))
    causes += validate_resources(c.get("resources"), f"{path}.resources")
    return causes


def validate_container_port(port: Any, path: str, seen_names: set[str]) -> list[Cause]:
    port = as_dict(port)
    causes: list[Cause] = []
    name = port.get("name")
    if name:
        if not isinstance(name, str):
            causes.append(invalid(f"{path}.name", name, "must be a string"))
        else:
            causes += [invalid(f"{path}.name", name, m) for m in port_name(name)]
            if name in seen_names:
                causes.append(duplicate(f"{path}.name", name))
            seen_names.add(name)
    cport = port.get("containerPort")
    if cport is None or cport == 0:
        causes.append(required(f"{path}.containerPort"))
    else:
        causes += [invalid(f"{path}.containerPort", cport, m) for m in validation.port_number(cport)]
    hport = port.get("hostPort")
    if hport not in (None, 0):
        causes += [invalid(f"{path}.hostPort", hport, m) for m in validation.port_number(hport)]
    causes += _enum(port, "protocol", path, PROTOCOLS, required_value=True)
    return causes


def _resource_name_ok(name: str) -> bool:
    return name in STANDARD_CONTAINER_RESOURCES or name.startswith("hugepages-") or "/" in name


def validate_resources(res: Any, path: str) -> list[Cause]:
    """Upstream ``ValidateResourceRequirements`` (names, quantities, non-negative, requests ≤ limits)."""
    if res is None:
        return []
    if not isinstance(res, dict):
        return [invalid(path, str(res), "must be an object")]
    causes: list[Cause] = []
    parsed: dict[str, dict[str, Quantity]] = {}
    for kind in ("limits", "requests"):
        values = res.get(kind)
        if values is None:
            continue
        if not isinstance(values, dict):
            causes.append(invalid(f"{path}.{kind}", str(values), "must be a map of resource names to quantities"))
            continue
        parsed[kind] = {}
        for rname, raw in values.items():
            rpath = f"{path}.{kind}[{rname}]"
            if not _resource_name_ok(rname):
                causes.append(invalid(rpath, rname, "must be a standard resource for containers"))
                continue
            if "/" in rname:
                causes += [invalid(rpath, rname, m) for m in validation.qualified_name(rname)]
            q = parse_or_none(raw)
            if q is None:
                causes.append(invalid(rpath, str(raw), PATTERN_MSG))
                continue
            if q < 0:
                causes.append(invalid(rpath, str(q), "must be greater than or equal to 0"))
                continue
            parsed[kind][rname] = q
    limits, requests = parsed.get("limits", {}), parsed.get("requests", {})
    for rname, req in requests.items():
        lim = limits.get(rname)
        if lim is not None and req > lim:
            causes.append(
                invalid(f"{path}.requests", str(req), f"must be less than or equal to {rname} limit of {lim}")
            )
    return causes


def validate_toleration(tol: Any, path: str) -> list[Cause]:
    tol = as_dict(tol)
    causes: list[Cause] = []
    key = tol.get("key")
    if key:
        causes += [invalid(f"{path}.key", key, m) for m in validation.qualified_name(str(key))]
    op = tol.get("operator") or "Equal"
    if op not in TOLERATION_OPERATORS:
        causes.append(not_supported(f"{path}.operator", op, TOLERATION_OPERATORS))
    elif op == "Exists" and tol.get("value"):
        causes.append(invalid(f"{path}.operator", tol.get("value"), "value must be empty when `operator` is 'Exists'"))
    elif op == "Equal" and not key:
        causes.append(invalid(f"{path}.operator", op, "operator must be Exists when `key` is empty, which means "
                              '"match all values and all keys"'))
    effect = tol.get("effect")
    if effect and effect not in TAINT_EFFECTS:
        causes.append(not_supported(f"{path}.effect", effect, TAINT_EFFECTS))
    seconds = tol.get("tolerationSeconds")
    if seconds is not None and effect != "NoExecute":
        detail = "effect must be 'NoExecute' when `tolerationSeconds` is set"
        causes.append(invalid(f"{path}.effect", effect or "", detail))
    return causes


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
