"""Which nodes a DaemonSet's pod belongs on, and the per-node pod it creates.

``should_run`` follows upstream's ``NodeShouldRunDaemonPod``: the template's ``nodeSelector`` and required
node affinity must match the node, and every NoSchedule/NoExecute taint must be tolerated by the template's
tolerations plus the automatic DaemonSet tolerations (``daemon_tolerations``). A node with an untolerated
NoExecute taint should not even keep a running pod; an untolerated NoSchedule taint only stops new pods.
Pods are placed by the default scheduler: each gets a required node affinity on ``metadata.name``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from sampan.api.nodeselectors import compile_node_selector
from sampan.controllers.nodelifecycle.taints import tolerates

_NO_EXECUTE = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")
_NO_SCHEDULE = ("node.kubernetes.io/disk-pressure", "node.kubernetes.io/memory-pressure",
                "node.kubernetes.io/pid-pressure", "node.kubernetes.io/unschedulable")
_NETWORK_UNAVAILABLE = "node.kubernetes.io/network-unavailable"


def daemon_tolerations(pod_spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The pod spec's tolerations plus those upstream adds to every daemon pod (``network-unavailable`` only
    for host-network pods), each added only when an equal key/effect toleration is not there yet."""
    out = [dict(t) for t in pod_spec.get("tolerations") or []]
    wanted = [(k, "NoExecute") for k in _NO_EXECUTE] + [(k, "NoSchedule") for k in _NO_SCHEDULE]
    if pod_spec.get("hostNetwork"):
        wanted.append((_NETWORK_UNAVAILABLE, "NoSchedule"))
    for key, effect in wanted:
        if not any(t.get("key") == key and t.get("effect") == effect for t in out):
            out.append({"key": key, "operator": "Exists", "effect": effect})
    return out


def _affinity_matches(required: Any, labels: Mapping[str, str], name: str) -> bool:
    """The template's required node affinity admits the node (an unparsable one admits none)."""
    try:
        return compile_node_selector(required, where="requiredDuringSchedulingIgnoredDuringExecution") \
            .matches(labels, name)
    except ValueError:
        return False


def should_run(pod_spec: Mapping[str, Any], node: Mapping[str, Any]) -> tuple[bool, bool]:
    """(a daemon pod should be started on ``node``, a running one may stay)."""
    md = node.get("metadata") or {}
    labels, name = md.get("labels") or {}, md.get("name", "")
    selector = pod_spec.get("nodeSelector") or {}
    if any(labels.get(k) != v for k, v in selector.items()):
        return False, False
    required = (((pod_spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution"))
    if required is not None and not _affinity_matches(required, labels, name):
        return False, False
    tolerations = daemon_tolerations(pod_spec)
    run = keep = True
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") not in ("NoSchedule", "NoExecute"):
            continue
        if any(tolerates(t, taint) for t in tolerations):
            continue
        run = False
        if taint.get("effect") == "NoExecute":
            keep = False
    return run, keep


def target_node(pod: Mapping[str, Any]) -> str | None:
    """The node a daemon pod is for: ``spec.nodeName``, else its ``metadata.name`` node affinity."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    for term in required.get("nodeSelectorTerms") or []:
        for req in term.get("matchFields") or []:
            if req.get("key") == "metadata.name" and req.get("operator") == "In" and len(req.get("values") or []) == 1:
                return str(req["values"][0])
    return None


def pod_spec_for_node(pod_spec: Mapping[str, Any], node_name: str) -> dict[str, Any]:
    """The template's spec with the daemon tolerations and its required node affinity replaced by one term
    selecting ``node_name`` (upstream's ``ReplaceDaemonSetPodNodeNameNodeAffinity``)."""
    spec = copy.deepcopy(dict(pod_spec))
    spec["tolerations"] = daemon_tolerations(pod_spec)
    affinity = spec.setdefault("affinity", {})
    node_affinity = affinity.setdefault("nodeAffinity", {})
    node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}]}
    return spec
