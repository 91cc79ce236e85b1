"""The container restart back-off behind CrashLoopBackOff, as upstream's kubelet keeps it.

Per (pod uid, container name): the first crash restarts at once; after that a crash that happened less
than the current delay ago keeps the container in CrashLoopBackOff; the delay starts at 10 s, doubles up
to 5 min, and starts again from 10 s once 10 min have passed since the last back-off (the container ran
fine that long). Delays come from :class:`sampan._lib.backoff.Backoff` (jitter off) on an injected clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from sampan._lib.backoff import Backoff, BackoffPolicy
from sampan._lib.clock import Clock

DEFAULT_POLICY = BackoffPolicy(initial=10.0, maximum=300.0, factor=2.0, jitter=0.0, reset_after=600.0)


@dataclass(slots=True)
class _Entry:
    backoff: Backoff
    delay: float = 0.0
    """The delay a crash after the last restart must wait."""
    last: float = 0.0
    """Monotonic time of the last restart."""


class RestartBackoff:
    """Restart back-off per container key (``"<pod uid>/<container name>"``).

    Invariant: a key has an entry iff the container was restarted after a crash and the pod is still known.
    """

    def __init__(self, *, clock: Clock, policy: BackoffPolicy = DEFAULT_POLICY) -> None:
        self.clock = clock
        self.policy = policy
        self._entries: dict[str, _Entry] = {}

    def remaining(self, key: str, finished_at: float) -> float:
        """Seconds the container that exited at ``finished_at`` (wall time) must still wait; 0 = restart now.

        When it is 0 the restart is recorded: the next crash waits for the next (doubled) delay.
        """
        entry = self._entries.get(key)
        if entry is not None and self.clock.monotonic() - entry.last <= self.policy.reset_after:
            left = finished_at + entry.delay - self.clock.wall()
            if left > 0:
                return left
        if entry is None:
            entry = self._entries[key] = _Entry(Backoff(self.policy, clock=self.clock))
        entry.delay = entry.backoff.next_delay()
        entry.last = self.clock.monotonic()
        return 0.0

    def delay(self, key: str) -> float:
        """The delay a crash of ``key`` currently waits (0 if it never restarted)."""
        entry = self._entries.get(key)
        return entry.delay if entry is not None else 0.0

    def forget_pod(self, uid: str) -> None:
        """Drop the entries of a pod that is gone."""
        prefix = uid + "/"
        for key in [k for k in self._entries if k.startswith(prefix)]:
            del self._entries[key]
