"""A StatefulSet pod's identity and storage: ordinal names ``<set>-<i>``, the stable labels, hostname and
subdomain, and the claims ``<template>-<set>-<i>`` its ``volumeClaimTemplates`` give it.

Invariant: :func:`new_pod` of a set at ordinal ``i`` with a revision's template always yields a pod whose
:func:`ordinal_of` is ``i`` and whose identity (:func:`identity_matches`) holds.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from sampan.controllers.podcontrol import pod_from_template

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
REVISION_LABEL = "controller-revision-hash"
_ORDINAL_RE = re.compile(r"^(.*)-([0-9]+)$")


def ordinal_of(pod: Mapping[str, Any]) -> int:
    """The pod's ordinal from its name (``-1`` when the name has none)."""
    m = _ORDINAL_RE.match(str(pod["metadata"].get("name", "")))
    return int(m.group(2)) if m else -1


def is_member(sts: Mapping[str, Any], pod: Mapping[str, Any]) -> bool:
    """Whether ``pod``'s name is ``<set>-<ordinal>``."""
    m = _ORDINAL_RE.match(str(pod["metadata"].get("name", "")))
    return bool(m and m.group(1) == sts["metadata"]["name"])


def pod_name(sts: Mapping[str, Any], ordinal: int) -> str:
    return f"{sts['metadata']['name']}-{ordinal}"


def claim_name(template: Mapping[str, Any], sts: Mapping[str, Any], ordinal: int) -> str:
    return f"{(template.get('metadata') or {}).get('name')}-{pod_name(sts, ordinal)}"


def claim_templates(sts: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [t for t in (sts.get("spec") or {}).get("volumeClaimTemplates") or [] if isinstance(t, dict)]


def start_ordinal(sts: Mapping[str, Any]) -> int:
    """``spec.ordinals.start`` (0 unless set)."""
    return int(((sts.get("spec") or {}).get("ordinals") or {}).get("start") or 0)


def new_pod(sts: Mapping[str, Any], template: Mapping[str, Any], *, ordinal: int, revision: str,
            owner_ref: dict[str, Any]) -> dict[str, Any]:
    """The pod of ``ordinal`` from ``template`` (a revision's), with identity, storage and revision label."""
    name = pod_name(sts, ordinal)
    labels = {POD_NAME_LABEL: name, POD_INDEX_LABEL: str(ordinal), REVISION_LABEL: revision}
    pod = pod_from_template(template, namespace=sts["metadata"]["namespace"], generate_name="",
                            owner_ref=owner_ref, extra_labels=labels)
    md = pod["metadata"]
    md.pop("generateName", None)
    md["name"] = name
    spec = pod["spec"]
    spec["hostname"] = name
    service = (sts.get("spec") or {}).get("serviceName")
    if service:
        spec["subdomain"] = service
    claims = {(t.get("metadata") or {}).get("name"): claim_name(t, sts, ordinal) for t in claim_templates(sts)}
    volumes = [v for v in spec.get("volumes") or [] if v.get("name") not in claims]
    volumes += [{"name": vol, "persistentVolumeClaim": {"claimName": claim}} for vol, claim in claims.items()]
    if volumes:
        spec["volumes"] = volumes
    return pod


def new_claim(sts: Mapping[str, Any], template: Mapping[str, Any], *, ordinal: int) -> dict[str, Any]:
    """The claim of ``ordinal`` from one of the set's ``volumeClaimTemplates`` (labels: the set's selector)."""
    tmeta = template.get("metadata") or {}
    selector_labels = ((sts.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    md: dict[str, Any] = {"name": claim_name(template, sts, ordinal), "namespace": sts["metadata"]["namespace"],
                          "labels": {**(tmeta.get("labels") or {}), **selector_labels}}
    if tmeta.get("annotations"):
        md["annotations"] = dict(tmeta["annotations"])
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": md,
            "spec": copy.deepcopy(template.get("spec") or {})}


def identity_matches(sts: Mapping[str, Any], pod: Mapping[str, Any]) -> bool:
    """Upstream ``identityMatches``: name, namespace, the pod-name label and the network identity."""
    md = pod["metadata"]
    spec = pod.get("spec") or {}
    ordinal = ordinal_of(pod)
    service = (sts.get("spec") or {}).get("serviceName")
    return bool(ordinal >= 0 and is_member(sts, pod) and md.get("namespace") == sts["metadata"]["namespace"]
                and (md.get("labels") or {}).get(POD_NAME_LABEL) == md.get("name")
                and spec.get("hostname") == md.get("name") and (not service or spec.get("subdomain") == service))
