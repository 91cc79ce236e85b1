"""The scheduler's view of PersistentVolumeClaims, PersistentVolumes and StorageClasses (upstream's PV/PVC
assume caches), fed by informers, with the VolumeBinding plugin's *assumptions* on top.

An assumption is a locally changed copy of an object (a volume given a ``claimRef``, a claim given the
``volume.kubernetes.io/selected-node`` annotation) made at Reserve, so the next pods' cycles do not pick a
volume a pod in its binding cycle is about to take. Invariants: the informer's object is kept as it is
(``informer_*``), the view (``claim``/``volume``/``volumes``) shows the assumption until ``restore`` drops it
or the informer delivers a different resourceVersion of that object (the API write landed, or something
else changed it: either way the informer's copy is the truth). ``changed()`` wakes every waiter (a PreBind
waiting for its claims to be bound) on any informer notification.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

Obj = dict[str, Any]


def _rv(obj: Obj | None) -> str:
    return str(((obj or {}).get("metadata") or {}).get("resourceVersion") or "")


def claim_key(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


class VolumeCache:
    def __init__(self) -> None:
        self._claims: dict[str, Obj] = {}
        self._volumes: dict[str, Obj] = {}
        self._classes: dict[str, Obj] = {}
        self._assumed_claims: dict[str, tuple[str, Obj]] = {}
        """key -> (resourceVersion it was assumed on, assumed copy)."""
        self._assumed_volumes: dict[str, tuple[str, Obj]] = {}
        self._waiters: set[asyncio.Future[None]] = set()

    # -- informer side -----------------------------------------------------------------------------------
    def set_claim(self, obj: Obj) -> None:
        md = obj.get("metadata") or {}
        key = claim_key(md.get("namespace") or "default", md.get("name") or "")
        self._claims[key] = obj
        self._drop_stale(self._assumed_claims, key, obj)
        self._notify()

    def delete_claim(self, obj: Obj) -> None:
        md = obj.get("metadata") or {}
        key = claim_key(md.get("namespace") or "default", md.get("name") or "")
        self._claims.pop(key, None)
        self._assumed_claims.pop(key, None)
        self._notify()

    def set_volume(self, obj: Obj) -> None:
        name = str((obj.get("metadata") or {}).get("name") or "")
        self._volumes[name] = obj
        self._drop_stale(self._assumed_volumes, name, obj)
        self._notify()

    def delete_volume(self, obj: Obj) -> None:
        name = str((obj.get("metadata") or {}).get("name") or "")
        self._volumes.pop(name, None)
        self._assumed_volumes.pop(name, None)
        self._notify()

    def set_class(self, obj: Obj) -> None:
        self._classes[str((obj.get("metadata") or {}).get("name") or "")] = obj
        self._notify()

    def delete_class(self, obj: Obj) -> None:
        self._classes.pop(str((obj.get("metadata") or {}).get("name") or ""), None)
        self._notify()

    @staticmethod
    def _drop_stale(assumed: dict[str, tuple[str, Obj]], key: str, obj: Obj) -> None:
        entry = assumed.get(key)
        if entry is not None and entry[0] != _rv(obj):
            del assumed[key]

    # -- the view ------------------------------------------------------------------------------------------
    def claim(self, namespace: str, name: str) -> Obj | None:
        key = claim_key(namespace, name)
        entry = self._assumed_claims.get(key)
        return entry[1] if entry is not None else self._claims.get(key)

    def informer_claim(self, namespace: str, name: str) -> Obj | None:
        return self._claims.get(claim_key(namespace, name))

    def volume(self, name: str) -> Obj | None:
        entry = self._assumed_volumes.get(name)
        return entry[1] if entry is not None else self._volumes.get(name)

    def informer_volume(self, name: str) -> Obj | None:
        return self._volumes.get(name)

    def volumes(self) -> Iterable[Obj]:
        for name, obj in self._volumes.items():
            entry = self._assumed_volumes.get(name)
            yield entry[1] if entry is not None else obj

    def storage_class(self, name: str) -> Obj | None:
        return self._classes.get(name)

    # -- assumptions -------------------------------------------------------------------------------------
    def assume_volume(self, obj: Obj) -> None:
        name = str(obj["metadata"]["name"])
        self._assumed_volumes[name] = (_rv(self._volumes.get(name)), obj)

    def assume_claim(self, obj: Obj) -> None:
        md = obj["metadata"]
        key = claim_key(md.get("namespace") or "default", md["name"])
        self._assumed_claims[key] = (_rv(self._claims.get(key)), obj)

    def restore_volume(self, name: str) -> None:
        self._assumed_volumes.pop(name, None)

    def restore_claim(self, namespace: str, name: str) -> None:
        self._assumed_claims.pop(claim_key(namespace, name), None)

    # -- waiting ---------------------------------------------------------------------------------------------
    def _notify(self) -> None:
        for fut in self._waiters:
            if not fut.done():
                fut.set_result(None)
        self._waiters.clear()

    async def changed(self, timeout: float) -> None:
        """Return at the next informer notification, or after ``timeout`` seconds (loop time)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(fut)
        try:
            await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            pass
        finally:
            self._waiters.discard(fut)
