"""Differential test: random operation sequences give the same answers on sqlite as on the memory model."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from sampan.storage import KeyNotFound, Storage
from sampan.storage.interface import Event
from sampan.storage.memory import MemoryStorage
from sampan.storage.sqlite import SqliteStorage

PREFIXES = ["/registry/pods/", "/registry/podsx/", "/registry/svc/"]
KEYS = [p + n for p in PREFIXES for n in ("a", "b", "c", "d")]


async def outcome(call: Callable[[], Awaitable[object]]) -> object:
    """The call's result, or the name of the error it raised (errors must match by type)."""
    try:
        return await call()
    except Exception as err:
        return type(err).__name__


async def history(store: Storage, prefix: str, after: int, until: int) -> list[Event]:
    """The events under ``prefix`` with ``after < revision <= until`` (``until`` must be one of them)."""
    watch = store.watch(prefix, after_revision=after)
    out: list[Event] = []

    async def run() -> None:
        async for event in watch:
            out.append(event)
            if event.revision >= until:
                return

    try:
        await asyncio.wait_for(run(), 10)
    finally:
        await watch.close()
    return out


def step(rng: random.Random, key: str, *, current: int, compacted: int, mod: int) -> tuple[str, tuple[object, ...]]:
    """One random operation; ``mod`` is ``key``'s mod revision (0 if absent), so that compare-and-swap
    succeeds often enough to change state, and fails often enough to be tested."""
    value = rng.randbytes(rng.randint(0, 8))
    guess = rng.choice([mod, mod, mod, current, rng.randint(0, current + 1)])
    at = rng.choice([rng.randint(compacted, current + 1), rng.randint(0, current + 1)])
    kind = rng.choices(
        ["create", "update", "delete", "delete_if", "get", "get_at", "list", "count", "compact"],
        weights=[6, 8, 2, 3, 2, 3, 4, 1, 0.5],
    )[0]
    if kind == "list":
        start_after = rng.choice([None, *KEYS])
        return kind, (rng.choice(["/registry/", *PREFIXES]), at, rng.randint(0, 3), start_after)
    if kind == "count":
        return kind, (rng.choice(PREFIXES),)
    if kind == "compact":
        return kind, (rng.randint(compacted, current + 2),)
    return kind, (key, value, at if kind == "get_at" else guess)


async def apply(store: Storage, kind: str, args: tuple[object, ...]) -> object:
    a = args
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "create": lambda: store.create(a[0], a[1]),  # type: ignore[arg-type]
        "update": lambda: store.update(a[0], a[1], expected_mod_revision=a[2]),  # type: ignore[arg-type]
        "delete": lambda: store.delete(a[0]),  # type: ignore[arg-type]
        "delete_if": lambda: store.delete(a[0], expected_mod_revision=a[2]),  # type: ignore[arg-type]
        "get": lambda: store.get(a[0]),  # type: ignore[arg-type]
        "get_at": lambda: store.get(a[0], revision=a[2]),  # type: ignore[arg-type]
        "list": lambda: store.list(a[0], revision=a[1], limit=a[2], start_after=a[3]),  # type: ignore[arg-type]
        "count": lambda: store.count(a[0]),  # type: ignore[arg-type]
        "compact": lambda: store.compact(a[0]),  # type: ignore[arg-type]
    }
    return await outcome(calls[kind])


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_random_operations_match_the_memory_model(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    model = MemoryStorage()
    sqlite = await SqliteStorage.open(tmp_path / "state.db")
    sqlite.compact_chunk = 7
    try:
        for i in range(400):
            key = rng.choice(KEYS)
            try:
                mod = (await model.get(key)).mod_revision
            except KeyNotFound:
                mod = 0
            current, compacted = await model.current_revision(), await model.compacted_revision()
            kind, args = step(rng, key, current=current, compacted=compacted, mod=mod)
            expected = await apply(model, kind, args)
            got = await apply(sqlite, kind, args)
            assert got == expected, f"step {i}: {kind}{args}"
            assert await sqlite.current_revision() == await model.current_revision()
            assert await sqlite.compacted_revision() == await model.compacted_revision()
        after = await model.compacted_revision()
        for prefix in PREFIXES:
            end = await model.create(prefix + "zz-end", b"")
            assert await sqlite.create(prefix + "zz-end", b"") == end
            expected = await history(model, prefix, after, end)
            assert await history(sqlite, prefix, after, end) == expected, prefix
    finally:
        await sqlite.close()
        await model.close()
