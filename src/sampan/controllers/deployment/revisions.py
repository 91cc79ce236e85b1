"""Naming and history of a Deployment's ReplicaSets: the ``pod-template-hash``, revision annotations,
and finding the ReplicaSet that runs the current template (which is how rollback to an older template
works: the old ReplicaSet is found again and gets the next revision number)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from typing import Any

from sampan.controllers.pods import parse_time

POD_TEMPLATE_HASH = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"

_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
"""Upstream's ``rand.SafeEncodeString`` alphabet: no vowels (no words) and no look-alike characters."""


def _fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def template_hash(template: Mapping[str, Any], collision_count: int | None = None) -> str:
    """A short stable name for a pod template: FNV-32a of its canonical JSON (plus the collision count),
    written in the safe alphabet."""
    data = json.dumps(_normalized(dict(template)), sort_keys=True, separators=(",", ":")).encode()
    if collision_count:
        data += str(collision_count).encode()
    return "".join(_SAFE_ALPHABET[int(c) % len(_SAFE_ALPHABET)] for c in str(_fnv32a(data)))


def _normalized(value: Any) -> Any:
    """Drop null, empty-map and empty-list members, recursively: on the typed objects upstream compares,
    ``creationTimestamp: null``, ``resources: {}`` and an absent field are all the zero value."""
    if isinstance(value, dict):
        out = {k: _normalized(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None and v != {} and v != []}
    if isinstance(value, list):
        return [_normalized(v) for v in value]
    return value


def _without_hash(template: Mapping[str, Any]) -> dict[str, Any]:
    t = copy.deepcopy(dict(template))
    labels = (t.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(POD_TEMPLATE_HASH, None)
    normalized: dict[str, Any] = _normalized(t)
    return normalized


def templates_equal(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Equal pod templates, ignoring the ``pod-template-hash`` label."""
    return _without_hash(a) == _without_hash(b)


def revision(obj: Mapping[str, Any]) -> int:
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION)
    try:
        return int(value) if value is not None else 0
    except (TypeError, ValueError):
        return 0


def max_revision(rss: Iterable[Mapping[str, Any]]) -> int:
    return max((revision(rs) for rs in rss), default=0)


def created(rs: Mapping[str, Any]) -> tuple[float, str]:
    md = rs.get("metadata") or {}
    return parse_time(md.get("creationTimestamp")) or 0.0, str(md.get("name", ""))


def find_new(deployment: Mapping[str, Any], rss: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    """The oldest ReplicaSet whose template equals the Deployment's (ignoring the hash label)."""
    want = _without_hash((deployment.get("spec") or {}).get("template") or {})  # once, not once per ReplicaSet
    matches = sorted((rs for rs in rss if _without_hash((rs.get("spec") or {}).get("template") or {}) == want),
                     key=created)
    return matches[0] if matches else None


def replicas(rs: Mapping[str, Any]) -> int:
    value = (rs.get("spec") or {}).get("replicas")
    return 0 if value is None else int(value)


def status_int(obj: Mapping[str, Any], field: str) -> int:
    return int((obj.get("status") or {}).get(field) or 0)
