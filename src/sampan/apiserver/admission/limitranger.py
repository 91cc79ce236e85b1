"""``LimitRanger``: the namespace's LimitRanges (read from the watch cache) applied to pods and
persistentvolumeclaims, as upstream's plugin.

* mutating phase (``admit``), pod creates: every container (and init container) lacking a limit or a
  request for a resource gets the Container items' ``default``/``defaultRequest``; a request is not
  defaulted where the container states that limit (pod defaulting copies the limit later, as upstream's
  decode-time defaults do before admission). What was set is recorded in the pod annotation
  ``kubernetes.io/limit-ranger`` (upstream's wording).
* validating phase (``validate``), pod creates and claim creates/updates: ``min``/``max``/
  ``maxLimitRequestRatio`` of Container, Pod and PersistentVolumeClaim items, refused with 403
  ``pods "x" is forbidden: maximum cpu usage per Container is 500m, but limit is 1`` (several
  violations as ``[a, b]``).

Pod updates are not checked (containers' resources are immutable, as upstream), nor subresources, nor
objects being deleted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sampan.api import limitranges as lrs
from sampan.apiserver.admission.interface import Attributes, PluginBase
from sampan.apiserver.admission.quotabatch import forbidden
from sampan.apiserver.cacher.watcher import Filter

if TYPE_CHECKING:
    from sampan.apiserver.context import ServerContext

ANNOTATION = "kubernetes.io/limit-ranger"


class LimitRangerPlugin(PluginBase):
    name = "LimitRanger"

    def handles(self, attrs: Attributes) -> bool:
        if attrs.subresource or attrs.group or not attrs.namespace or attrs.obj is None:
            return False
        if attrs.old is not None and (attrs.old.get("metadata") or {}).get("deletionTimestamp"):
            return False
        if attrs.resource == "pods":
            return attrs.operation == "CREATE"
        return attrs.resource == "persistentvolumeclaims" and attrs.operation in ("CREATE", "UPDATE")

    async def admit(self, ctx: ServerContext, attrs: Attributes) -> None:
        if attrs.resource != "pods" or attrs.obj is None:
            return
        ranges = _ranges(ctx, attrs.namespace)
        if not ranges:
            return
        limits, requests = lrs.container_defaults(ranges)
        if not limits and not requests:
            return
        spec = attrs.obj.get("spec")
        if not isinstance(spec, dict):
            return
        notes: list[str] = []
        for key in ("initContainers", "containers"):
            for c in spec.get(key) or []:
                if isinstance(c, dict):
                    notes += _default_container(c, limits, requests)
        if notes:
            metadata = attrs.obj.setdefault("metadata", {})
            annotations = metadata.get("annotations")
            if not isinstance(annotations, dict):
                annotations = metadata["annotations"] = {}
            annotations[ANNOTATION] = "LimitRanger plugin set: " + "; ".join(notes)

    async def validate(self, ctx: ServerContext, attrs: Attributes) -> None:
        if attrs.obj is None:
            return
        ranges = _ranges(ctx, attrs.namespace)
        if not ranges:
            return
        if attrs.resource == "pods":
            problems = lrs.pod_violations(attrs.obj, ranges)
        else:
            problems = lrs.pvc_violations(attrs.obj, ranges)
        if problems:
            raise forbidden(attrs, lrs.aggregate(problems))


def _ranges(ctx: ServerContext, namespace: str) -> list[dict[str, Any]]:
    scope = ctx.scope("", "v1", "limitranges")
    if scope is None:
        return []
    return [co.obj for co in scope.cache.sorted_objects(Filter(namespace=namespace))]


def _default_container(container: dict[str, Any], limits: dict[str, Any], requests: dict[str, Any]) -> list[str]:
    """Fill the container's missing limits/requests; the notes name what was set."""
    resources = container.get("resources")
    if not isinstance(resources, dict):
        resources = container["resources"] = {}
    notes: list[str] = []
    name = container.get("name", "")
    for kind, defaults in (("requests", requests), ("limits", limits)):
        current = resources.get(kind)
        current = dict(current) if isinstance(current, dict) else {}
        stated = resources.get("limits")
        stated_limits: dict[str, Any] = stated if isinstance(stated, dict) else {}
        added = []
        for res, value in defaults.items():
            if res in current or (kind == "requests" and res in stated_limits):
                continue
            current[res] = value
            added.append(res)
        if added:
            resources[kind] = current
            notes.append(f"{', '.join(sorted(added))} {kind[:-1]} for container {name}")
    return notes
