"""One storage watch on one etcd watch stream.

States::

    idle --iterate--> streaming --(close | error | overflow | store closed)--> closed
      \\--close------------------------------------------------------------------^

While streaming, a reader task owned by the watch reads etcd's responses and offers each response's
events as one batch to a bounded :class:`~sampan.storage.broadcaster.Subscription`; the consumer
takes batches from it. A consumer that falls ``queue_size`` batches behind is closed with
WatchClosed (it re-watches from its last revision), so memory stays bounded however slow it is.
Errors end the iteration: Compacted when etcd says the start revision is compacted, Unavailable
when the stream to the member breaks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from aetcd import rpc
from grpc.aio import EOF

from sampan.storage.broadcaster import Subscription
from sampan.storage.errors import Compacted, InvalidKey, StorageError, Unavailable, WatchClosed
from sampan.storage.etcd.connection import translate
from sampan.storage.interface import Event, EventType

log = logging.getLogger(__name__)

_REQUIRE_LEADER = (("hasleader", "true"),)


def decode_key(raw: bytes) -> str:
    """etcd key bytes -> str; bytes that are not UTF-8 survive as surrogate escapes."""
    return raw.decode("utf-8", "surrogateescape")


def encode_key(key: str) -> bytes:
    """The inverse of :func:`decode_key`. Raises InvalidKey for a string UTF-8 cannot encode."""
    try:
        return key.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as e:
        raise InvalidKey(key, f"not encodable as UTF-8: {e.reason}") from e


def to_event(ev: Any) -> Event:
    """A storage event from an etcd ``mvccpb.Event`` (watched with ``prev_kv``).

    A PUT whose create and mod revisions are equal started a key's life (CREATED); a DELETE carries
    the last value from ``prev_kv`` (empty when that history was compacted).
    """
    kv = ev.kv
    key = decode_key(kv.key)
    has_prev = ev.HasField("prev_kv")
    if ev.type == rpc.Event.DELETE:
        last = ev.prev_kv.value if has_prev else b""
        return Event(EventType.DELETED, key, kv.mod_revision, last, last)
    if kv.create_revision == kv.mod_revision:
        return Event(EventType.CREATED, key, kv.mod_revision, kv.value, None)
    return Event(EventType.UPDATED, key, kv.mod_revision, kv.value, ev.prev_kv.value if has_prev else None)


class EtcdWatch:
    """A :class:`~sampan.storage.interface.Watch` over one etcd watch stream; iterate it once."""

    def __init__(
        self,
        stub: Any,
        *,
        key: bytes,
        range_end: bytes,
        after_revision: int,
        queue_size: int,
        on_done: Callable[[EtcdWatch], None],
        on_compacted: Callable[[int], None],
    ) -> None:
        self._stub = stub
        self._key = key
        self._range_end = range_end
        self._after = after_revision
        self._sub = Subscription(decode_key(key), queue_size)
        self._on_done = on_done
        self._on_compacted = on_compacted
        self._task: asyncio.Task[None] | None = None
        self._started = False

    def __aiter__(self) -> AsyncIterator[Event]:
        if self._started:
            raise StorageError("a watch can be iterated only once; open a new one to resume")
        self._started = True
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        if self._sub.closed:
            # Closed before the first iteration: end (or raise why the store closed it).
            await self._sub.next_batch()
            return
        self._task = asyncio.create_task(self._pump(), name=f"etcd-watch {decode_key(self._key)}")
        try:
            while True:
                batch = await self._sub.next_batch()
                if batch is None:
                    return
                for event in batch:
                    yield event
        finally:
            await self._stop(None)

    async def _pump(self) -> None:
        """Reader task: etcd responses -> subscription batches, until an error, overflow or cancel."""
        # Like upstream clients, require a leader: a member cut off from its cluster ends the stream
        # (Unavailable) instead of keeping a watch that silently receives nothing.
        call = self._stub.Watch(metadata=_REQUIRE_LEADER)
        create = rpc.WatchCreateRequest(
            key=self._key, range_end=self._range_end, start_revision=self._after + 1, prev_kv=True
        )
        try:
            await call.write(rpc.WatchRequest(create_request=create))
            while not self._sub.closed:
                response = await call.read()
                if response is EOF:
                    self._sub.close(Unavailable("etcd ended the watch stream"))
                elif response.compact_revision:
                    self._on_compacted(int(response.compact_revision))
                    self._sub.close(Compacted(self._after, response.compact_revision))
                elif response.canceled:
                    self._sub.close(WatchClosed(f"etcd cancelled the watch: {response.cancel_reason}"))
                elif response.events:
                    self._sub.offer([to_event(e) for e in response.events])
        except rpc.AioRpcError as e:
            self._sub.close(translate(e, requested=self._after))
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a bug here must end the watch, not hang its consumer
            log.exception("etcd watch reader failed prefix=%s", decode_key(self._key))
            self._sub.close(StorageError(f"etcd watch failed: {e!r}"))
        finally:
            call.cancel()

    async def _stop(self, error: Exception | None) -> None:
        self._sub.close(error)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])
        self._on_done(self)

    def fail(self, error: Exception) -> None:
        """Mark a watch that never started as failed: its iteration raises ``error``."""
        self._sub.close(error)

    async def close(self) -> None:
        """Stop the stream; a pending or later iteration ends normally."""
        await self._stop(None)

    async def abort(self, error: Exception) -> None:
        """Stop the stream; the consumer's iteration raises ``error`` (the store is closing)."""
        await self._stop(error)
