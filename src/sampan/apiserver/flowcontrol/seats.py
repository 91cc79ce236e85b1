"""Seats handed back while a write only waits for the store's commit.

Upstream frees a request's seats when its handler returns: a goroutine waiting for etcd holds its seat,
but a seat there stands for one of hundreds of goroutines over many cores. Here every request shares one
event loop, and the seats stand for turns of that loop: a write whose remaining work is to wait for the
sqlite writer's group commit (an fsync shared by every write in the batch, on another thread) uses none.
Holding its seat through the commit made a level's throughput ``seats / commit latency`` rather than
``seats / CPU time``: at 1,000 hollow nodes node-high's 17 seats served ~78 Lease PUTs/s where ~100/s
were due, while the loop had time to spare (issue 21).

So APF puts a one-shot release into the request's context (:func:`bind`) and the read-modify-write loop
calls :func:`release_for_commit` just before it awaits the store's compare-and-swap. From then on the
request is no longer *executing* for APF (its seats, the ``executing`` gauges and the execution-time
histogram end there; fair queuing's virtual clock is corrected with that shorter time), and the level
dispatches the next request at once. What still bounds the requests past that point: the writer's
pending queue (``DEFAULT_MAX_PENDING``, backpressure), and each key's update lock, which the request
still holds.

Exceptions, which keep their seats to the end as upstream:

- a request with *final* seats (a mutating request on a resource with many watchers, :mod:`.estimate`):
  the watch fan-out its write causes runs on the loop when the commit lands, and those seats pay for it;
- a write that retries after a failed compare-and-swap runs its transform again without a seat (rare:
  another writer committed the same key; the per-key lock makes it rarer still);
- exempt requests hold no seats, and a request outside APF (APF off) has nothing to release.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar

Release = Callable[[], None]

_RELEASE: ContextVar[Release | None] = ContextVar("sampan.apf.release_for_commit", default=None)


@contextlib.contextmanager
def bind(release: Release | None) -> Iterator[None]:
    """While the block runs (the request's handler), :func:`release_for_commit` calls ``release``
    (idempotent: it must tolerate a second call, the handler's own at the end)."""
    token = _RELEASE.set(release)
    try:
        yield
    finally:
        _RELEASE.reset(token)


def release_for_commit() -> None:
    """The current request's own work is done; it only waits for the store now: free its seats."""
    release = _RELEASE.get()
    if release is not None:
        _RELEASE.set(None)
        release()


__all__ = ["Release", "bind", "release_for_commit"]
