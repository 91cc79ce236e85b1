"""A Storage wrapper that encrypts values under the configured prefixes (see the package docstring).

Invariants: a value under an encrypted prefix is written in the first provider's form; a read returns
the plaintext whichever configured provider wrote it; a stored value no configured provider can read
raises :class:`~sampan.apiserver.encryption.providers.DecryptError` (a StorageError: a 500 to the client,
never garbage). Revisions, keys, errors and everything else pass through unchanged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

from sampan.apiserver.encryption.providers import DecryptError, Identity, Transformer
from sampan.storage.interface import Event, KeyValue, ListResult, Storage, Watch

ENCRYPTED_MARK = b"k8s:enc:"


class _DecryptingWatch:
    def __init__(self, inner: Watch, storage: EncryptingStorage) -> None:
        self._inner = inner
        self._storage = storage

    async def __aiter__(self) -> AsyncIterator[Event]:
        async for event in self._inner:
            yield dataclasses.replace(
                event, value=self._storage.decrypt(event.key, event.value),
                prev_value=None if event.prev_value is None else self._storage.decrypt(event.key, event.prev_value))

    async def close(self) -> None:
        await self._inner.close()


class EncryptingStorage:
    def __init__(self, inner: Storage, rules: list[tuple[str, tuple[Transformer, ...]]]) -> None:
        self._inner = inner
        self._rules = rules

    @property
    def root(self) -> str:
        return self._inner.root

    @property
    def inner(self) -> Storage:
        return self._inner

    def _providers(self, key: str) -> tuple[Transformer, ...] | None:
        for prefix, providers in self._rules:
            if key.startswith(prefix):
                return providers
        return None

    def encrypt(self, key: str, value: bytes) -> bytes:
        providers = self._providers(key)
        return value if providers is None else providers[0].encrypt(value, key)

    def decrypt(self, key: str, value: bytes) -> bytes:
        providers = self._providers(key)
        if providers is None:
            return value
        if value.startswith(ENCRYPTED_MARK):
            for provider in providers:
                if provider.prefix and value.startswith(provider.prefix):
                    return provider.decrypt(value[len(provider.prefix):], key)
            raise DecryptError(f"no configured key can decrypt {key} "
                               f"(stored with {value[:value.find(b':', 18) + 1].decode(errors='replace')})")
        if any(isinstance(p, Identity) for p in providers):
            return value
        raise DecryptError(f"{key} is stored unencrypted and the identity provider is not configured")

    def _kv(self, kv: KeyValue) -> KeyValue:
        return dataclasses.replace(kv, value=self.decrypt(kv.key, kv.value))

    async def create(self, key: str, value: bytes) -> int:
        return await self._inner.create(key, self.encrypt(key, value))

    async def get(self, key: str, *, revision: int | None = None) -> KeyValue:
        return self._kv(await self._inner.get(key, revision=revision))

    async def list(self, prefix: str, *, revision: int | None = None, limit: int = 0,
                   start_after: str | None = None) -> ListResult:
        page = await self._inner.list(prefix, revision=revision, limit=limit, start_after=start_after)
        return dataclasses.replace(page, kvs=[self._kv(kv) for kv in page.kvs])

    async def count(self, prefix: str) -> int:
        return await self._inner.count(prefix)

    async def update(self, key: str, value: bytes, *, expected_mod_revision: int) -> int:
        return await self._inner.update(key, self.encrypt(key, value), expected_mod_revision=expected_mod_revision)

    async def delete(self, key: str, *, expected_mod_revision: int | None = None) -> KeyValue:
        return self._kv(await self._inner.delete(key, expected_mod_revision=expected_mod_revision))

    def watch(self, prefix: str, *, after_revision: int) -> Watch:
        return _DecryptingWatch(self._inner.watch(prefix, after_revision=after_revision), self)

    async def compact(self, revision: int) -> None:
        await self._inner.compact(revision)

    async def current_revision(self) -> int:
        return await self._inner.current_revision()

    async def compacted_revision(self) -> int:
        return await self._inner.compacted_revision()

    async def close(self) -> None:
        await self._inner.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
