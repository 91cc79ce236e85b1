"""EtcdStorage: the storage contract on etcd v3, one etcd operation per storage operation.

Mapping (every write is a single etcd transaction, so it is atomic and linearizable):

- create: ``txn(create_revision(key) == 0) put`` -> KeyExists when the compare fails.
- update: ``txn(mod_revision(key) == expected) put else range(key)`` -> the failure branch tells
  KeyNotFound (no kv) from Conflict (its actual mod revision), in the same round trip.
- delete: ``delete_range(prev_kv)``, or ``txn(mod_revision == expected) delete(prev_kv) else range``;
  the deleted value comes back with ``mod_revision`` = the transaction's header revision.
- get/list: linearizable ``Range`` at a revision, with ``limit``; a page after ``start_after`` ranges
  from ``start_after + "\\0"`` to the prefix end; ``more`` is etcd's.
- current_revision: the header revision of a ``count_only`` range.

Compacted revision: etcd does not report it, so — like kube-apiserver — compaction records the
revision in the key ``compact_rev_key`` (outside the root) after compacting. ``compacted_revision()``
is the larger of that key's value and the highest compacted revision this process learned (from its
own compactions and from watches refused as compacted). Reads below it fail in etcd itself with
OUT_OF_RANGE, which becomes Compacted.

Revisions are etcd's: strictly increasing, but not gap-free (the compaction record, or another
client of the same etcd, takes revisions too).
"""

from __future__ import annotations

import asyncio
import builtins
import logging
from typing import Any, NoReturn

from aetcd import rpc

from sampan.storage.errors import (
    Compacted,
    Conflict,
    KeyExists,
    KeyNotFound,
    StorageError,
    Unavailable,
    ValueTooLarge,
    WatchClosed,
)
from sampan.storage.etcd.connection import (
    EtcdTLS,
    is_too_large,
    open_channel,
    resolve_target,
    server_name,
    translate,
)
from sampan.storage.etcd.watch import EtcdWatch, decode_key, encode_key
from sampan.storage.interface import MAX_VALUE_BYTES, KeyValue, ListResult, Watch
from sampan.storage.keys import DEFAULT_ROOT, check_key, check_prefix, check_value

log = logging.getLogger(__name__)

#: Where the last compaction is recorded (the key kube-apiserver uses for the same purpose).
COMPACT_REV_KEY = b"compact_rev_key"


def range_end_of(prefix: bytes) -> bytes:
    """The smallest key greater than every key starting with ``prefix`` (b"\\0" = to the end)."""
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\0"


def _kv(raw: Any) -> KeyValue:
    return KeyValue(decode_key(raw.key), raw.value, raw.create_revision, raw.mod_revision)


def _compare(key: bytes, target: str, value: int) -> Any:
    """``target(key) == value`` for target ``create_revision`` or ``mod_revision``."""
    kind = rpc.Compare.CREATE if target == "create_revision" else rpc.Compare.MOD
    return rpc.Compare(key=key, target=kind, result=rpc.Compare.EQUAL, **{target: value})


