"""Deletion semantics, as upstream's generic registry (``rest.BeforeDelete`` + the store's finalizer
handling): DeleteOptions parsing and the pure decision of what one DELETE does to one object.

DeleteOptions come from the body (JSON/YAML, optional) and the query (``gracePeriodSeconds``,
``propagationPolicy``, ``orphanDependents``, ``dryRun``); the query wins. Decision (:func:`plan`):

* preconditions (``uid``, ``resourceVersion``) that do not hold: 409 Conflict;
* garbage-collector finalizers: ``propagationPolicy: Orphan`` (or legacy ``orphanDependents: true``)
  puts ``orphan`` on the object, ``Foreground`` puts ``foregroundDeletion``, ``Background`` (the default
  for every built-in kind here) puts neither; each removes the other. Namespaces are left to their own
  lifecycle (``spec.finalizers``);
* graceful deletion (pods only): grace = ``gracePeriodSeconds`` or ``spec.terminationGracePeriodSeconds``
  (30), but 0 for a pod with no node or in a terminal phase. Grace > 0 sets ``deletionTimestamp`` (now +
  grace) and ``deletionGracePeriodSeconds`` and the pod stays until a DELETE with grace 0 (its kubelet);
  a second DELETE may only shorten the grace;
* an object with finalizers pending (after the above) is only marked (``deletionTimestamp``, grace 0;
  a namespace turns ``Terminating``); whoever removes the last finalizer deletes it (see
  :mod:`.guaranteed`);
* otherwise it is removed at once.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from sampan.api import errors, humanize, meta
from sampan.api.jsoncopy import json_copy
from sampan.apiserver.bodies import ACCEPTED, JSON_TYPES, YAML_TYPES, decode, media_type, read_raw
from sampan.apiserver.context import Scope
from sampan.apiserver.handlers import objectmeta as om
from sampan.apiserver.handlers.guaranteed import finalizers_pending
from sampan.apiserver.listoptions import parse_bool, parse_int
from sampan.apiserver.userinfo import ANONYMOUS, UserInfo, request_user

ORPHAN_FINALIZER = "orphan"
FOREGROUND_FINALIZER = "foregroundDeletion"
POLICIES = ("Orphan", "Background", "Foreground")
DEFAULT_POD_GRACE = 30


@dataclass
class DeleteOptions:
    grace: int | None = None
    policy: str | None = None
    orphan_dependents: bool | None = None
    preconditions: dict[str, Any] = field(default_factory=dict)
    dry: bool = False
    user: UserInfo = ANONYMOUS


def _invalid(causes: list[errors.Cause]) -> errors.Invalid:
    return errors.invalid_object("DeleteOptions", "", causes, group="meta.k8s.io")


async def read_delete_options(request: web.Request, *, max_bytes: int) -> DeleteOptions:
    """DeleteOptions from the body (may be empty) and the query; 400/422 when malformed."""
    raw = await read_raw(request, max_bytes=max_bytes)
    body: dict[str, Any] = {}
    if raw.strip():
        ctype = media_type(request)
        if ctype and ctype not in JSON_TYPES and ctype not in YAML_TYPES:
            raise errors.UnsupportedMediaType(
                f"the body of the request was in an unknown format - accepted media types include: {ACCEPTED}"
            )
        body = decode(raw, yaml_body=ctype in YAML_TYPES, expect="DeleteOptions")
    opts = DeleteOptions(dry=om.dry_run(request), user=request_user(request))
    grace = parse_int(request.query, "gracePeriodSeconds")
    opts.grace = grace if grace is not None else body.get("gracePeriodSeconds")
    opts.policy = request.query.get("propagationPolicy") or body.get("propagationPolicy")
    orphan = parse_bool(request.query, "orphanDependents") if "orphanDependents" in request.query else None
    opts.orphan_dependents = orphan if orphan is not None else body.get("orphanDependents")
    dry = body.get("dryRun")
    if dry is not None:
        if not isinstance(dry, list) or any(v != "All" for v in dry):
            raise errors.BadRequest(f'Invalid dryRun value: "{dry}": supported values: "All"')
        opts.dry = opts.dry or bool(dry)
    pre = body.get("preconditions")
    if pre is not None and not isinstance(pre, dict):
        raise errors.BadRequest("DeleteOptions.preconditions must be an object")
    opts.preconditions = pre or {}
    if opts.grace is not None and (not isinstance(opts.grace, int) or isinstance(opts.grace, bool)):
        raise errors.BadRequest("DeleteOptions.gracePeriodSeconds must be an integer")
    if opts.orphan_dependents is not None and not isinstance(opts.orphan_dependents, bool):
        raise errors.BadRequest("DeleteOptions.orphanDependents must be a boolean")
    if opts.policy is not None and opts.policy not in POLICIES:
        raise _invalid([errors.not_supported("propagationPolicy", opts.policy, list(POLICIES))])
    if opts.policy is not None and opts.orphan_dependents is not None:
        raise _invalid([errors.invalid("propagationPolicy", opts.policy,
                                       "orphanDependents and deletionPropagation cannot be both set")])
    return opts


def check_preconditions(opts: DeleteOptions, obj: dict[str, Any]) -> None:
    pre = opts.preconditions
    uid = pre.get("uid")
    if uid and uid != meta.uid(obj):
        raise errors.Conflict(f"Precondition failed: UID in precondition: {uid}, UID in object meta: {meta.uid(obj)}",
                              details={"name": meta.name(obj)})
    rv = pre.get("resourceVersion")
    if rv and rv != meta.resource_version(obj):
        raise errors.Conflict(f"Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in "
                              f"object meta: {meta.resource_version(obj)}", details={"name": meta.name(obj)})


def _gc_finalizers(scope: Scope, obj: dict[str, Any], opts: DeleteOptions) -> list[str]:
    """The object's finalizers after this DELETE's propagation choice (upstream's
    ``deletionFinalizersForGarbageCollection``)."""
    current = meta.finalizers(obj)
    if (scope.info.group, scope.info.resource) == ("", "namespaces"):
        return current
    orphan = foreground = False
    if opts.orphan_dependents is not None:
        orphan = opts.orphan_dependents
    elif opts.policy is not None:
        orphan, foreground = opts.policy == "Orphan", opts.policy == "Foreground"
    else:
        orphan = ORPHAN_FINALIZER in current
        foreground = not orphan and FOREGROUND_FINALIZER in current
    out = [f for f in current if f not in (ORPHAN_FINALIZER, FOREGROUND_FINALIZER)]
    if orphan:
        out.append(ORPHAN_FINALIZER)
    if foreground:
        out.append(FOREGROUND_FINALIZER)
    return current if set(out) == set(current) else out


def pod_grace(pod: dict[str, Any], requested: int | None) -> int:
    """Upstream's pod ``CheckGracefulDelete``: the grace period this DELETE gives the pod."""
    spec = pod.get("spec") if isinstance(pod.get("spec"), dict) else {}
    assert isinstance(spec, dict)
    grace = requested
    if grace is None:
        own = spec.get("terminationGracePeriodSeconds")
        grace = own if isinstance(own, int) and not isinstance(own, bool) else DEFAULT_POD_GRACE
    if not spec.get("nodeName"):
        return 0
    if meta.get_path(pod, "status.phase") in ("Failed", "Succeeded"):
        return 0
    return grace if grace >= 0 else 1


