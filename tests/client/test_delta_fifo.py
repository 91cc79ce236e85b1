from __future__ import annotations

import asyncio

import pytest

from sampan.client.cache.delta_fifo import Delta, DeltaFIFO, DeltaType, FIFOClosed
from sampan.client.cache.store import DeletedFinalStateUnknown, IndexedStore
from tests.client.objects import cm


async def pop_all(fifo: DeltaFIFO) -> list[tuple[str, list[tuple[DeltaType, object]]]]:
    out: list[tuple[str, list[tuple[DeltaType, object]]]] = []

    async def process(deltas: list[Delta], initial: bool) -> None:
        key = f"{deltas[0].obj['metadata']['namespace']}/{deltas[0].obj['metadata']['name']}" if isinstance(
            deltas[0].obj, dict) else deltas[0].obj.key
        out.append((key, [(d.type, d.obj) for d in deltas]))

    while len(fifo):
        await fifo.pop(process)
    return out


async def test_deltas_accumulate_per_key_in_order() -> None:
    fifo = DeltaFIFO()
    a1, a2, b1 = cm("a", rv="1"), cm("a", rv="2"), cm("b", rv="3")
    fifo.add(a1)
    fifo.add(b1)
    fifo.update(a2)
    fifo.delete(a2)
    assert fifo.list_keys() == ["default/a", "default/b"]
    got = await pop_all(fifo)
    assert got == [
        ("default/a", [(DeltaType.ADDED, a1), (DeltaType.UPDATED, a2), (DeltaType.DELETED, a2)]),
        ("default/b", [(DeltaType.ADDED, b1)]),
    ]


async def test_consecutive_deletes_are_merged_keeping_the_real_object() -> None:
    known = IndexedStore()
    a = cm("a")
    known.add(a)
    fifo = DeltaFIFO(known_objects=known)
    fifo.delete(a)
    fifo.delete(DeletedFinalStateUnknown("default/a", a))
    deltas = fifo.get_by_key("default/a")
    assert deltas == [Delta(DeltaType.DELETED, a)]
    fifo.replace([], "9")  # a relist without a: would add a tombstone, merged into the existing delete
    assert fifo.get_by_key("default/a") == [Delta(DeltaType.DELETED, a)]


async def test_delete_of_unknown_object_is_ignored() -> None:
    fifo = DeltaFIFO(known_objects=IndexedStore())
    fifo.delete(cm("ghost"))
    assert len(fifo) == 0


async def test_replace_emits_replaced_and_tombstones_for_vanished_objects() -> None:
    known = IndexedStore()
    gone, kept = cm("gone", rv="1"), cm("kept", rv="1")
    known.add(gone)
    known.add(kept)
    fifo = DeltaFIFO(known_objects=known)
    queued_only = cm("queued", rv="2")
    fifo.add(queued_only)
    kept2 = cm("kept", rv="5")
    fifo.replace([kept2], "5")
    assert fifo.get_by_key("default/kept") == [Delta(DeltaType.REPLACED, kept2)]
    assert fifo.get_by_key("default/gone") == [
        Delta(DeltaType.DELETED, DeletedFinalStateUnknown("default/gone", gone))
    ]
    assert fifo.get_by_key("default/queued") == [
        Delta(DeltaType.ADDED, queued_only),
        Delta(DeltaType.DELETED, DeletedFinalStateUnknown("default/queued", queued_only)),
    ]


async def test_has_synced_after_initial_list_popped() -> None:
    fifo = DeltaFIFO(known_objects=IndexedStore())
    assert not fifo.has_synced()
    fifo.replace([cm("a"), cm("b")], "3")
    assert not fifo.has_synced()
    seen: list[bool] = []

    async def process(deltas: list[Delta], initial: bool) -> None:
        seen.append(initial)

    await fifo.pop(process)
    assert not fifo.has_synced()
    fifo.add(cm("c"))
    await fifo.pop(process)
    assert fifo.has_synced()
    await fifo.pop(process)
    assert seen == [True, True, False]


async def test_resync_only_for_keys_without_pending_deltas() -> None:
    known = IndexedStore()
    a, b = cm("a"), cm("b")
    known.add(a)
    known.add(b)
    fifo = DeltaFIFO(known_objects=known)
    b2 = cm("b", rv="2")
    fifo.update(b2)
    fifo.resync()
    assert fifo.get_by_key("default/a") == [Delta(DeltaType.SYNC, a)]
    assert fifo.get_by_key("default/b") == [Delta(DeltaType.UPDATED, b2)]


async def test_pop_waits_then_close_raises() -> None:
    fifo = DeltaFIFO()
    got: list[list[Delta]] = []

    async def process(deltas: list[Delta], initial: bool) -> None:
        got.append(deltas)

    waiter = asyncio.create_task(fifo.pop(process))
    await asyncio.sleep(0)
    assert not waiter.done()
    fifo.add(cm("a"))
    await waiter
    assert len(got) == 1
    fifo.close()
    with pytest.raises(FIFOClosed):
        await fifo.pop(process)


async def test_wait_for_room_blocks_above_high_water() -> None:
    fifo = DeltaFIFO(high_water=2)
    for i in range(3):
        fifo.add(cm(f"o{i}"))
    waiter = asyncio.create_task(fifo.wait_for_room())
    await asyncio.sleep(0)
    assert not waiter.done()

    async def process(deltas: list[Delta], initial: bool) -> None:
        return None

    await fifo.pop(process)
    await asyncio.wait_for(waiter, 1)
