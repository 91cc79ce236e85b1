"""The read-modify-write loop behind every update of a stored object: PUT, PATCH (all types, apply
included), the ``status`` / ``scale`` / ``finalize`` subresources.

``update_object`` reads the stored object, hands a private copy to the request's ``transform`` (PUT:
"the body", which reads nothing of it and gets no copy — ``UpdateRequest.replaces``; PATCH: "old with the
patch applied"), then, as upstream's GuaranteedUpdate + update strategy:

1. checks the result against the URL (kind, name, namespace) and its preconditions: a
   ``metadata.resourceVersion`` or ``metadata.uid`` that is set and differs from the stored one is 409
   Conflict, never retried;
2. keeps the system fields of the stored object (uid, creationTimestamp, deletionTimestamp, grace,
   generation) and runs the strategy's ``prepare_for_update`` (or the subresource's preparation);
3. bumps ``metadata.generation`` when the strategy says the spec changed (main resource only);
4. validates (422, nothing stored; a ``status`` write also with the kind's status rules,
   :mod:`sampan.apiserver.registry.status_validation`), records the write in ``metadata.managedFields`` (unless the
   transform was a server-side apply, which did that itself);
5. writes with compare-and-swap on the version it read; a concurrent write retries from step 1: the
   transform runs again on the newer object (a patch is re-applied, a PUT body re-checked), so only a
   request that itself carries a ``resourceVersion`` (or uid) precondition can end in 409 — upstream's
   GuaranteedUpdate loop, which retries without limit (every failed compare-and-swap means another
   write committed, so the system as a whole always progresses).

Within one server, updates of the same key take turns (:class:`KeyLocks`), so concurrent patches of
one object (a controller labelling a pod while its kubelet writes status) do not each fail their
compare-and-swap and re-read in a storm; writers on other servers or paths are still handled by the
compare-and-swap.

An update that changes nothing is not written (the stored object comes back, same version). An update
of an object being deleted that removes its last pending finalizer deletes it, unless a graceful
deletion is still running (upstream's ``ShouldDeleteDuringUpdate``).
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sampan.api import errors, meta
from sampan.apiserver import admission
from sampan.apiserver.cacher.objects import encode_for_store
from sampan.apiserver.context import Scope, ServerContext
from sampan.apiserver.flowcontrol.seats import release_for_commit
from sampan.apiserver.handlers import objectmeta as om
from sampan.apiserver.handlers.writeopts import WriteOptions, record_update
from sampan.apiserver.listoptions import parse_resource_version
from sampan.apiserver.registry.status_validation import validate_status_update
from sampan.apiserver.services import hooks as service_hooks
from sampan.apiserver.storage_errors import MODIFIED, to_api_error
from sampan.storage import Conflict, KeyNotFound, KeyValue, StorageError

log = logging.getLogger(__name__)

_KEPT_META = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds")

Transform = Callable[[dict[str, Any]], dict[str, Any]]
"""A private copy of the stored object -> the object the request asks for (before system fields)."""


class KeyLocks:
    """One asyncio lock per store key, held only while some update of that key runs or waits.

    Invariant: a key is in ``_locks`` iff its count of holders + waiters (``_users``) is positive."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    def hold(self, key: str) -> _Held:
        """``async with locks.hold(key):`` runs the block as the only holder of ``key``'s lock."""
        return _Held(self, key)

    async def _acquire(self, key: str) -> None:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        self._users[key] = self._users.get(key, 0) + 1
        try:
            await lock.acquire()
        except BaseException:  # cancelled while waiting: no longer a user
            self._leave(key)
            raise

    def _release(self, key: str) -> None:
        self._locks[key].release()
        self._leave(key)

    def _leave(self, key: str) -> None:
        self._users[key] -= 1
        if not self._users[key]:
            del self._users[key], self._locks[key]

    def __len__(self) -> int:
        return len(self._locks)


class _Held:
    """The context manager :meth:`KeyLocks.hold` returns (a class, not a generator: every update enters one)."""

    __slots__ = ("_key", "_locks")

    def __init__(self, locks: KeyLocks, key: str) -> None:
        self._locks, self._key = locks, key

    async def __aenter__(self) -> None:
        await self._locks._acquire(self._key)

    async def __aexit__(self, *exc: object) -> None:
        self._locks._release(self._key)


_LOCKS_KEY = "guaranteed-update-locks"


def key_locks(ctx: ServerContext) -> KeyLocks:
    """The server's :class:`KeyLocks` (created on first use)."""
    locks = ctx.extras.get(_LOCKS_KEY)
    if not isinstance(locks, KeyLocks):
        locks = ctx.extras[_LOCKS_KEY] = KeyLocks()
    return locks