class Outcome(enum.Enum):
    REMOVE = "remove"  # delete from the store now
    UPDATE = "update"  # store the marked object; it stays
    UNCHANGED = "unchanged"  # deletion already pending; nothing to write


def plan(scope: Scope, obj: dict[str, Any], *, opts: DeleteOptions, now: float) -> tuple[Outcome, dict[str, Any]]:
    """What this DELETE does to ``obj`` (the stored object; not mutated): the outcome and the object
    to store (UPDATE) or answer with."""
    check_preconditions(opts, obj)
    graceful_kind = (scope.info.group, scope.info.resource) == ("", "pods")
    marked = json_copy(obj)
    md = marked["metadata"]
    if meta.deletion_timestamp(obj):
        current = md.get("deletionGracePeriodSeconds")
        if not graceful_kind or not isinstance(current, int) or opts.grace is None:
            return Outcome.UNCHANGED, obj
        period = opts.grace if opts.grace >= 0 else 1
        if period >= current:
            return Outcome.UNCHANGED, obj
        deadline = humanize.parse_rfc3339(md.get("deletionTimestamp"))
        started = (deadline if deadline is not None else now) - current
        md["deletionTimestamp"] = om.timestamp(started + period)
        md["deletionGracePeriodSeconds"] = period
        if period == 0 and not finalizers_pending(scope, marked):
            return Outcome.REMOVE, marked
        return Outcome.UPDATE, marked
    fins = _gc_finalizers(scope, obj, opts)
    if fins != meta.finalizers(obj):
        if fins:
            md["finalizers"] = fins
        else:
            md.pop("finalizers", None)
    grace = pod_grace(obj, opts.grace) if graceful_kind else 0
    if grace > 0:
        md["deletionTimestamp"] = om.timestamp(now + grace)
        md["deletionGracePeriodSeconds"] = grace
        if isinstance(md.get("generation"), int) and md["generation"] > 0:
            md["generation"] += 1
        return Outcome.UPDATE, marked
    if finalizers_pending(scope, marked):
        md["deletionTimestamp"] = om.timestamp(now)
        md["deletionGracePeriodSeconds"] = 0
        if (scope.info.group, scope.info.resource) == ("", "namespaces"):
            status = marked.setdefault("status", {})
            if isinstance(status, dict):
                status["phase"] = "Terminating"
        return Outcome.UPDATE, marked
    return Outcome.REMOVE, obj
