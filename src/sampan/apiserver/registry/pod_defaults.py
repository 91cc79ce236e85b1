"""Upstream's defaults for a pod spec (``SetDefaults_PodSpec``, ``SetDefaults_Container`` …), shared by
pods and pod templates. Declarative where possible: tables of (path, value) applied when absent.

Also applies, for pods themselves, what upstream's default admission chain adds: ``priority: 0`` and
``preemptionPolicy`` (Priority plugin), ``serviceAccountName: default`` (ServiceAccount plugin).
Not applied: DefaultTolerationSeconds' not-ready/unreachable tolerations and the projected
service-account token volume (a later admission issue).
"""

from __future__ import annotations

import copy
from typing import Any

import orjson

from sampan.api import meta
from sampan.apiserver.registry.base import as_dict, as_list

POD_SPEC_DEFAULTS: tuple[tuple[str, Any], ...] = (
    ("restartPolicy", "Always"),
    ("dnsPolicy", "ClusterFirst"),
    ("terminationGracePeriodSeconds", 30),
    ("securityContext", {}),
    ("schedulerName", "default-scheduler"),
)
POD_ONLY_DEFAULTS: tuple[tuple[str, Any], ...] = (
    ("enableServiceLinks", True),
)
"""Upstream ``SetDefaults_Pod`` (pods, not templates); also copies limits to missing requests."""
POD_ADMISSION_DEFAULTS: tuple[tuple[str, Any], ...] = (
    ("priority", 0),
    ("preemptionPolicy", "PreemptLowerPriority"),
    ("serviceAccountName", "default"),
)
CONTAINER_DEFAULTS: tuple[tuple[str, Any], ...] = (
    ("terminationMessagePath", "/dev/termination-log"),
    ("terminationMessagePolicy", "File"),
    ("resources", {}),
)
PROBE_DEFAULTS: tuple[tuple[str, Any], ...] = (
    ("timeoutSeconds", 1),
    ("periodSeconds", 10),
    ("successThreshold", 1),
    ("failureThreshold", 3),
)
VOLUME_SOURCE_DEFAULTS: dict[str, tuple[tuple[str, Any], ...]] = {
    "configMap": (("defaultMode", 420),),
    "secret": (("defaultMode", 420),),
    "downwardAPI": (("defaultMode", 420),),
    "projected": (("defaultMode", 420),),
    "hostPath": (("type", ""),),
    "emptyDir": (),
}


def _apply(target: dict[str, Any], table: tuple[tuple[str, Any], ...]) -> None:
    for path, value in table:
        meta.set_default(target, path, copy.deepcopy(value))


def default_image_pull_policy(image: str) -> str:
    """``Always`` for ``:latest`` or untagged images, ``IfNotPresent`` otherwise (digests included)."""
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    if ":" not in last or last.endswith(":latest"):
        return "Always"
    return "IfNotPresent"


def default_container(c: dict[str, Any], *, for_pod: bool) -> None:
    _apply(c, CONTAINER_DEFAULTS)
    if not c.get("imagePullPolicy") and isinstance(c.get("image"), str):
        c["imagePullPolicy"] = default_image_pull_policy(c["image"])
    for port in as_list(c.get("ports")):
        if isinstance(port, dict) and not port.get("protocol"):
            port["protocol"] = "TCP"
    for env in as_list(c.get("env")):
        field_ref = as_dict(as_dict(env).get("valueFrom")).get("fieldRef")
        if isinstance(field_ref, dict) and not field_ref.get("apiVersion"):
            field_ref["apiVersion"] = "v1"
    for probe_name in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = c.get(probe_name)
        if isinstance(probe, dict):
            _apply(probe, PROBE_DEFAULTS)
            http = probe.get("httpGet")
            if isinstance(http, dict) and not http.get("scheme"):
                http["scheme"] = "HTTP"
    resources = c.get("resources")
    if for_pod and isinstance(resources, dict):
        # A limit without a request requests the limit (upstream SetDefaults_Pod).
        limits = resources.get("limits")
        if isinstance(limits, dict) and limits:
            requests = resources.get("requests")
            if not isinstance(requests, dict):
                requests = resources["requests"] = {}
            for name, value in limits.items():
                requests.setdefault(name, value)


#: Specs remembered at most, as (for_pod, JSON before) -> JSON after defaulting; emptied when full.
_MEMO_SIZE = 512
_defaulted: dict[tuple[bool, bytes], bytes] = {}


def default_pod_spec(spec: dict[str, Any], *, for_pod: bool) -> None:
    """Defaults in place; ``for_pod`` adds the admission-chain defaults real pods get.

    A pure function of the spec's JSON: the result for a spec seen before (a ReplicaSet's pods share one)
    is its remembered JSON, decoded into ``spec`` (same keys in the same order, fresh nested values)."""
    try:
        key: tuple[bool, bytes] | None = (for_pod, orjson.dumps(spec))
    except TypeError:  # not JSON (an int beyond 64 bits, a non-string key): no memo
        key = None
    if key is not None and (hit := _defaulted.get(key)) is not None:
        spec.clear()
        spec.update(orjson.loads(hit))
        return
    _default_pod_spec(spec, for_pod=for_pod)
    if key is not None:
        try:
            after = orjson.dumps(spec)
        except TypeError:
            return
        if len(_defaulted) >= _MEMO_SIZE:
            _defaulted.clear()
        _defaulted[key] = after


def _default_pod_spec(spec: dict[str, Any], *, for_pod: bool) -> None:
    _apply(spec, POD_SPEC_DEFAULTS)
    if for_pod:
        _apply(spec, POD_ONLY_DEFAULTS)
        _apply(spec, POD_ADMISSION_DEFAULTS)
        if spec.get("serviceAccountName") and not spec.get("serviceAccount"):
            spec["serviceAccount"] = spec["serviceAccountName"]
    for field in ("initContainers", "containers"):
        for c in as_list(spec.get(field)):
            if isinstance(c, dict):
                default_container(c, for_pod=for_pod)
    for vol in as_list(spec.get("volumes")):
        if not isinstance(vol, dict):
            continue
        for source, table in VOLUME_SOURCE_DEFAULTS.items():
            if isinstance(vol.get(source), dict):
                _apply(vol[source], table)
        if not any(k != "name" for k in vol):
            vol["emptyDir"] = {}  # upstream: a volume without a source is an emptyDir


def default_pod_template(obj: dict[str, Any], path: tuple[str, ...] = ("spec", "template")) -> None:
    """Defaults for the pod template at ``path`` of a workload object."""
    template = meta.ensure_map(obj, *path)
    spec = template.get("spec")
    if isinstance(spec, dict):
        default_pod_spec(spec, for_pod=False)
