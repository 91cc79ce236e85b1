"""The PodDisruptionBudget half of ``pods/eviction`` (upstream's ``EvictionREST``).

Given the pod to evict, :func:`admit_eviction` decides whether it may go and what its delete must carry:

1. a pod that is terminal (Succeeded/Failed), Pending or already being deleted disrupts nothing: deleted
   without consulting budgets (with a resourceVersion precondition unless terminal or deleting);
2. the budgets of the pod's namespace whose selector selects it (read from the watch cache after it
   caught up): none -> delete; more than one -> 500 ``This pod has more than one PodDisruptionBudget,
   which the eviction subresource does not support.``;
3. an unready pod: ``unhealthyPodEvictionPolicy: AlwaysAllow``, or (default ``IfHealthyBudget``) a budget
   with ``currentHealthy >= desiredHealthy > 0``, lets it go without spending the budget, but only with a
   resourceVersion precondition (a conflict -> 429, the pod may have become ready);
4. otherwise the budget is spent: ``status.observedGeneration < generation`` -> 429 ``The disruption
   budget X is still being processed by the server.``; ``disruptionsAllowed == 0`` -> 429 ``Cannot evict
   pod as it would violate the pod's disruption budget.`` with cause ``DisruptionBudget`` ``The
   disruption budget X needs N healthy pods and has M currently``; else ``disruptionsAllowed`` is
   decremented and ``disruptedPods[pod] = now`` recorded, by compare-and-swap on the budget's
   resourceVersion (a conflict re-reads it from the store and checks again). A dry run checks only.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any

from sampan.api import disruption as pdbs
from sampan.api import errors, meta
from sampan.apiserver.cacher.watcher import Filter
from sampan.apiserver.context import Scope, ServerContext
from sampan.apiserver.handlers.reads import cache_is_fresh
from sampan.storage import Conflict, KeyNotFound

MAX_ATTEMPTS = 20
MAX_DISRUPTED_PODS = 2000
VIOLATION = "Cannot evict pod as it would violate the pod's disruption budget."


@dataclass(frozen=True)
class Decision:
    enforce_resource_version: bool
    """Delete only the version of the pod that was judged (``preconditions.resourceVersion``)."""
    budget: str = ""
    """The budget consulted ("" when none)."""


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def too_many_requests(cause: str) -> errors.TooManyRequests:
    return errors.TooManyRequests(VIOLATION, details={"causes": [
        {"reason": pdbs.DISRUPTION_BUDGET_CAUSE, "message": cause}]})


def still_processing(name: str) -> errors.TooManyRequests:
    return too_many_requests(f"The disruption budget {name} is still being processed by the server.")


def _phase(pod: dict[str, Any]) -> str:
    return str(_d(pod.get("status")).get("phase") or "")


def can_ignore_budgets(pod: dict[str, Any]) -> bool:
    return _phase(pod) in ("Succeeded", "Failed", "Pending") or bool(meta.deletion_timestamp(pod))


def should_enforce_resource_version(pod: dict[str, Any]) -> bool:
    return _phase(pod) not in ("Succeeded", "Failed") and not meta.deletion_timestamp(pod)


async def admit_eviction(ctx: ServerContext, pod: dict[str, Any], *, dry: bool) -> Decision:
    """May ``pod`` be evicted? Spends its budget when needed (see the module docstring); raises 429/500."""
    if can_ignore_budgets(pod):
        return Decision(should_enforce_resource_version(pod))
    scope = ctx.scope("policy", "v1", "poddisruptionbudgets")
    if scope is None:
        return Decision(False)
    await cache_is_fresh(ctx)
    namespace = meta.namespace(pod)
    budgets = [co for co in scope.cache.sorted_objects(Filter(namespace=namespace)) if pdbs.selects(co.obj, pod)]
    if not budgets:
        return Decision(False)
    if len(budgets) > 1:
        text = "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."
        raise errors.InternalError(f"Internal error occurred: {text}", details={"causes": [{"message": text}]})
    pdb = copy.deepcopy(budgets[0].obj)
    name = meta.name(pdb)
    spec, status = _d(pdb.get("spec")), _d(pdb.get("status"))
    if not pdbs.pod_ready(pod):
        if spec.get("unhealthyPodEvictionPolicy") == "AlwaysAllow":
            return Decision(True, name)
        desired = int(status.get("desiredHealthy") or 0)
        if int(status.get("currentHealthy") or 0) >= desired > 0:
            return Decision(True, name)
    await _spend(ctx, scope, pdb, pod_name=meta.name(pod), dry=dry)
    return Decision(False, name)


async def _spend(ctx: ServerContext, scope: Scope, pdb: dict[str, Any], *, pod_name: str, dry: bool) -> None:
    key = scope.key(meta.namespace(pdb), meta.name(pdb))
    for _ in range(MAX_ATTEMPTS):
        updated = _decremented(pdb, pod_name=pod_name, now=ctx.clock.wall())
        if dry:
            return
        try:
            await ctx.store.update(key, scope.encode(updated), expected_mod_revision=int(meta.resource_version(pdb)))
            return
        except Conflict:
            try:
                kv = await ctx.store.get(key)
            except KeyNotFound:
                raise errors.not_found("poddisruptionbudgets", meta.name(pdb), "policy") from None
            pdb = scope.decode(kv.value, kv.mod_revision)
        except KeyNotFound:
            raise errors.not_found("poddisruptionbudgets", meta.name(pdb), "policy") from None
    raise still_processing(meta.name(pdb))


def _decremented(pdb: dict[str, Any], *, pod_name: str, now: float) -> dict[str, Any]:
    """The budget after one more disruption (upstream's ``checkAndDecrement``); 429/403 when none is left."""
    name = meta.name(pdb)
    status = _d(pdb.get("status"))
    if int(status.get("observedGeneration") or 0) < int(meta.metadata(pdb).get("generation") or 0):
        raise still_processing(name)
    allowed = int(status.get("disruptionsAllowed") or 0)
    if allowed < 0:
        raise errors.Forbidden(f'poddisruptionbudgets.policy "{name}" is forbidden: pdb disruptions allowed is '
                               "negative", details={"name": name, "group": "policy", "kind": "poddisruptionbudgets"})
    disrupted = _d(status.get("disruptedPods"))
    if len(disrupted) > MAX_DISRUPTED_PODS:
        raise errors.Forbidden(f'poddisruptionbudgets.policy "{name}" is forbidden: DisruptedPods map too big - too '
                               "many evictions not confirmed by PDB controller",
                               details={"name": name, "group": "policy", "kind": "poddisruptionbudgets"})
    if allowed == 0:
        raise too_many_requests(f"The disruption budget {name} needs {int(status.get('desiredHealthy') or 0)} "
                                f"healthy pods and has {int(status.get('currentHealthy') or 0)} currently")
    out = copy.deepcopy(pdb)
    new_status = out.setdefault("status", {})
    new_status["disruptionsAllowed"] = allowed - 1
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    if allowed - 1 == 0:
        pdbs.set_disruption_allowed_condition(new_status, now=stamp)
    new_status["disruptedPods"] = {**disrupted, pod_name: stamp}
    return out
