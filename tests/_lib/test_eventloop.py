"""The event loop switch (sampan._lib.eventloop): SAMPAN_EVENT_LOOP picks the policy every new loop of the
process follows, own_loop's threads included; a typo is an error, a missing uvloop falls back to asyncio."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator

import pytest

from sampan._lib import eventloop, urgent
from sampan._lib.own_loop import run_in_own_loop

uvloop = pytest.importorskip("uvloop")


@pytest.fixture
def restore_policy() -> Iterator[None]:
    before = asyncio.get_event_loop_policy()
    try:
        yield
    finally:
        asyncio.set_event_loop_policy(before)


def _new_loop_type() -> type:
    loop = asyncio.new_event_loop()
    try:
        return type(loop)
    finally:
        loop.close()


def test_requested_reads_the_variable_else_the_commands_default() -> None:
    assert eventloop.requested(None, {}) == "asyncio"  # library use and tests: unchanged unless asked
    # the API server's clients run uvloop by default (README "Event loop"); an empty variable is unset
    assert eventloop.requested("scheduler", {}) == "uvloop"
    assert eventloop.requested("controller-manager", {}) == "uvloop"
    assert eventloop.requested("kubelet", {eventloop.ENV: ""}) == "uvloop"
    assert eventloop.requested("apiserver", {}) == "asyncio"  # keeps the urgent lanes
    assert eventloop.requested("proxy", {}) == "asyncio"
    assert eventloop.requested("apiserver", {eventloop.ENV: " UVLoop "}) == "uvloop"
    assert eventloop.requested("kubelet", {eventloop.ENV: "asyncio"}) == "asyncio"  # the way back
    with pytest.raises(ValueError, match="SAMPAN_EVENT_LOOP='uvlop'"):
        eventloop.requested("kubelet", {eventloop.ENV: "uvlop"})


@pytest.mark.usefixtures("restore_policy")
def test_install_switches_the_loops_created_afterwards() -> None:
    assert eventloop.install(None, {eventloop.ENV: "uvloop"}) == "uvloop"
    assert eventloop.install(None, {eventloop.ENV: "uvloop"}) == "uvloop"  # idempotent
    assert eventloop.current() == "uvloop"
    assert issubclass(_new_loop_type(), uvloop.Loop)
    assert eventloop.install(None, {eventloop.ENV: "asyncio"}) == "asyncio"
    assert eventloop.current() == "asyncio"
    assert not issubclass(_new_loop_type(), uvloop.Loop)


@pytest.mark.usefixtures("restore_policy")
def test_missing_uvloop_falls_back_to_asyncio(monkeypatch: pytest.MonkeyPatch,
                                              caplog: pytest.LogCaptureFixture) -> None:
    asyncio.set_event_loop_policy(asyncio.DefaultEventLoopPolicy())
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop -> ImportError
    assert eventloop.install(None, {eventloop.ENV: "uvloop"}) == "asyncio"
    assert eventloop.current() == "asyncio"
    assert "uvloop is not installed" in caplog.text
    assert eventloop.install("kubelet", {}) == "asyncio"  # the default falls back too


@pytest.mark.usefixtures("restore_policy")
def test_own_loop_threads_follow_the_policy() -> None:
    async def loop_type() -> type:
        return type(asyncio.get_running_loop())

    async def main() -> type:
        return await run_in_own_loop(loop_type, name="test-own-loop")

    eventloop.install(None, {eventloop.ENV: "uvloop"})
    assert issubclass(asyncio.run(main()), uvloop.Loop)
    eventloop.install(None, {eventloop.ENV: "asyncio"})
    assert not issubclass(asyncio.run(main()), uvloop.Loop)


def test_urgent_lanes_need_cpythons_loop() -> None:
    """uvloop has no Python-visible ready queue: the lanes are not installed, and install says so."""
    loop = uvloop.new_event_loop()
    try:
        assert urgent.install(loop) is False
    finally:
        loop.close()
    plain = asyncio.SelectorEventLoop()
    try:
        assert urgent.install(plain) is True
    finally:
        plain.close()
