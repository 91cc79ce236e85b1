"""Store latency metrics: a Storage wrapper that times every call of the store it wraps.

Installed by the API server through :meth:`sampan.apiserver.metrics.APIMetrics.instrument`; the
figures land in ``etcd_request_duration_seconds{operation,type}`` and ``etcd_request_errors_total``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

import orjson

from sampan._lib import tracing
from sampan.storage.interface import KeyValue, ListResult, Storage, Watch

if TYPE_CHECKING:
    from sampan.apiserver.metrics import APIMetrics


def _uid_of(value: bytes) -> str:
    """``metadata.uid`` of a stored JSON object ("" when absent or not JSON). Only called while tracing."""
    if not value:
        return ""
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError:
        return ""
    md = obj.get("metadata") if isinstance(obj, dict) else None
    uid = md.get("uid") if isinstance(md, dict) else None
    return uid if isinstance(uid, str) else ""


def _storage_type(key: str, root: str) -> str:
    rest = key[len(root):] if key.startswith(root) else key.lstrip("/")
    return rest.split("/", 1)[0] or "unknown"


class InstrumentedStorage:
    """A :class:`~sampan.storage.interface.Storage` that times each call of the one it wraps.

    Only latency is added: results, exceptions and watch streams pass through unchanged. The ``type``
    label is the resource segment of the key (``/registry/pods/ns/x`` -> ``pods``).
    """

    def __init__(self, inner: Storage, metrics: APIMetrics) -> None:
        self._inner = inner
        self._metrics = metrics

    @property
    def root(self) -> str:
        return self._inner.root

    @property
    def inner(self) -> Storage:
        return self._inner

    async def _timed(self, operation: str, key: str, call: Awaitable[Any]) -> Any:
        start = time.perf_counter()
        failed = False
        try:
            return await call
        except Exception:
            failed = True
            raise
        finally:
            self._metrics.observe_storage(operation, _storage_type(key, self._inner.root),
                                          time.perf_counter() - start, failed=failed)

    async def create(self, key: str, value: bytes) -> int:
        if tracing.STATE.on:
            return await self._traced_write("create", key, value, self._inner.create(key, value))
        result: int = await self._timed("create", key, self._inner.create(key, value))
        return result

    async def _traced_write(self, operation: str, key: str, value: bytes | None, call: Awaitable[Any]) -> Any:
        """A write as a ``storage.<operation>`` step of the request span, with the key, the object's uid
        (decoded from the stored bytes, only while tracing) and the revision the store assigned."""
        with tracing.step(f"storage.{operation}") as step:
            result = await self._timed(operation, key, call)
            rev = result if isinstance(result, int) else getattr(result, "mod_revision", None)
            if isinstance(rev, int):
                step.set_attribute(tracing.RV, str(rev))
        # the request span names the object it wrote (its steps inherit the uid in the trace store)
        uid = _uid_of(value if value is not None else result.value if isinstance(result, KeyValue) else b"")
        tracing.annotate({tracing.UID: uid, tracing.RV: str(rev) if isinstance(rev, int) else ""})
        return result

    async def get(self, key: str, *, revision: int | None = None) -> KeyValue:
        result: KeyValue = await self._timed("get", key, self._inner.get(key, revision=revision))
        return result

    async def list(
        self, prefix: str, *, revision: int | None = None, limit: int = 0, start_after: str | None = None
    ) -> ListResult:
        result: ListResult = await self._timed(
            "list", prefix, self._inner.list(prefix, revision=revision, limit=limit, start_after=start_after)
        )
        return result

    async def count(self, prefix: str) -> int:
        result: int = await self._timed("count", prefix, self._inner.count(prefix))
        return result

    async def update(self, key: str, value: bytes, *, expected_mod_revision: int) -> int:
        if tracing.STATE.on:
            return await self._traced_write("update", key, value, self._inner.update(
                key, value, expected_mod_revision=expected_mod_revision))
        result: int = await self._timed(
            "update", key, self._inner.update(key, value, expected_mod_revision=expected_mod_revision)
        )
        return result

    async def delete(self, key: str, *, expected_mod_revision: int | None = None) -> KeyValue:
        if tracing.STATE.on:
            return await self._traced_write("delete", key, None, self._inner.delete(
                key, expected_mod_revision=expected_mod_revision))
        result: KeyValue = await self._timed(
            "delete", key, self._inner.delete(key, expected_mod_revision=expected_mod_revision)
        )
        return result

    def watch(self, prefix: str, *, after_revision: int) -> Watch:
        return self._inner.watch(prefix, after_revision=after_revision)

    async def compact(self, revision: int) -> None:
        await self._timed("compact", self._inner.root, self._inner.compact(revision))

    async def current_revision(self) -> int:
        result: int = await self._timed("current_revision", self._inner.root, self._inner.current_revision())
        return result

    async def compacted_revision(self) -> int:
        return await self._inner.compacted_revision()

    async def close(self) -> None:
        await self._inner.close()

    def __getattr__(self, name: str) -> Any:
        # Anything beyond the protocol (backend specifics used by tests or tools) passes through.
        return getattr(self._inner, name)