@dataclass(frozen=True)
class UpdateRequest:
    scope: Scope
    namespace: str
    name: str
    subresource: str | None
    transform: Transform
    opts: WriteOptions
    managed_by_transform: bool = False
    """True for server-side apply: the transform already set managedFields."""
    replaces: bool = False
    """True when ``transform`` ignores the object it is handed (a PUT: the body replaces it); it is then
    handed the decoded current object itself instead of a private copy (a second decode)."""


def finalizers_pending(scope: Scope, obj: dict[str, Any]) -> bool:
    """True while something must still finalize ``obj`` (metadata finalizers, or a namespace's
    ``spec.finalizers``)."""
    if meta.finalizers(obj):
        return True
    if scope.info.group == "" and scope.info.resource == "namespaces":
        spec = obj.get("spec")
        return isinstance(spec, dict) and bool(spec.get("finalizers"))
    return False


def should_delete_during_update(scope: Scope, new: dict[str, Any], old: dict[str, Any]) -> bool:
    """Upstream's ``ShouldDeleteDuringUpdate``: the update removed the last pending finalizer of an object
    being deleted whose grace period is over (0 or none; a graceful pod still waits for its kubelet)."""
    if finalizers_pending(scope, new) or not finalizers_pending(scope, old) or not meta.deletion_timestamp(old):
        return False
    grace = meta.metadata(new).get("deletionGracePeriodSeconds")
    return grace is None or grace == 0


def merge_system_fields(new_md: dict[str, Any], old_md: dict[str, Any]) -> None:
    for key in _KEPT_META:
        if key == "uid" and new_md.get(key):
            continue  # a different uid is reported by validation as immutable
        if key in old_md:
            new_md[key] = old_md[key]
        else:
            new_md.pop(key, None)


def same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return encode_for_store(a) == encode_for_store(b)


def _expected_version(obj: dict[str, Any]) -> int | None:
    rv = meta.resource_version(obj)
    return parse_resource_version(rv) if rv else None


async def update_object(ctx: ServerContext, req: UpdateRequest) -> tuple[dict[str, Any], bool]:
    """Run the update; returns (the stored — or, for dry run, would-be — object, whether it changed)."""
    key = req.scope.key(req.namespace, req.name)
    async with key_locks(ctx).hold(key):
        return await _update_locked(ctx, req, key)


async def _update_locked(ctx: ServerContext, req: UpdateRequest, key: str) -> tuple[dict[str, Any], bool]:
    scope, info = req.scope, req.scope.info
    now = ctx.clock.wall()
    attempt = 0
    fresh = req.opts.dry  # whether ``kv`` came from the store (True) or, first, from the watch cache
    while True:
        attempt += 1
        kv = None if fresh else cached_state(scope, key)
        if kv is None:
            fresh = True
            try:
                kv = await ctx.store.get(key)
            except KeyNotFound:
                raise errors.not_found(info.resource, req.name, info.group) from None
            except StorageError as exc:
                raise to_api_error(exc, resource=info.resource, group=info.group, name=req.name) from None
        try:
            old, new, attrs = await _prepare_update(ctx, req, kv, now)
        except errors.APIError:
            if fresh:
                raise
            fresh = True  # judged on a possibly stale cached state: judge again on the store's
            continue
        if same(new, old):
            if fresh:
                return old, False
            fresh = True  # "no change" only counts against the current state
            continue
        attrs.obj = new
        await admission.validate(ctx, attrs)
        deleting = should_delete_during_update(scope, new, old)
        # cluster IP / node ports a type change needs (released again unless the write succeeds)
        allocation = None if deleting else await service_hooks.begin_update(
            ctx, scope, new, old, subresource=req.subresource, dry=req.opts.dry)
        if req.opts.dry:
            return new, True
        try:
            if deleting:
                gone = await ctx.store.delete(key, expected_mod_revision=kv.mod_revision)
                new["metadata"]["resourceVersion"] = str(gone.mod_revision)
                log.info("finalized and deleted resource=%s name=%s", info.resource, req.name)
                await service_hooks.after_delete(ctx, scope, old)
                return new, True
            value = await scope.encode_async(new)
            release_for_commit()  # only the commit is left: APF's seats go back (flowcontrol/seats.py)
            rev = await ctx.store.update(key, value, expected_mod_revision=kv.mod_revision)
        except Conflict:
            if allocation is not None:
                await allocation.revert()
            # Re-read and run the transform again: a precondition the request carries is checked
            # against the newer object above (409 there); anything else is simply re-applied.
            log.debug("update raced another write, retrying resource=%s name=%s attempt=%d",
                      info.resource, req.name, attempt)
            fresh = True
            continue
        except BaseException as exc:
            if allocation is not None:
                await allocation.revert()
            if isinstance(exc, KeyNotFound):
                raise errors.not_found(info.resource, req.name, info.group) from None
            if isinstance(exc, StorageError):
                raise to_api_error(exc, resource=info.resource, group=info.group, name=req.name) from None
            raise
        if allocation is not None:
            await allocation.commit()
        new["metadata"]["resourceVersion"] = str(rev)
        return new, True


