"""Status: what a plugin tells the framework, and therefore what the framework does next.

Codes, as upstream:

- ``SUCCESS``: carry on. Plugins return ``None`` for success on hot paths (no allocation); the
  framework treats ``None`` and a ``SUCCESS`` status alike.
- ``ERROR``: an internal failure; the cycle stops and the pod goes to the back-off queue.
- ``UNSCHEDULABLE``: this node (or the pod, from PreFilter) does not fit now; preemption may help.
- ``UNSCHEDULABLE_AND_UNRESOLVABLE``: does not fit and preemption cannot change that.
- ``WAIT``: Permit only: hold the pod in the waiting map until allowed, rejected or timed out.
- ``SKIP``: PreFilter/PreScore only: the plugin has nothing to say about this pod; its Filter/Score
  hook is not called for this cycle.
- ``PENDING``: the pod waits for something outside the scheduler; it is not retried by back-off.

A status carries one or more *reasons* (the strings counted in "0/3 nodes are available: …") and the
name of the plugin that produced it (filled in by the framework).
"""

from __future__ import annotations

import enum


class Code(enum.IntEnum):
    SUCCESS = 0
    ERROR = 1
    UNSCHEDULABLE = 2
    UNSCHEDULABLE_AND_UNRESOLVABLE = 3
    WAIT = 4
    SKIP = 5
    PENDING = 6


class Status:
    """An immutable-by-convention result of one plugin hook. ``reasons`` is never empty for a failure."""

    __slots__ = ("code", "plugin", "reasons")

    def __init__(self, code: Code, *reasons: str, plugin: str = "") -> None:
        self.code = code
        self.reasons: tuple[str, ...] = reasons
        self.plugin = plugin

    @property
    def message(self) -> str:
        return ", ".join(self.reasons)

    def is_success(self) -> bool:
        return self.code == Code.SUCCESS

    def is_rejected(self) -> bool:
        """Unschedulable, unresolvable or pending: the pod cannot go on this node / in this cycle."""
        return self.code in (Code.UNSCHEDULABLE, Code.UNSCHEDULABLE_AND_UNRESOLVABLE, Code.PENDING)

    def with_plugin(self, plugin: str) -> Status:
        if self.plugin == plugin:
            return self
        return Status(self.code, *self.reasons, plugin=plugin)

    def __repr__(self) -> str:
        return f"Status({self.code.name}, {self.message!r}, plugin={self.plugin!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Status):
            return NotImplemented
        return (self.code, self.reasons, self.plugin) == (other.code, other.reasons, other.plugin)

    def __hash__(self) -> int:
        return hash((self.code, self.reasons, self.plugin))


SUCCESS = Status(Code.SUCCESS)
SKIP = Status(Code.SKIP)


def unschedulable(*reasons: str) -> Status:
    return Status(Code.UNSCHEDULABLE, *reasons)


def unresolvable(*reasons: str) -> Status:
    return Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, *reasons)


def error(message: str) -> Status:
    return Status(Code.ERROR, message)


def is_success(status: Status | None) -> bool:
    """``None`` is success: the fast path every hot hook uses."""
    return status is None or status.code == Code.SUCCESS


class PluginError(Exception):
    """Raised by a Score/NormalizeScore hook (or any hook) to report an internal error; the
    framework turns it into an ``ERROR`` status naming the plugin."""
