"""A StatefulSet's ControllerRevisions: the revision of its current template, finding an equal older one
(a rollback reuses it), and pruning history beyond ``revisionHistoryLimit``.

A revision's ``data`` is ``{"spec": {"template": <template with "$patch": "replace">}}`` as upstream stores
it; its name is ``<set>-<hash>`` where the hash covers the template and ``status.collisionCount``; its
``controller-revision-hash`` label is the hash-suffixed name upstream uses as the pods' label value.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from sampan.controllers.deployment.revisions import template_hash
from sampan.controllers.statefulset.identity import REVISION_LABEL


def revision_data(sts: Mapping[str, Any]) -> dict[str, Any]:
    template = copy.deepcopy((sts.get("spec") or {}).get("template") or {})
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def template_of(revision: Mapping[str, Any]) -> dict[str, Any]:
    """The pod template a revision holds."""
    template = dict(((revision.get("data") or {}).get("spec") or {}).get("template") or {})
    template.pop("$patch", None)
    return template


def revision_name(sts: Mapping[str, Any], collision_count: int) -> str:
    return f"{sts['metadata']['name']}-{template_hash(revision_data(sts)['spec']['template'], collision_count)}"


def new_revision(sts: Mapping[str, Any], *, number: int, collision_count: int,
                 owner_ref: dict[str, Any]) -> dict[str, Any]:
    name = revision_name(sts, collision_count)
    labels = dict(((sts.get("spec") or {}).get("selector") or {}).get("matchLabels") or {})
    labels[REVISION_LABEL] = name
    return {"apiVersion": "apps/v1", "kind": "ControllerRevision",
            "metadata": {"name": name, "namespace": sts["metadata"]["namespace"], "labels": labels,
                         "ownerReferences": [owner_ref]},
            "data": revision_data(sts), "revision": number}


def equal_revision(sts: Mapping[str, Any], revisions: Iterable[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The newest stored revision whose template equals the set's (None when there is none)."""
    want = revision_data(sts)
    same = [dict(r) for r in revisions if r.get("data") == want]
    return max(same, key=lambda r: int(r.get("revision") or 0)) if same else None


def next_number(revisions: Iterable[Mapping[str, Any]]) -> int:
    return max((int(r.get("revision") or 0) for r in revisions), default=0) + 1


def prunable(revisions: list[dict[str, Any]], *, limit: int, live: set[str]) -> list[dict[str, Any]]:
    """The oldest revisions beyond ``limit`` that no pod and neither the current nor the update revision
    (``live`` names) uses."""
    dead = sorted((r for r in revisions if r["metadata"]["name"] not in live),
                  key=lambda r: int(r.get("revision") or 0))
    excess = len(dead) - limit
    return dead[:excess] if excess > 0 else []