class EtcdStorage:
    """A :class:`~sampan.storage.interface.Storage` on an etcd v3 cluster. Open with :meth:`open`."""

    def __init__(
        self,
        channel: Any,
        *,
        root: str = DEFAULT_ROOT,
        request_timeout: float = 10.0,
        watch_queue_size: int = 4096,
    ) -> None:
        if not root or COMPACT_REV_KEY.decode().startswith(root):
            raise ValueError(f"storage root {root!r} must be a non-empty prefix such as {DEFAULT_ROOT!r}")
        self._channel = channel
        self._kv_stub = rpc.KVStub(channel)
        self._watch_stub = rpc.WatchStub(channel)
        self._root = root
        self._timeout = request_timeout
        self._watch_queue_size = watch_queue_size
        self._compacted = 0
        self._watches: set[EtcdWatch] = set()
        self._closed = False

    @classmethod
    async def open(
        cls,
        urls: builtins.list[str],
        *,
        root: str = DEFAULT_ROOT,
        request_timeout: float = 10.0,
        dial_timeout: float = 10.0,
        watch_queue_size: int = 4096,
        tls: EtcdTLS | None = None,
    ) -> EtcdStorage:
        """Connect to the members at ``urls`` (``http://host:port``, ``https://`` with ``tls``); wait up to
        ``dial_timeout`` for one to answer. Raises ValueError for a bad URL, Unavailable when no member
        answers."""
        target = await resolve_target(urls, tls=tls is not None)
        channel = open_channel(target, tls=tls, name=server_name(urls))
        store = cls(channel, root=root, request_timeout=request_timeout, watch_queue_size=watch_queue_size)
        try:
            request = rpc.RangeRequest(key=COMPACT_REV_KEY)
            await store._kv_stub.Range(request, timeout=dial_timeout, wait_for_ready=True)
        except rpc.AioRpcError as e:
            await store.close()
            where = ", ".join(urls)
            raise Unavailable(f"no etcd member answered at {where} within {dial_timeout}s: {e.details()}") from e
        log.info("etcd storage open target=%s root=%s", target, root)
        return store

    @property
    def root(self) -> str:
        return self._root

    def _check_open(self) -> None:
        if self._closed:
            raise WatchClosed("store closed")

    async def _call(self, method: Any, request: Any, *, key: str = "", requested: int = 0, size: int = 0) -> Any:
        """One unary call with the request timeout; gRPC failures become storage errors."""
        self._check_open()
        try:
            return await method(request, timeout=self._timeout)
        except rpc.AioRpcError as e:
            if is_too_large(e):
                raise ValueTooLarge(key, size, MAX_VALUE_BYTES) from e
            error = translate(e, requested=requested, compacted=self._compacted)
            if isinstance(error, Compacted):
                # etcd only says "compacted": the revision is at least one past the one asked for.
                self._learn_compaction(max(requested + 1, await self._recorded_compaction()))
                error.compacted = self._compacted
            raise error from e

    def _learn_compaction(self, revision: int) -> None:
        self._compacted = max(self._compacted, revision)

    async def _txn(self, compare: builtins.list[Any], success: Any, failure: Any, *, key: str, size: int = 0) -> Any:
        request = rpc.TxnRequest(compare=compare, success=[success], failure=[failure] if failure else [])
        return await self._call(self._kv_stub.Txn, request, key=key, size=size)

    async def create(self, key: str, value: bytes) -> int:
        check_key(self._root, key)
        check_value(key, value)
        raw = encode_key(key)
        put = rpc.RequestOp(request_put=rpc.PutRequest(key=raw, value=value))
        response = await self._txn([_compare(raw, "create_revision", 0)], put, None, key=key, size=len(value))
        if not response.succeeded:
            raise KeyExists(key)
        return int(response.header.revision)

    async def get(self, key: str, *, revision: int | None = None) -> KeyValue:
        check_key(self._root, key)
        rev = self._check_revision(revision)
        request = rpc.RangeRequest(key=encode_key(key), revision=rev)
        response = await self._call(self._kv_stub.Range, request, key=key, requested=rev)
        if not response.kvs:
            raise KeyNotFound(key)
        return _kv(response.kvs[0])

    @staticmethod
    def _check_revision(revision: int | None) -> int:
        if revision is None:
            return 0
        if revision < 0:
            raise StorageError(f"revision must not be negative, got {revision}")
        return revision

    async def list(
        self,
        prefix: str,
        *,
        revision: int | None = None,
        limit: int = 0,
        start_after: str | None = None,
    ) -> ListResult:
        check_prefix(self._root, prefix)
        if limit < 0:
            raise StorageError(f"limit must not be negative, got {limit}")
        rev = self._check_revision(revision)
        raw = encode_key(prefix)
        start = raw
        if start_after is not None and encode_key(start_after) >= raw:
            start = encode_key(start_after) + b"\0"
        request = rpc.RangeRequest(key=start, range_end=range_end_of(raw), revision=rev, limit=limit)
        response = await self._call(self._kv_stub.Range, request, key=prefix, requested=rev)
        kvs = [_kv(kv) for kv in response.kvs]
        return ListResult(kvs, rev or int(response.header.revision), bool(response.more))

    async def count(self, prefix: str) -> int:
        check_prefix(self._root, prefix)
        raw = encode_key(prefix)
        request = rpc.RangeRequest(key=raw, range_end=range_end_of(raw), count_only=True)
        response = await self._call(self._kv_stub.Range, request, key=prefix)
        return int(response.count)

    async def update(self, key: str, value: bytes, *, expected_mod_revision: int) -> int:
        check_key(self._root, key)
        check_value(key, value)
        raw = encode_key(key)
        if expected_mod_revision <= 0:
            # etcd compares an absent key's mod revision as 0; no live key has mod revision 0.
            current = await self._current_kv(raw, key)
            raise Conflict(key, expected=expected_mod_revision, actual=current.mod_revision)
        put = rpc.RequestOp(request_put=rpc.PutRequest(key=raw, value=value))
        read = rpc.RequestOp(request_range=rpc.RangeRequest(key=raw))
        compare = [_compare(raw, "mod_revision", expected_mod_revision)]
        response = await self._txn(compare, put, read, key=key, size=len(value))
        if response.succeeded:
            return int(response.header.revision)
        self._raise_failed_compare(key, expected_mod_revision, response)

    @staticmethod
    def _raise_failed_compare(key: str, expected: int, response: Any) -> NoReturn:
        """Turn a failed mod-revision compare (whose failure branch read the key) into an error."""
        kvs = response.responses[0].response_range.kvs
        if not kvs:
            raise KeyNotFound(key)
        raise Conflict(key, expected=expected, actual=int(kvs[0].mod_revision))

    async def _current_kv(self, raw: bytes, key: str) -> KeyValue:
        response = await self._call(self._kv_stub.Range, rpc.RangeRequest(key=raw), key=key)
        if not response.kvs:
            raise KeyNotFound(key)
        return _kv(response.kvs[0])

    async def delete(self, key: str, *, expected_mod_revision: int | None = None) -> KeyValue:
        check_key(self._root, key)
        raw = encode_key(key)
        remove = rpc.DeleteRangeRequest(key=raw, prev_kv=True)
        if expected_mod_revision is None:
            response = await self._call(self._kv_stub.DeleteRange, remove, key=key)
            revision, deleted = int(response.header.revision), response.prev_kvs
        else:
            read = rpc.RequestOp(request_range=rpc.RangeRequest(key=raw))
            compare = [_compare(raw, "mod_revision", expected_mod_revision)]
            txn = await self._txn(compare, rpc.RequestOp(request_delete_range=remove), read, key=key)
            if not txn.succeeded:
                self._raise_failed_compare(key, expected_mod_revision, txn)
            revision, deleted = int(txn.header.revision), txn.responses[0].response_delete_range.prev_kvs
        if not deleted:
            raise KeyNotFound(key)
        prev = deleted[0]
        return KeyValue(key, prev.value, int(prev.create_revision), revision)

    def watch(self, prefix: str, *, after_revision: int) -> Watch:
        check_prefix(self._root, prefix)
        raw = encode_key(prefix)
        watch = EtcdWatch(
            self._watch_stub,
            key=raw,
            range_end=range_end_of(raw),
            after_revision=max(after_revision, 0),
            queue_size=self._watch_queue_size,
            on_done=self._watch_done,
            on_compacted=self._learn_compaction,
        )
        if self._closed:
            watch.fail(WatchClosed("store closed"))
        else:
            self._watches.add(watch)
        return watch

    def _watch_done(self, watch: EtcdWatch) -> None:
        self._watches.discard(watch)

    async def current_revision(self) -> int:
        response = await self._call(self._kv_stub.Range, rpc.RangeRequest(key=COMPACT_REV_KEY, count_only=True))
        return int(response.header.revision)

    async def _recorded_compaction(self) -> int:
        """The revision in ``compact_rev_key`` (0 when absent or unreadable)."""
        try:
            response = await self._kv_stub.Range(rpc.RangeRequest(key=COMPACT_REV_KEY), timeout=self._timeout)
        except rpc.AioRpcError:
            return self._compacted
        if not response.kvs:
            return 0
        try:
            return int(response.kvs[0].value)
        except ValueError:
            return 0

    async def compacted_revision(self) -> int:
        self._check_open()
        self._learn_compaction(await self._recorded_compaction())
        return self._compacted

    async def compact(self, revision: int) -> None:
        """Compact etcd at ``min(revision, current)``, then record it in ``compact_rev_key``.

        Compacting first means a crash in between under-reports (the next compaction redoes it)
        rather than claiming history is gone that is still there.
        """
        revision = min(revision, await self.current_revision())
        if revision <= await self.compacted_revision():
            return
        try:
            await self._call(self._kv_stub.Compact, rpc.CompactionRequest(revision=revision), requested=revision)
        except Compacted:
            pass  # someone compacted at or past it already
        await self._record_compaction(revision)
        self._learn_compaction(revision)

    async def _record_compaction(self, revision: int) -> None:
        """Raise ``compact_rev_key`` to ``revision`` with compare-and-swap (never lower it)."""
        value = str(revision).encode()
        while True:
            response = await self._call(self._kv_stub.Range, rpc.RangeRequest(key=COMPACT_REV_KEY))
            mod = int(response.kvs[0].mod_revision) if response.kvs else 0
            if response.kvs and int(response.kvs[0].value or b"0") >= revision:
                return
            put = rpc.RequestOp(request_put=rpc.PutRequest(key=COMPACT_REV_KEY, value=value))
            compare = [_compare(COMPACT_REV_KEY, "mod_revision", mod)]
            if (await self._txn(compare, put, None, key=COMPACT_REV_KEY.decode())).succeeded:
                return

    async def close(self) -> None:
        """End open watches with WatchClosed and close the channel. Later calls raise WatchClosed."""
        if self._closed:
            return
        self._closed = True
        error = WatchClosed("store closed")
        await asyncio.gather(*(w.abort(error) for w in list(self._watches)))
        await self._channel.close()
