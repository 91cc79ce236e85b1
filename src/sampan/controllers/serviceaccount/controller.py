"""Ensure a ``default`` ServiceAccount in every active namespace.

Keys are namespace names. A namespace is (re)queued when it is added or updated and when a
ServiceAccount named ``default`` is deleted. ``reconcile`` is level-based: it creates the account when the
cache lacks it and the namespace is Active; an AlreadyExists answer means the cache was behind and is
success. Terminating or missing namespaces are left alone (the namespace controller is emptying them).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sampan.api import errors
from sampan.client import (
    Client,
    EventHandlerFuncs,
    SharedIndexInformer,
    SharedInformerFactory,
    meta_namespace_key,
    split_meta_namespace_key,
)
from sampan.controllers.runner import Enqueuer

log = logging.getLogger(__name__)

DEFAULT_NAME = "default"


class ServiceAccountController:
    """Creates the ``default`` ServiceAccount; see the module docstring for the key and trigger rules."""

    name = "serviceaccount"

    def __init__(self, client: Client, factory: SharedInformerFactory,
                 *, account_names: tuple[str, ...] = (DEFAULT_NAME,)) -> None:
        self._client = client
        self._names = account_names
        self._ns_informer = factory.informer("v1", "namespaces")
        self._sa_informer = factory.informer("v1", "serviceaccounts")
        self.namespaces = factory.lister("v1", "namespaces")
        self.accounts = factory.lister("v1", "serviceaccounts")

    def informers(self) -> Sequence[SharedIndexInformer]:
        return (self._ns_informer, self._sa_informer)

    def watch(self, queue: Enqueuer) -> None:
        self._ns_informer.add_event_handler(EventHandlerFuncs(
            on_add_func=lambda ns: queue.add(ns["metadata"]["name"]),
            on_update_func=lambda _old, new: queue.add(new["metadata"]["name"])))

        def account_deleted(obj: Any) -> None:
            namespace, name = split_meta_namespace_key(meta_namespace_key(obj))
            if name in self._names and namespace:
                queue.add(namespace)

        self._sa_informer.add_event_handler(EventHandlerFuncs(on_delete_func=account_deleted))

    async def reconcile(self, key: str) -> None:
        try:
            ns = self.namespaces.get(key)
        except errors.NotFound:
            return
        if ns["metadata"].get("deletionTimestamp") or (ns.get("status") or {}).get("phase") == "Terminating":
            return
        sas = await self._client.resource("v1", "serviceaccounts")
        for name in self._names:
            try:
                self.accounts.namespaced(key).get(name)
                continue
            except errors.NotFound:
                pass
            body = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": key}}
            try:
                await sas.create(body)
                log.info("created service account sa=%s/%s", key, name)
            except errors.AlreadyExists:
                pass
            except errors.Forbidden as exc:  # namespace began terminating between cache and write
                log.debug("service account not created sa=%s/%s error=%s", key, name, exc)
