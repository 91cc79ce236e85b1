"""The shared node-wide container listing behind the CRI runtime's per-sandbox list calls (no runtime
needed: the fetch is a counter)."""

from __future__ import annotations

import asyncio

import pytest

from sampan.kubelet.runtime.cri.relist import SharedListing


class Fetch:
    def __init__(self) -> None:
        self.calls = 0
        self.gate: asyncio.Event | None = None
        self.fail = False

    async def __call__(self) -> list[int]:
        self.calls += 1
        n = self.calls
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise RuntimeError("runtime down")
        return [n]


async def test_workers_share_one_listing_until_their_sandbox_changes() -> None:
    fetch = Fetch()
    listing = SharedListing(fetch, max_age=60)
    assert await asyncio.gather(*(listing.get(sb) for sb in ("a", "b", "c", "a"))) == [[1]] * 4
    assert fetch.calls == 1  # concurrent callers joined the listing in flight
    assert await listing.get("b") == [1]  # young enough
    listing.changed("a")
    assert await listing.get("a") == [2]  # a's own change is always seen
    assert await listing.get("b") == [2]  # and the newer listing serves the others too
    listing.changed("")  # a change of unknown sandbox: every sandbox wants a new listing
    assert await listing.get("c") == [3]
    assert await listing.get("") == [4]  # no sandbox: always fresh
    assert fetch.calls == listing.fetches == 4


async def test_a_listing_older_than_max_age_is_not_served() -> None:
    fetch = Fetch()
    listing = SharedListing(fetch, max_age=0.05)
    assert await listing.get("a") == [1]
    await asyncio.sleep(0.1)
    assert await listing.get("a") == [2]
    no_sharing = SharedListing(fetch, max_age=0)
    await no_sharing.get("a")
    await no_sharing.get("a")
    assert fetch.calls == 4


async def test_a_listing_started_before_a_change_is_not_joined() -> None:
    fetch = Fetch()
    fetch.gate = asyncio.Event()
    listing = SharedListing(fetch, max_age=60)
    first = asyncio.ensure_future(listing.get("a"))
    await asyncio.sleep(0)
    listing.changed("a")  # e.g. StartContainer returned while the listing was in flight
    second = asyncio.ensure_future(listing.get("a"))
    await asyncio.sleep(0)
    fetch.gate.set()
    assert (await first, await second) == ([1], [2])


async def test_a_cancelled_caller_leaves_the_listing_to_the_others_and_errors_reach_all() -> None:
    fetch = Fetch()
    fetch.gate = asyncio.Event()
    listing = SharedListing(fetch, max_age=60)
    owner = asyncio.ensure_future(listing.get("a"))
    await asyncio.sleep(0)
    joiner = asyncio.ensure_future(listing.get("b"))
    await asyncio.sleep(0)
    owner.cancel()
    fetch.gate.set()
    assert await joiner == [1]
    assert owner.cancelled()
    fetch.fail = True
    listing.changed("")
    callers = [asyncio.ensure_future(listing.get(sb)) for sb in ("a", "b")]
    for c in callers:
        with pytest.raises(RuntimeError, match="runtime down"):
            await c
    assert fetch.calls == 2
    await listing.close()
