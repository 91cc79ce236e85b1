"""SPDY/3.1 flow-control bookkeeping (§2.6.8): windows in both directions, per stream and per session.

A window is how many DATA bytes the sender may still send; DATA spends it, the receiver's WINDOW_UPDATE
(stream id 0: the session) gives it back. Both start at 64 KiB; SETTINGS ``INITIAL_WINDOW_SIZE``
changes the per-stream start value (and every open stream's window by the difference), only
WINDOW_UPDATE changes the session's. :class:`ReceiveWindow` is our side as receiver: what the peer may
still send and how much the application consumed that we have not yet credited back (credited in
batches of half a window, as common implementations do). :class:`SendWindows` is our side as sender:
:meth:`SendWindows.reserve` hands out at most what both windows allow, waiting for WINDOW_UPDATE — once
the peer takes part in flow control (see :mod:`.session` for why a peer that never does is not held
to the default window).
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from sampan.streaming.spdy import FLOW_CONTROL_ERROR

DEFAULT_WINDOW = 64 * 1024
"""SPDY/3.1's initial stream and session window."""
RECEIVE_WINDOW = 256 * 1024
"""The per-stream window we announce (and the most a stream buffers before back-pressure)."""
SESSION_RECEIVE_WINDOW = 4 * 1024 * 1024
"""The session window we grow ours to at the start."""
MAX_WINDOW = (1 << 31) - 1


class ReceiveWindow:
    """Invariant: ``available`` = credit the peer still has; ``unacked`` = consumed, not yet credited."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.available = size
        self.unacked = 0

    def take(self, n: int) -> bool:
        """The peer sent ``n`` bytes; False if that overran the window."""
        self.available -= n
        return self.available >= 0

    def consume(self, n: int) -> int:
        """The application read ``n`` bytes; the credit to send back now (0: not yet, batched)."""
        self.unacked += n
        if self.unacked < self.size // 2:
            return 0
        credit, self.unacked = self.unacked, 0
        self.available += credit
        return credit

    def grow(self, delta: int) -> None:
        self.size += delta
        self.available += delta


class _Stream(Protocol):
    id: int
    send_window: int
    local_closed: bool
    reset: bool

    async def send_reset(self, status: int = ...) -> None: ...


class SendWindows:
    """The send side of one session. ``peer_takes_part`` turns on once the peer sent SETTINGS
    INITIAL_WINDOW_SIZE or any WINDOW_UPDATE; windows are counted from the start either way."""

    def __init__(self, session: object) -> None:
        self._session = session
        self.initial = DEFAULT_WINDOW
        self.session_window = DEFAULT_WINDOW
        self.peer_takes_part = False
        self._ended = False
        self._changed = asyncio.Event()

    def _streams(self) -> dict[int, _Stream]:
        streams: dict[int, _Stream] = getattr(self._session, "streams")  # noqa: B009 - avoids an import cycle
        return streams

    def wake(self, *, ended: bool = False) -> None:
        """Windows changed (or a stream/the session ended): every waiting writer looks again."""
        self._ended = self._ended or ended
        self._changed.set()
        self._changed = asyncio.Event()

    def set_initial(self, value: int) -> None:
        if not 0 < value <= MAX_WINDOW:
            return
        delta, self.initial = value - self.initial, value
        for stream in self._streams().values():
            stream.send_window += delta
        self.peer_takes_part = True
        self.wake()

    async def update(self, stream_id: int, delta: int) -> None:
        """A WINDOW_UPDATE. A stream window pushed past 2^31-1 is the peer's error: that stream is reset."""
        self.peer_takes_part = True
        if stream_id == 0:
            self.session_window = min(self.session_window + delta, MAX_WINDOW)
        else:
            stream = self._streams().get(stream_id)
            if stream is None:
                return
            stream.send_window += delta
            if stream.send_window > MAX_WINDOW:
                await stream.send_reset(FLOW_CONTROL_ERROR)
        self.wake()

    async def reserve(self, stream: _Stream, want: int) -> int:
        """1..``want`` bytes ``stream`` may send now (both windows charged); waits for credit while the
        peer takes part in flow control. ConnectionResetError once the stream or the session ended."""
        while True:
            if stream.local_closed or stream.reset or self._ended:
                raise ConnectionResetError(f"stream {stream.id} is closed")
            n = min(want, stream.send_window, self.session_window) if self.peer_takes_part else want
            if n > 0:
                stream.send_window -= n
                self.session_window -= n
                return n
            changed = self._changed
            await changed.wait()
