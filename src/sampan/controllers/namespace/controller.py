"""Empty a Terminating namespace, then finalize it.

Keys are namespace names, queued on every namespace add/update and every ``resync_period``
(``--namespace-sync-period``). ``reconcile``:

1. namespace missing or not being deleted (no ``deletionTimestamp``) → nothing to do;
2. for every namespaced resource with list and delete verbs: delete the collection in the namespace
   (``deletecollection`` when served, otherwise one DELETE per listed object), then list what is left;
3. something left (objects held by finalizers, or created meanwhile) → record a
   ``NamespaceContentRemaining`` condition and come back after ``content_retry`` seconds (1 s, as
   upstream's estimate/2 + 1 with nothing to estimate);
4. nothing left → PUT the namespace's ``finalize`` subresource without ``kubernetes`` in
   ``spec.finalizers``; the API server removes the namespace when no finalizer remains.

Every step is idempotent: NotFound while deleting means someone else finished first, and a Conflict on
finalize is retried by the runner against a fresher cache.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sampan._lib.clock import Clock, RealClock
from sampan.api import errors
from sampan.api.humanize import format_rfc3339
from sampan.api.resources import ResourceInfo
from sampan.client import Client, EventHandlerFuncs, SharedIndexInformer, SharedInformerFactory
from sampan.controllers.namespace.discovery import preferred_resources
from sampan.controllers.runner import Enqueuer, Result

log = logging.getLogger(__name__)

FINALIZER = "kubernetes"
_VERBS = frozenset({"list", "delete"})


class NamespaceController:
    """Deletes a namespace's content and removes the ``kubernetes`` finalizer (see module docstring)."""

    name = "namespace"

    def __init__(self, client: Client, factory: SharedInformerFactory,
                 *, content_retry: float = 1.0, resync_period: float = 300.0, clock: Clock | None = None) -> None:
        self._client = client
        self._resync = resync_period
        self._content_retry = content_retry
        self._clock = clock or RealClock()
        self._informer = factory.informer("v1", "namespaces")
        self.namespaces = factory.lister("v1", "namespaces")

    def informers(self) -> Sequence[SharedIndexInformer]:
        return (self._informer,)

    def watch(self, queue: Enqueuer) -> None:
        self._informer.add_event_handler(EventHandlerFuncs(
            on_add_func=lambda ns: queue.add(ns["metadata"]["name"]),
            on_update_func=lambda _old, new: queue.add(new["metadata"]["name"])), resync_period=self._resync)

    async def reconcile(self, key: str) -> Result | None:
        try:
            ns = self.namespaces.get(key)
        except errors.NotFound:
            return None
        if not ns["metadata"].get("deletionTimestamp"):
            return None
        if FINALIZER not in ((ns.get("spec") or {}).get("finalizers") or []):
            return None
        remaining: dict[str, int] = {}
        for info in await preferred_resources(self._client, verbs=_VERBS, namespaced=True):
            left = await self._delete_all(info, key)
            if left:
                remaining[f"{info.resource}.{info.group}" if info.group else info.resource] = left
        if remaining:
            await self._set_condition(ns, remaining)
            log.info("namespace content remaining namespace=%s remaining=%s", key, remaining)
            return Result(requeue_after=self._content_retry)
        await self._finalize(ns)
        return None

    async def _delete_all(self, info: ResourceInfo, namespace: str) -> int:
        """Delete every object of ``info`` in ``namespace``; how many remain afterwards."""
        rc = self._client.resource_for(info)
        try:
            if "deletecollection" in info.verbs:
                await rc.delete_collection(namespace=namespace)
            else:
                for obj in (await rc.list_all(namespace=namespace)).get("items") or []:
                    try:
                        await rc.delete(obj["metadata"]["name"], namespace=namespace)
                    except errors.NotFound:
                        pass
            left = (await rc.list_all(namespace=namespace)).get("items") or []
        except (errors.NotFound, errors.MethodNotAllowed):
            return 0  # the resource went away or cannot be deleted here: nothing we can do about it
        return len(left)

    async def _set_condition(self, ns: dict[str, Any], remaining: dict[str, int]) -> None:
        message = "Some resources are remaining: " + ", ".join(
            f"{r} has {n} resource instances" for r, n in sorted(remaining.items()))
        status = dict(ns.get("status") or {})
        conditions = [c for c in status.get("conditions") or [] if c.get("type") != "NamespaceContentRemaining"]
        old = next((c for c in status.get("conditions") or [] if c.get("type") == "NamespaceContentRemaining"), None)
        if old is not None and old.get("message") == message:
            return
        conditions.append({"type": "NamespaceContentRemaining", "status": "True", "reason": "SomeResourcesRemain",
                           "message": message, "lastTransitionTime": format_rfc3339(self._clock.wall())})
        status["conditions"] = conditions
        nss = await self._client.resource("v1", "namespaces")
        try:
            await nss.update_status({**ns, "status": status})
        except (errors.Conflict, errors.NotFound):
            pass  # informational only; the next pass writes it again

    async def _finalize(self, ns: dict[str, Any]) -> None:
        spec = dict(ns.get("spec") or {})
        spec["finalizers"] = [f for f in spec.get("finalizers") or [] if f != FINALIZER]
        nss = await self._client.resource("v1", "namespaces")
        try:
            await nss.update({**ns, "spec": spec}, subresource="finalize")
        except errors.NotFound:
            return  # the namespace is gone (or the server has no finalize subresource: nothing else can do it)
        except errors.MethodNotAllowed as exc:
            log.warning("namespace finalize not served namespace=%s error=%s", ns["metadata"]["name"], exc)
            return
        log.info("namespace finalized namespace=%s", ns["metadata"]["name"])
