"""A DaemonSet's ControllerRevisions: one per distinct pod template, named ``<ds>-<hash>``.

``data`` is upstream's patch form ``{"spec": {"template": {..., "$patch": "replace"}}}`` so
``kubectl rollout undo daemonset`` can apply it as a strategic merge patch; the ``controller-revision-hash``
label carries the hash (pods get the same label). The hash is the Deployment controller's template hash
(FNV-32a of the canonical JSON, plus ``status.collisionCount``).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from sampan.controllers.deployment.revisions import template_hash, templates_equal
from sampan.controllers.ownership import new_controller_ref

REVISION_HASH = "controller-revision-hash"
TEMPLATE_GENERATION_LABEL = "pod-template-generation"
TEMPLATE_GENERATION_ANNOTATION = "deprecated.daemonset.template.generation"


def template_of(revision: Mapping[str, Any]) -> dict[str, Any]:
    template = dict((((revision.get("data") or {}).get("spec") or {}).get("template")) or {})
    template.pop("$patch", None)
    return template


def current_hash(ds: Mapping[str, Any]) -> str:
    spec = ds.get("spec") or {}
    return template_hash(spec.get("template") or {}, (ds.get("status") or {}).get("collisionCount"))


def revision_body(ds: Mapping[str, Any], *, number: int) -> dict[str, Any]:
    spec = ds.get("spec") or {}
    template = copy.deepcopy(spec.get("template") or {})
    digest = current_hash(ds)
    md = ds["metadata"]
    labels = {**((template.get("metadata") or {}).get("labels") or {}), REVISION_HASH: digest}
    return {"apiVersion": "apps/v1", "kind": "ControllerRevision",
            "metadata": {"name": f"{md['name']}-{digest}", "namespace": md.get("namespace"), "labels": labels,
                         "annotations": dict(md.get("annotations") or {}),
                         "ownerReferences": [new_controller_ref(ds, api_version="apps/v1", kind="DaemonSet")]},
            "data": {"spec": {"template": {**template, "$patch": "replace"}}}, "revision": number}


def matching(ds: Mapping[str, Any], revisions: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Revisions whose template equals the DaemonSet's, highest revision first."""
    template = (ds.get("spec") or {}).get("template") or {}
    return sorted((r for r in revisions if templates_equal(template_of(r), template)),
                  key=lambda r: -int(r.get("revision") or 0))


def template_generation(ds: Mapping[str, Any]) -> str:
    return str(((ds.get("metadata") or {}).get("annotations") or {}).get(TEMPLATE_GENERATION_ANNOTATION) or "")


def is_updated(pod: Mapping[str, Any], *, digest: str, generation: str) -> bool:
    """Upstream's ``IsPodUpdated``: the pod carries the current hash, or (no hash label) the template
    generation."""
    labels = (pod.get("metadata") or {}).get("labels") or {}
    if REVISION_HASH in labels:
        return labels[REVISION_HASH] == digest
    return bool(generation) and labels.get(TEMPLATE_GENERATION_LABEL) == generation
