"""SharedIndexInformer with a scripted ListerWatcher and a fake clock: resync, handler isolation."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sampan._lib.clock import FakeClock
from sampan.client.cache.delta_fifo import Delta, DeltaFIFO, DeltaType
from sampan.client.cache.handlers import EventHandlerFuncs
from sampan.client.cache.shared_informer import SharedIndexInformer, wait_for_cache_sync
from sampan.client.cache.store import DeletedFinalStateUnknown, IndexedStore
from tests.client.fakes import ScriptedLW
from tests.client.objects import cm


async def settle() -> None:
    for _ in range(50):
        await asyncio.sleep(0)


async def test_resync_redelivers_cache_only_to_handlers_that_asked() -> None:
    clock = FakeClock()
    lw = ScriptedLW([cm("a", rv="1")], "1", [])
    informer = SharedIndexInformer(lw, name="t", clock=clock)
    resyncing: list[tuple[str, str]] = []
    quiet: list[str] = []
    informer.add_event_handler(EventHandlerFuncs(
        on_update_func=lambda old, new: resyncing.append((old["metadata"]["resourceVersion"],
                                                          new["metadata"]["resourceVersion"]))),
        resync_period=30)
    informer.add_event_handler(EventHandlerFuncs(on_update_func=lambda o, n: quiet.append("x")))
    task = asyncio.create_task(informer.run())
    try:
        assert await wait_for_cache_sync(informer, timeout=5, clock=clock, poll=0)
        await settle()
        await clock.advance(29)
        await settle()
        assert resyncing == []
        await clock.advance(1)
        await settle()
        assert resyncing == [("1", "1")]
        assert quiet == []
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_failing_handler_does_not_disturb_others() -> None:
    lw = ScriptedLW([cm("a"), cm("b")], "1", [])
    informer = SharedIndexInformer(lw, name="t")
    seen: list[str] = []

    def boom(obj: Any) -> None:
        raise RuntimeError("handler bug")

    async def slow_ok(obj: Any) -> None:
        await asyncio.sleep(0)
        seen.append(obj["metadata"]["name"])

    informer.add_event_handler(EventHandlerFuncs(on_add_func=boom))
    reg = informer.add_event_handler(EventHandlerFuncs(on_add_func=slow_ok))
    task = asyncio.create_task(informer.run())
    try:
        assert await wait_for_cache_sync(reg, timeout=5)
        assert seen == ["a", "b"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


ops = st.lists(st.tuples(st.sampled_from(["add", "update", "delete", "replace", "pop"]),
                         st.sampled_from("abcd")), max_size=40)


@settings(max_examples=100, deadline=None)
@given(ops)
def test_delta_fifo_and_cache_end_equal_to_the_truth(operations: list[tuple[str, str]]) -> None:
    """Feeding a DeltaFIFO with any interleaving of watch events, relists and pops, then draining it into
    a cache, leaves the cache equal to the server's truth, and every delete the consumer sees is of a
    key it was told about (or a tombstone for one)."""

    async def scenario() -> None:
        truth: dict[str, dict[str, Any]] = {}
        cache = IndexedStore()
        fifo = DeltaFIFO(known_objects=cache)
        told: set[str] = set()

        async def apply(deltas: list[Delta], initial: bool) -> None:
            for d in deltas:
                key = d.obj.key if isinstance(d.obj, DeletedFinalStateUnknown) else \
                    f"default/{d.obj['metadata']['name']}"
                if d.type is DeltaType.DELETED:
                    assert key in told, f"delete of {key} never told"
                    told.discard(key)
                    cache.delete(d.obj)
                else:
                    told.add(key)
                    cache.update(d.obj)

        for rv, (op, name) in enumerate(operations, start=1):
            key = f"default/{name}"
            if op == "add" and key not in truth:
                truth[key] = cm(name, rv=str(rv))
                fifo.add(truth[key])
            elif op == "update" and key in truth:
                truth[key] = cm(name, rv=str(rv))
                fifo.update(truth[key])
            elif op == "delete" and key in truth:
                fifo.delete(truth.pop(key))
            elif op == "replace":
                fifo.replace(list(truth.values()), str(rv))
            elif op == "pop" and len(fifo):
                await fifo.pop(apply)
        while len(fifo):
            await fifo.pop(apply)
        assert {k: o["metadata"]["resourceVersion"] for k, o in
                ((cache.key_of(o), o) for o in cache.list())} == {
            k: o["metadata"]["resourceVersion"] for k, o in truth.items()}

    asyncio.run(scenario())


async def test_full_handler_buffer_blocks_distribution_and_loses_nothing() -> None:
    """Overflow policy "block": a stuck handler with a buffer of 2 holds back the informer (its FIFO
    keeps the rest), and once it resumes it sees every object, in order."""
    lw = ScriptedLW([cm(f"o{i}") for i in range(10)], "1", [])
    informer = SharedIndexInformer(lw, name="t", handler_buffer=2)
    gate = asyncio.Event()
    seen: list[str] = []

    async def stuck(obj: Any) -> None:
        await gate.wait()
        seen.append(obj["metadata"]["name"])

    informer.add_event_handler(EventHandlerFuncs(on_add_func=stuck))
    task = asyncio.create_task(informer.run())
    try:
        await settle()
        assert seen == []
        assert len(informer.fifo) > 0  # distribution is blocked, the rest waits in the FIFO
        assert len(informer.indexer) < 10
        gate.set()
        await asyncio.wait_for(informer.wait_for_sync(), 5)
        for _ in range(100):
            if len(seen) == 10:
                break
            await asyncio.sleep(0)
        assert seen == [f"o{i}" for i in range(10)]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_removing_a_stuck_handler_unblocks_the_informer() -> None:
    lw = ScriptedLW([cm(f"o{i}") for i in range(6)], "1", [])
    informer = SharedIndexInformer(lw, name="t", handler_buffer=1)
    never = asyncio.Event()
    seen: list[str] = []

    async def stuck(obj: Any) -> None:
        await never.wait()

    stuck_reg = informer.add_event_handler(EventHandlerFuncs(on_add_func=stuck))
    informer.add_event_handler(EventHandlerFuncs(on_add_func=lambda o: seen.append(o["metadata"]["name"])))
    task = asyncio.create_task(informer.run())
    try:
        await settle()
        assert not informer.has_synced()
        informer.remove_event_handler(stuck_reg)
        await asyncio.wait_for(informer.wait_for_sync(), 5)
        await settle()
        assert seen == [f"o{i}" for i in range(6)]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_empty_initial_list_syncs() -> None:
    informer = SharedIndexInformer(ScriptedLW([], "1", []), name="t")
    task = asyncio.create_task(informer.run())
    try:
        await asyncio.wait_for(informer.wait_for_sync(), 5)
        assert informer.has_synced()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
