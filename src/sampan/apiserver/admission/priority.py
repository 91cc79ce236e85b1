"""Priority admission: a new pod's ``spec.priority`` and ``spec.preemptionPolicy`` come from its
PriorityClass (scheduling.k8s.io/v1), as upstream's ``Priority`` plugin does.

* no ``priorityClassName``: the ``globalDefault`` class with the lowest value, if any (its name is set
  on the pod); otherwise priority 0 and ``PreemptLowerPriority``;
* a named class that does not exist: 403 Forbidden ``no PriorityClass with name X was found``;
* a ``spec.priority`` / ``spec.preemptionPolicy`` in the request that differs from the class's: 403;
* on update, a pod that omits them keeps the stored ones (validation forbids changing them);
* a second ``globalDefault`` PriorityClass is 403 on create (updates are not checked).

Classes are read from the watch cache once it has caught up with the store (a consistent read, so a
class created just before the pod is seen). The built-in classes
``system-node-critical`` and ``system-cluster-critical`` are created at start (:func:`ensure_builtin`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from sampan.api import errors, meta
from sampan.apiserver.admission.interface import Attributes, PluginBase
from sampan.apiserver.cacher.objects import CachedObject, encode_for_store
from sampan.apiserver.context import Scope, ServerContext
from sampan.apiserver.handlers.objectmeta import new_uid, timestamp
from sampan.apiserver.handlers.reads import cache_is_fresh
from sampan.apiserver.registry.priorityclasses import SYSTEM_PRIORITY_CLASSES
from sampan.storage import KeyExists

log = logging.getLogger(__name__)

DEFAULT_POLICY = "PreemptLowerPriority"


def _classes(ctx: ServerContext) -> Scope | None:
    return ctx.scope("scheduling.k8s.io", "v1", "priorityclasses")


def _forbidden(pod: dict[str, Any], detail: str) -> errors.Forbidden:
    name = meta.name(pod) or meta.metadata(pod).get("generateName") or ""
    return errors.Forbidden(f'pods "{name}" is forbidden: {detail}', details={"name": name, "kind": "pods"})


def _resolve(ctx: ServerContext, scope: Scope, class_name: str) -> tuple[str, int, str] | None:
    """(class name, value, preemption policy) for ``class_name`` ("" -> the global default), or None
    when the named class does not exist."""
    if class_name:
        cached = scope.cache.objects.get(scope.key("", class_name))
        if cached is None:
            return None
        pc = cached.obj
        return class_name, int(pc.get("value") or 0), str(pc.get("preemptionPolicy") or DEFAULT_POLICY)
    cache = scope.cache
    memo = _default_memo.get(id(cache))
    if memo is not None and memo[0] is cache.objects and memo[1] == cache.events_applied:
        return memo[2]
    resolved = _global_default(cache.objects.values())
    if len(_default_memo) >= 64:  # one entry per server in this process; bounded for tests' many servers
        _default_memo.clear()
    _default_memo[id(cache)] = (cache.objects, cache.events_applied, resolved)
    return resolved


#: The global default per priority-class cache, valid while that cache holds the same dict and has applied
#: no event since (every class change is an event): decoding every class on each pod create cost ~1% of a
#: create's CPU. Keyed by ``id(cache)``; the entry keeps ``cache.objects`` alive, so the identity check holds.
_default_memo: dict[int, tuple[object, int, tuple[str, int, str]]] = {}


def _global_default(classes: Iterable[CachedObject]) -> tuple[str, int, str]:
    defaults = [c.obj for c in classes if c.obj.get("globalDefault") is True]
    if not defaults:
        return "", 0, DEFAULT_POLICY
    best = min(defaults, key=lambda pc: int(pc.get("value") or 0))
    return meta.name(best), int(best.get("value") or 0), str(best.get("preemptionPolicy") or DEFAULT_POLICY)


async def admit_pod_create(ctx: ServerContext, pod: dict[str, Any]) -> None:
    scope = _classes(ctx)
    spec = pod.get("spec")
    if scope is None or not isinstance(spec, dict):
        return
    await cache_is_fresh(ctx)  # a class created just before the pod is seen (best effort, bounded wait)
    class_name = spec.get("priorityClassName") or ""
    if not isinstance(class_name, str):
        return  # validation reports it
    resolved = _resolve(ctx, scope, class_name)
    if resolved is None:
        raise _forbidden(pod, f"no PriorityClass with name {class_name} was found")
    name, value, policy = resolved
    given = spec.get("priority")
    if given is not None and given != value:
        raise _forbidden(pod, f"the integer value of priority ({given}) must not be provided in pod spec; priority "
                         f"admission controller computed {value} from the given PriorityClass name")
    given_policy = spec.get("preemptionPolicy")
    if given_policy is not None and given_policy != policy:
        raise _forbidden(pod, f"the string value of PreemptionPolicy ({given_policy}) must not be provided in pod "
                         f"spec; priority admission controller computed {policy} from the given PriorityClass name")
    if name:
        spec["priorityClassName"] = name
    spec["priority"] = value
    spec["preemptionPolicy"] = policy


async def admit_priority_class(ctx: ServerContext, pc: dict[str, Any]) -> None:
    """Only one ``globalDefault`` PriorityClass may exist (403 for a second one)."""
    scope = _classes(ctx)
    if scope is None or pc.get("globalDefault") is not True:
        return
    await cache_is_fresh(ctx)
    for cached in scope.cache.objects.values():
        other = cached.obj
        if other.get("globalDefault") is True and meta.name(other) != meta.name(pc):
            name = meta.name(pc)
            raise errors.Forbidden(f'priorityclasses.scheduling.k8s.io "{name}" is forbidden: PriorityClass '
                                   f"{meta.name(other)} is already marked as default. Only one default can exist",
                                   details={"name": name, "group": "scheduling.k8s.io", "kind": "priorityclasses"})


def admit_pod_update(pod: dict[str, Any], old: dict[str, Any]) -> None:
    spec, old_spec = pod.get("spec"), old.get("spec")
    if not isinstance(spec, dict) or not isinstance(old_spec, dict):
        return
    for key in ("priority", "preemptionPolicy"):
        if spec.get(key) is None and old_spec.get(key) is not None:
            spec[key] = old_spec[key]


async def ensure_builtin(ctx: ServerContext) -> None:
    """Create the system PriorityClasses unless they exist (idempotent)."""
    scope = _classes(ctx)
    if scope is None:
        return
    for name, (value, description) in SYSTEM_PRIORITY_CLASSES.items():
        obj: dict[str, Any] = {
            "kind": scope.info.kind, "apiVersion": scope.info.group_version,
            "metadata": {"name": name, "uid": new_uid(), "creationTimestamp": timestamp(ctx.clock.wall())},
            "value": value, "globalDefault": False, "description": description,
            "preemptionPolicy": DEFAULT_POLICY,
        }
        try:
            await ctx.store.create(scope.key("", name), encode_for_store(obj))
            log.info("created system priority class name=%s", name)
        except KeyExists:
            pass


class PriorityPlugin(PluginBase):
    """``Priority``: pods get their class's priority on create (and keep it on update); a second
    ``globalDefault`` PriorityClass is refused."""

    name = "Priority"

    def handles(self, attrs: Attributes) -> bool:
        return attrs.subresource in ("", "scale") and attrs.obj is not None and (
            attrs.is_resource("", "pods", attrs.subresource)
            or attrs.is_resource("scheduling.k8s.io", "priorityclasses"))

    async def admit(self, ctx: ServerContext, attrs: Attributes) -> None:
        assert attrs.obj is not None
        if attrs.resource == "pods":
            if attrs.operation == "CREATE":
                await admit_pod_create(ctx, attrs.obj)
            elif attrs.operation == "UPDATE" and attrs.old is not None:
                admit_pod_update(attrs.obj, attrs.old)
        elif attrs.operation == "CREATE":
            await admit_priority_class(ctx, attrs.obj)
