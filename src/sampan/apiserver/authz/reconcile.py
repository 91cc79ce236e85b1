"""Applying the bootstrap policy at API server start, with upstream's reconciliation semantics.

For each bootstrap role or binding (written straight to the store, before the server takes requests):
* missing -> created;
* present with annotation ``rbac.authorization.kubernetes.io/autoupdate: "false"`` -> left alone;
* present otherwise -> missing rules (those its rules do not cover), missing aggregation selectors,
  missing labels/annotations and missing subjects are *added*; what a user added is kept. A binding
  whose ``roleRef`` differs is replaced (roleRef is immutable), as upstream.
Idempotent and safe with several servers on one store (a write that lost a race is retried once from
a fresh read; a second loss is left to the next start).
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from sampan.apiserver.authz import bootstrap
from sampan.apiserver.authz.coverage import covers
from sampan.apiserver.cacher.objects import decode_stored, encode_for_store
from sampan.apiserver.context import Scope, ServerContext
from sampan.apiserver.handlers.objectmeta import new_uid, timestamp
from sampan.apiserver.registry.base import as_dict, as_list
from sampan.storage import Conflict, KeyExists, KeyNotFound

log = logging.getLogger(__name__)
RBAC_GROUP = "rbac.authorization.k8s.io"


def _merge_meta(current: dict[str, Any], wanted: dict[str, Any]) -> None:
    md, want = current.setdefault("metadata", {}), wanted["metadata"]
    for key in ("labels", "annotations"):
        have = as_dict(md.get(key))
        md[key] = {**want.get(key, {}), **have}


def reconcile_role(current: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
    """``current`` with what ``wanted`` adds (a new dict; equal to ``current`` when nothing is missing)."""
    out = copy.deepcopy(current)
    _merge_meta(out, wanted)
    rules = as_list(out.get("rules"))
    for r in wanted.get("rules", []):
        if not covers(rules, [r])[0]:
            rules.append(copy.deepcopy(r))
    out["rules"] = rules
    if "aggregationRule" in wanted:
        agg = as_dict(out.get("aggregationRule"))
        selectors = as_list(agg.get("clusterRoleSelectors"))
        for s in wanted["aggregationRule"]["clusterRoleSelectors"]:
            if s not in selectors:
                selectors.append(copy.deepcopy(s))
        out["aggregationRule"] = {**agg, "clusterRoleSelectors": selectors}
    return out


def reconcile_binding(current: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(current)
    _merge_meta(out, wanted)
    subjects = as_list(out.get("subjects"))
    for s in wanted.get("subjects", []):
        if s not in subjects:
            subjects.append(copy.deepcopy(s))
    if subjects:
        out["subjects"] = subjects
    return out


def _auto_update(obj: dict[str, Any]) -> bool:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return str(annotations.get(bootstrap.AUTOUPDATE, "true")).lower() != "false"


async def _ensure(ctx: ServerContext, scope: Scope, wanted: dict[str, Any], *, binding: bool) -> None:
    md = wanted["metadata"]
    key = scope.key(md.get("namespace", ""), md["name"])
    for _ in range(2):
        try:
            kv = await ctx.store.get(key)
        except KeyNotFound:
            obj = copy.deepcopy(wanted)
            if not obj.get("subjects"):
                obj.pop("subjects", None)
            obj["metadata"].update(uid=new_uid(), creationTimestamp=timestamp(ctx.clock.wall()))
            try:
                await ctx.store.create(key, encode_for_store(obj))
                log.info("created bootstrap rbac object resource=%s name=%s", scope.info.resource, md["name"])
                return
            except KeyExists:
                continue
        current = decode_stored(kv.value, kv.mod_revision)
        current["metadata"].pop("resourceVersion", None)
        if not _auto_update(current):
            return
        if binding and current.get("roleRef") != wanted["roleRef"]:
            await ctx.store.delete(key, expected_mod_revision=kv.mod_revision)
            continue
        updated = reconcile_binding(current, wanted) if binding else reconcile_role(current, wanted)
        if updated == current:
            return
        try:
            await ctx.store.update(key, encode_for_store(updated), expected_mod_revision=kv.mod_revision)
            log.info("reconciled bootstrap rbac object resource=%s name=%s", scope.info.resource, md["name"])
            return
        except (Conflict, KeyNotFound):
            continue


async def ensure_bootstrap_policy(ctx: ServerContext) -> None:
    """Create or reconcile every bootstrap role and binding (roles first, so bindings resolve)."""
    plan = [("clusterroles", bootstrap.cluster_roles(), False), ("roles", bootstrap.namespaced_roles(), False),
            ("clusterrolebindings", bootstrap.cluster_role_bindings(), True),
            ("rolebindings", bootstrap.role_bindings(), True)]
    for resource, objects, binding in plan:
        scope = ctx.scope(RBAC_GROUP, "v1", resource)
        if scope is None:
            continue
        for wanted in objects:
            await _ensure(ctx, scope, wanted, binding=binding)
