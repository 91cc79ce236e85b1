"""Keeping upstream's bootstrap configuration in the store (upstream's APF config-producer).

* a missing mandatory or suggested object is created;
* a mandatory object's spec is always put back to upstream's (an ``exempt`` level keeps the
  ``nominalConcurrencyShares``/``lendablePercent`` its owner set, as upstream allows) and its
  ``apf.kubernetes.io/autoupdate-spec`` annotation is ``"true"``;
* a suggested object's spec is put back only while that annotation is ``"true"``; set it to ``"false"``
  to keep your own spec.

Writes go through the ordinary create/update paths (validation, admission, managedFields), as the field
manager ``api-priority-and-fairness-config-producer-v1``. Idempotent: nothing is written when the store
already holds the desired state, so running it after every configuration change cannot loop.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from sampan.api import errors
from sampan.apiserver.context import Scope, ServerContext
from sampan.apiserver.flowcontrol import bootstrap
from sampan.apiserver.handlers.create import create_object
from sampan.apiserver.handlers.guaranteed import UpdateRequest, update_object
from sampan.apiserver.handlers.writeopts import WriteOptions

log = logging.getLogger(__name__)

GROUP, VERSION = "flowcontrol.apiserver.k8s.io", "v1"
MANAGER = "api-priority-and-fairness-config-producer-v1"


def scopes(ctx: ServerContext) -> tuple[Scope, Scope] | None:
    """(flowschemas, prioritylevelconfigurations), or None when the resources are not served."""
    fs = ctx.scope(GROUP, VERSION, "flowschemas")
    pl = ctx.scope(GROUP, VERSION, "prioritylevelconfigurations")
    return None if fs is None or pl is None else (fs, pl)


def _desired_spec(desired: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    spec = copy.deepcopy(desired["spec"])
    if desired["kind"] == "PriorityLevelConfiguration" and spec.get("type") == "Exempt":
        mine = (current.get("spec") or {}).get("exempt")
        if isinstance(mine, dict):
            for f in ("nominalConcurrencyShares", "lendablePercent"):
                if f in mine:
                    spec["exempt"][f] = mine[f]
    return spec


def _needs_update(desired: dict[str, Any], current: dict[str, Any], *, mandatory: bool) -> bool:
    annotation = ((current.get("metadata") or {}).get("annotations") or {}).get(bootstrap.AUTO_UPDATE_ANNOTATION)
    if not mandatory and annotation != "true":
        return False
    return annotation != "true" or current.get("spec") != _desired_spec(desired, current)


async def _ensure_one(ctx: ServerContext, scope: Scope, desired: dict[str, Any], *, mandatory: bool) -> bool:
    name = desired["metadata"]["name"]
    opts = WriteOptions(dry=False, manager=MANAGER, field_validation="Ignore")
    cached = scope.cache.objects.get(scope.key("", name))
    if cached is None:
        try:
            await create_object(ctx, scope, copy.deepcopy(desired), opts=opts)
            log.info("created flowcontrol object kind=%s name=%s", desired["kind"], name)
            return True
        except errors.AlreadyExists:
            return False
    if not _needs_update(desired, cached.obj, mandatory=mandatory):
        return False

    def transform(old: dict[str, Any]) -> dict[str, Any]:
        if _needs_update(desired, old, mandatory=mandatory):
            old["spec"] = _desired_spec(desired, old)
            old["metadata"].setdefault("annotations", {})[bootstrap.AUTO_UPDATE_ANNOTATION] = "true"
        old["metadata"].pop("resourceVersion", None)
        return old

    try:
        _, changed = await update_object(ctx, UpdateRequest(scope, "", name, None, transform, opts))
    except errors.NotFound:
        return False
    if changed:
        log.info("restored flowcontrol object spec kind=%s name=%s", desired["kind"], name)
    return changed


async def ensure_configuration(ctx: ServerContext) -> int:
    """Create or restore the bootstrap objects (see the module docstring); returns how many were written."""
    found = scopes(ctx)
    if found is None:
        return 0
    fs, pl = found
    writes = 0
    for obj in bootstrap.mandatory_levels():
        writes += await _ensure_one(ctx, pl, obj, mandatory=True)
    for obj in bootstrap.suggested_levels():
        writes += await _ensure_one(ctx, pl, obj, mandatory=False)
    for obj in bootstrap.mandatory_schemas():
        writes += await _ensure_one(ctx, fs, obj, mandatory=True)
    for obj in bootstrap.suggested_schemas():
        writes += await _ensure_one(ctx, fs, obj, mandatory=False)
    return writes
