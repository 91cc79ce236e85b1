"""The reflector against a scripted ListerWatcher (a fake of one seam; the real server is in
test_informer.py and test_chaos.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sampan._lib.backoff import BackoffPolicy
from sampan.api import errors
from sampan.client.cache.delta_fifo import DeltaFIFO, DeltaType
from sampan.client.cache.reflector import Reflector, ReflectorOptions
from sampan.client.rest import ConnectionFailed
from tests.client.fakes import ScriptedLW
from tests.client.objects import cm

FAST = ReflectorOptions(page_size=2, min_watch_timeout=10, backoff=BackoffPolicy(initial=0.001, maximum=0.001),
                        short_watch=0.0)


async def run_until_exhausted(lw: ScriptedLW, fifo: DeltaFIFO) -> Reflector:
    reflector = Reflector(lw, fifo, name="test", options=FAST)
    task = asyncio.create_task(reflector.run())
    await asyncio.wait_for(lw.exhausted.wait(), 5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return reflector


def ev(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "object": obj}


async def test_paged_list_then_watch_resumes_from_last_event_and_bookmark() -> None:
    objs = [cm(f"o{i}", rv=str(i + 1)) for i in range(5)]
    bookmark = {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"resourceVersion": "20"}}
    lw = ScriptedLW(objs, "5", [
        [ev("ADDED", cm("n1", rv="7")), ev("BOOKMARK", bookmark)],  # stream ends normally: re-watch from 20
        ConnectionFailed("cut"),                                      # broken: back off, re-watch from 20
        [ev("MODIFIED", cm("n1", rv="21")), ev("DELETED", cm("o0", rv="22"))],
    ])
    fifo = DeltaFIFO()
    reflector = await run_until_exhausted(lw, fifo)
    assert lw.list_calls == [("0", None), ("0", "2"), ("0", "4")]
    assert [rv for rv, _ in lw.watch_calls] == ["5", "20", "20", "22"]
    assert all(10 <= t < 20 for _, t in lw.watch_calls)  # randomized in [min, 2*min)
    assert reflector.stats.lists == 1
    assert reflector.stats.bookmarks == 1
    deltas = fifo.get_by_key("default/n1")
    assert deltas is not None
    assert [d.type for d in deltas] == [DeltaType.ADDED, DeltaType.UPDATED]
    o0 = fifo.get_by_key("default/o0")
    assert o0 is not None
    assert [d.type for d in o0] == [DeltaType.REPLACED, DeltaType.DELETED]
    assert o0[0].obj["kind"] == "ConfigMap"  # list items get their kind back


async def test_410_on_watch_relists_from_latest_then_last_version() -> None:
    lw = ScriptedLW([cm("a", rv="3")], "3", [
        errors.too_old_resource_version(3, 10),
        [ev("ERROR", errors.Expired("too old resource version: 3 (10)").to_status())],
    ])
    fifo = DeltaFIFO()
    reflector = await run_until_exhausted(lw, fifo)
    assert [rv for rv, _ in lw.list_calls] == ["0", "", ""]
    assert reflector.stats.expired == 2


async def test_410_on_list_falls_back_to_consistent_list() -> None:
    lw = ScriptedLW([cm("a", rv="3")], "3", [errors.InternalError("boom"), ])
    lw.fail_list_with = errors.Expired("too old")
    fifo = DeltaFIFO()
    reflector = Reflector(lw, fifo, name="t", options=FAST)
    reflector.last_sync_resource_version = "1"
    task = asyncio.create_task(reflector.list_and_watch())
    await asyncio.wait_for(lw.exhausted.wait(), 5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert [rv for rv, _ in lw.list_calls] == ["1", ""]
    assert reflector.stats.watch_errors == 1  # 500 on watch: retried from the same version


async def test_non_retryable_watch_error_relists() -> None:
    lw = ScriptedLW([], "3", [errors.Forbidden("no"), []])
    reflector = await run_until_exhausted(lw, DeltaFIFO())
    assert reflector.stats.lists == 2


@pytest.mark.parametrize("event", [{"type": "WHAT", "object": cm("x")}, {"type": "ADDED", "object": "junk"}])
async def test_malformed_events_are_skipped(event: dict[str, Any]) -> None:
    lw = ScriptedLW([], "3", [[event, ev("ADDED", cm("ok", rv="9"))]])
    fifo = DeltaFIFO()
    reflector = await run_until_exhausted(lw, fifo)
    assert fifo.list_keys() == ["default/ok"]
    assert reflector.last_sync_resource_version == "9"


async def test_paged_initial_list_asks_for_the_latest_version_first() -> None:
    """``paged_initial_list``: the first LIST is at "" (a watch cache pages it; "0" it answers whole), later
    relists resume from the last version as usual."""
    lw = ScriptedLW([cm(f"o{i}", rv=str(i + 1)) for i in range(3)], "3", [errors.Expired("too old")])
    reflector = Reflector(lw, DeltaFIFO(), name="test",
                          options=ReflectorOptions(page_size=2, min_watch_timeout=10, short_watch=0.0,
                                                   backoff=BackoffPolicy(initial=0.001, maximum=0.001),
                                                   paged_initial_list=True))
    task = asyncio.create_task(reflector.run())
    await asyncio.wait_for(lw.exhausted.wait(), 5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert lw.list_calls[:2] == [("", None), ("", "2")]
    assert lw.list_calls[2:] == [("", None), ("", "2")]  # after the 410: the latest again
