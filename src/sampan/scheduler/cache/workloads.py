"""Services and controllers (ReplicationControllers, ReplicaSets, StatefulSets) as the scheduler sees them:
just enough to build upstream's *default selector* of a pod (``helper.DefaultSelector``), which
PodTopologySpread's system default constraints count pods with.

Default selector of a pod: the merged ``spec.selector`` maps of every Service in its namespace whose
(non-nil) selector matches the pod's labels, plus the selector of its controlling owner when that is a
ReplicationController, ReplicaSet or StatefulSet this cache knows (an owner not yet seen adds nothing).
Invariant: entries are keyed by (namespace, name); a malformed selector is stored as None (adds nothing).
"""

from __future__ import annotations

from typing import Any

from sampan.api.selectors import EQUALS, LabelSelector, Requirement

_RC = ("v1", "ReplicationController")
_RS = ("apps/v1", "ReplicaSet")
_SS = ("apps/v1", "StatefulSet")


def _key(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _str_map(raw: Any) -> dict[str, str] | None:
    if not isinstance(raw, dict):
        return None
    return {str(k): str(v) for k, v in raw.items()}


class WorkloadCache:
    """Selectors of Services (a map, None = selects nothing) and of RCs/RSs/StatefulSets."""

    def __init__(self) -> None:
        self._services: dict[str, dict[str, dict[str, str] | None]] = {}
        self._controllers: dict[tuple[str, str, str], tuple[Requirement, ...] | None] = {}

    # -- informer side --------------------------------------------------------------------------------
    def set(self, kind: str, obj: dict[str, Any]) -> None:
        """Record ``obj`` of ``kind`` (``Service``, ``ReplicationController``, ``ReplicaSet``, ``StatefulSet``)."""
        ns, name = _key(obj)
        spec = obj.get("spec") or {}
        if kind == "Service":
            self._services.setdefault(ns, {})[name] = _str_map(spec.get("selector"))
            return
        raw = spec.get("selector")
        reqs: tuple[Requirement, ...] | None
        if kind == _RC[1]:
            sel = _str_map(raw)
            reqs = tuple(Requirement(k, EQUALS, (v,)) for k, v in sel.items()) if sel else None
        else:
            try:
                parsed = LabelSelector.from_dict(raw)
            except ValueError:
                parsed = LabelSelector.nothing()
            reqs = parsed.requirements if parsed.requirements else None
        self._controllers[(kind, ns, name)] = reqs

    def delete(self, kind: str, obj: dict[str, Any]) -> None:
        ns, name = _key(obj)
        if kind == "Service":
            by_name = self._services.get(ns)
            if by_name is not None:
                by_name.pop(name, None)
                if not by_name:
                    del self._services[ns]
            return
        self._controllers.pop((kind, ns, name), None)

    # -- plugin side ----------------------------------------------------------------------------------
    def default_selector(self, *, namespace: str, labels: dict[str, str], metadata: dict[str, Any]) -> LabelSelector:
        """Upstream's DefaultSelector for a pod; an empty selector when nothing selects the pod."""
        merged: dict[str, str] = {}
        for sel in self._services.get(namespace, {}).values():
            if sel is not None and all(labels.get(k) == v for k, v in sel.items()):
                merged.update(sel)
        reqs = [Requirement(k, EQUALS, (v,)) for k, v in merged.items()]
        owner = _controller_of(metadata)
        if owner is not None and owner[:2] in (_RC, _RS, _SS):
            controller = self._controllers.get((owner[1], namespace, owner[2]))
            if controller is not None:  # it selects the pod, so its requirements never conflict
                reqs.extend(r for r in controller if r not in reqs)
        return LabelSelector(reqs)


def _controller_of(metadata: dict[str, Any]) -> tuple[str, str, str] | None:
    """(apiVersion, kind, name) of the ownerReference with ``controller: true``."""
    for ref in metadata.get("ownerReferences") or ():
        if isinstance(ref, dict) and ref.get("controller") is True:
            return str(ref.get("apiVersion") or ""), str(ref.get("kind") or ""), str(ref.get("name") or "")
    return None
