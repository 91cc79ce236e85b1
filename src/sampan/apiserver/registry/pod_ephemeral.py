"""The ``pods/<name>/ephemeralcontainers`` subresource (what ``kubectl debug`` writes), API side.

A write through it changes ``spec.ephemeralContainers`` only (the rest of the pod is kept as stored,
upstream's ``dropNonEphemeralContainerUpdates``). Rules, as upstream's ``validateEphemeralContainers`` and
``ValidatePodEphemeralContainersUpdate``: every ephemeral container is a valid container (name a DNS
label unique across the pod, image required) without ``ports``, probes, ``lifecycle``, ``resources``,
``resizePolicy`` or ``restartPolicy``; ``targetContainerName`` names one of the pod's containers; and the
ones already there may not be changed or removed (``Forbidden``).
"""

from __future__ import annotations

from typing import Any

from sampan.api.errors import Cause, forbidden
from sampan.api.jsoncopy import json_copy
from sampan.apiserver.registry.base import as_dict, as_list
from sampan.apiserver.registry.pod_defaults import default_container
from sampan.apiserver.registry.pod_validation import not_found, validate_container

PATH = "spec.ephemeralContainers"
FORBIDDEN_FIELDS = ("ports", "livenessProbe", "readinessProbe", "startupProbe", "lifecycle", "resources",
                    "resizePolicy", "restartPolicy")
"""EphemeralContainerCommon fields an ephemeral container may not set (upstream's order)."""


def prepare_update(new: dict[str, Any], old: dict[str, Any]) -> None:
    """Make ``new`` the stored pod ``old`` with only ``new``'s ephemeral containers (in place)."""
    containers = as_dict(new.get("spec")).get("ephemeralContainers")
    resource_version = as_dict(new.get("metadata")).get("resourceVersion")
    new.clear()
    new.update(json_copy(old))
    spec = new.setdefault("spec", {})
    if containers:
        spec["ephemeralContainers"] = containers
        for c in as_list(containers):
            if isinstance(c, dict):
                default_container(c, for_pod=True)
    else:
        spec.pop("ephemeralContainers", None)
    if resource_version:
        new["metadata"]["resourceVersion"] = resource_version


def validate_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """Causes for a write of ``new``'s ephemeral containers over the stored pod ``old``."""
    spec, old_spec = as_dict(new.get("spec")), as_dict(old.get("spec"))
    causes: list[Cause] = []
    ephemeral = as_list(spec.get("ephemeralContainers"))
    by_name = {as_dict(c).get("name"): c for c in ephemeral}
    for before in as_list(old_spec.get("ephemeralContainers")):
        name = as_dict(before).get("name")
        if name not in by_name:
            causes.append(forbidden(PATH, f'existing ephemeral containers "{name}" may not be removed\n'))
        elif by_name[name] != before:
            causes.append(forbidden(f"{PATH}[{name}]", f'existing ephemeral containers "{name}" may not be changed\n'))
    regular = [as_dict(c).get("name") for key in ("initContainers", "containers") for c in as_list(spec.get(key))]
    names = {str(n) for n in regular if n}
    volumes = {str(as_dict(v).get("name")) for v in as_list(spec.get("volumes"))}
    for i, c in enumerate(ephemeral):
        path = f"{PATH}[{i}]"
        causes += validate_container(c, path, names=names, volumes=volumes)
        c = as_dict(c)
        for field in FORBIDDEN_FIELDS:
            value = c.get(field)  # Go's IsZero: a set pointer (even to {}) counts, an empty struct/list not
            if value is not None and not (field in ("resources", "ports", "resizePolicy") and not value):
                causes.append(forbidden(f"{path}.{field}", "cannot be set for an Ephemeral Container"))
        target = c.get("targetContainerName")
        if target and target not in regular:
            causes.append(not_found(f"{path}.targetContainerName", str(target)))
    return causes
