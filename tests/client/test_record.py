"""The event recorder against a real API server."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from sampan._lib.clock import FakeClock
from sampan.client.dynamic import Client
from sampan.client.kubeconfig import load_kubeconfig
from sampan.client.record import COMBINED_PREFIX, EventRecorder
from tests.support.apiserver import InProcessAPIServer

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default", "uid": "u-1"}}


@pytest.fixture
async def client(inproc_apiserver: InProcessAPIServer) -> AsyncIterator[Client]:
    async with Client(load_kubeconfig(str(inproc_apiserver.kubeconfig))) as c:
        yield c


async def events_of(client: Client) -> list[dict]:
    events = await client.resource("v1", "events")
    return sorted((await events.list(namespace="default"))["items"], key=lambda e: e["metadata"]["name"])


async def test_identical_events_are_counted_in_one_event(client: Client) -> None:
    clock = FakeClock()
    rec = EventRecorder(await client.resource("v1", "events"), component="test-controller", host="h1", clock=clock)
    for _ in range(3):
        rec.event(POD, "Normal", "Pulled", "image pulled")
        await rec.flush()
        await clock.advance(5)
    rec.event(POD, "Warning", "Failed", "boom")
    await rec.flush()
    items = await events_of(client)
    assert len(items) == 2
    pulled = next(e for e in items if e["reason"] == "Pulled")
    assert pulled["count"] == 3
    assert pulled["involvedObject"] == {"kind": "Pod", "apiVersion": "v1", "name": "web", "namespace": "default",
                                        "uid": "u-1"}
    assert pulled["source"] == {"component": "test-controller", "host": "h1"}
    assert pulled["firstTimestamp"] < pulled["lastTimestamp"]
    assert pulled["metadata"]["name"].startswith("web.")
    assert rec.written == {"created": 2, "updated": 2}


async def test_similar_events_are_combined_and_storms_dropped(client: Client) -> None:
    clock = FakeClock()
    rec = EventRecorder(await client.resource("v1", "events"), component="c", clock=clock, max_similar=3,
                        spam_burst=8)
    for i in range(10):
        rec.event(POD, "Warning", "BackOff", f"attempt {i}")
    await rec.flush()
    items = await events_of(client)
    combined = [e for e in items if e["message"].startswith(COMBINED_PREFIX)]
    assert len(items) == 4  # three distinct messages, then one combined event
    assert len(combined) == 1
    assert combined[0]["count"] == 5  # attempts 3..7; 8 and 9 were over the spam burst of 8
    assert rec.dropped == 2


async def test_a_full_queue_drops_and_logs_each_run_of_drops_once(client: Client,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    rec = EventRecorder(await client.resource("v1", "events"), component="c", queue_size=2)
    with caplog.at_level(logging.WARNING, logger="sampan.client.record"):
        for i in range(7):  # two queued, five dropped
            rec.event(POD, "Normal", "Scheduled", f"pod {i}")
        await rec.flush()
        rec.event(POD, "Normal", "Scheduled", "after the drain")  # accepted: the run of drops ends
        rec.event(POD, "Normal", "Scheduled", "one more")
        rec.event(POD, "Normal", "Scheduled", "dropped again")
    assert rec.dropped == 6
    lines = [r.getMessage() for r in caplog.records if r.name == "sampan.client.record"]
    assert lines == ["event queue full, dropping events until it drains first_reason=Scheduled size=2",
                     "event queue accepting again dropped=5",
                     "event queue full, dropping events until it drains first_reason=Scheduled size=2"]
    await rec.flush()
    assert len(await events_of(client)) == 4


async def test_bad_input() -> None:
    class Fake:
        class info:
            resource, group = "pods", ""

    with pytest.raises(ValueError, match="core/v1 events"):
        EventRecorder(Fake(), component="x")  # type: ignore[arg-type]