def cached_state(scope: Scope, key: str) -> KeyValue | None:
    """The watch cache's state of ``key`` as a store read would return it, or None if it holds none.

    Upstream's Cacher hands GuaranteedUpdate the cached object as a first guess (``cachedExistingObject``):
    it saves the store read on the hot write paths (pod status, Leases). The guess may be stale; callers
    only use it under a compare-and-swap and judge again on a store read whenever it fails, a check
    refuses it, or it makes the write a no-op."""
    cached = scope.cache.objects.get(key)
    if cached is None:
        return None
    return KeyValue(key, cached.raw, 0, cached.rv)


async def _prepare_update(ctx: ServerContext, req: UpdateRequest, kv: KeyValue,
                          now: float) -> tuple[dict[str, Any], dict[str, Any], admission.Attributes]:
    """Steps 1-4 of the module docstring on the state ``kv``: (old, new, admission attributes). Raises
    the request's APIError (precondition, admission, validation)."""
    scope, info = req.scope, req.scope.info
    if scope.view is not None and scope.view.remote is not None:  # one conversion webhook call, then a copy
        old = await scope.decode_async(kv.value, kv.mod_revision)
        new = req.transform(old if req.replaces else copy.deepcopy(old))
    else:
        old = scope.decode(kv.value, kv.mod_revision)
        # a second decode is a deep copy, 10x cheaper; none when the transform does not read it
        new = req.transform(old if req.replaces else scope.decode(kv.value, kv.mod_revision))
    om.check_body(new, scope, namespace=req.namespace or None, name=req.name)
    uid = new["metadata"].get("uid")
    if uid and uid != meta.uid(old):
        raise errors.Conflict(f"Precondition failed: UID in precondition: {uid}, UID in object meta: "
                              f"{meta.uid(old)}", details={"name": req.name, "kind": info.resource})
    expected = _expected_version(new)
    if expected is not None and expected != kv.mod_revision:
        raise errors.conflict(info.resource, req.name, MODIFIED, info.group)
    new_md, old_md = new["metadata"], old["metadata"]
    merge_system_fields(new_md, old_md)
    new_md["generation"] = old_md.get("generation")
    if new_md["generation"] is None:
        del new_md["generation"]
    attrs = admission.attributes(scope, "UPDATE", obj=new, old=old, namespace=req.namespace, name=req.name,
                                 subresource=req.subresource, user=req.opts.user, dry_run=req.opts.dry,
                                 warnings=req.opts.warnings)
    await admission.admit(ctx, attrs)
    prepare(scope, req.subresource, new, old)
    if (req.subresource in (None, "scale") and om.tracks_generation(scope, new) and "generation" in old_md
            and om.call_strategy(scope, scope.strategy.spec_changed, new, old)):
        new["metadata"]["generation"] = int(old_md["generation"]) + 1
    per_path = getattr(scope.strategy, "validate_subresource_update", None)
    if per_path is not None:  # a kind whose every write path has its own rules (CSRs)
        causes = om.call_strategy(scope, per_path, req.subresource, new, old)
    else:
        causes = om.call_strategy(scope, scope.strategy.validate_update, new, old)
    if req.subresource == "status":  # upstream's ValidateXStatusUpdate
        causes = causes + om.call_strategy(scope, validate_status_update, scope.strategy, new, old)
    om.raise_invalid(scope, req.name, causes)
    if not req.managed_by_transform:
        new = record_update(scope, old, new, manager=req.opts.manager, now=now, subresource=req.subresource,
                            in_place=True)  # ``new`` is this attempt's own object
    new["metadata"]["resourceVersion"] = str(kv.mod_revision)
    return old, new, attrs


def prepare(scope: Scope, subresource: str | None, new: dict[str, Any], old: dict[str, Any]) -> None:
    strategy = scope.strategy
    if subresource in (None, "scale"):
        om.call_strategy(scope, strategy.prepare_for_update, new, old)
    elif subresource == "status":
        status_hook = getattr(strategy, "prepare_for_status_update", None)
        if status_hook is None:
            raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")
        om.call_strategy(scope, status_hook, new, old)
    elif subresource == "finalize":
        spec = new.get("spec") if isinstance(new.get("spec"), dict) else {}
        finalizers = spec.get("finalizers") if isinstance(spec, dict) else None
        rv = meta.resource_version(new)
        new.clear()
        new.update(copy.deepcopy(old))
        new_spec = new.setdefault("spec", {})
        if finalizers:
            new_spec["finalizers"] = finalizers
        else:
            new_spec.pop("finalizers", None)
        if rv:
            new["metadata"]["resourceVersion"] = rv
    else:  # a kind's own subresource (CSR ``approval``): its ``prepare_for_<sub>_update`` hook
        hook = getattr(strategy, f"prepare_for_{subresource}_update", None)
        if hook is None:
            raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")
        om.call_strategy(scope, hook, new, old)
