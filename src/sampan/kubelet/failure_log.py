"""Logging of a repeating failure (a node's Lease renewals, its status posts): the first failure of a run
and the recovery, not every attempt.

Upstream's kubelet logs every failed renewal; one process with 5,000 hollow kubelets against a slow API
server logged ~56,000 such WARNING lines in 4 minutes, and formatting and writing them took ~9% of the
process's CPU — time the heartbeats themselves needed (issue 21). So a :class:`FailureLog` logs, per
node and kind:

- the first failure of a run at WARNING (with the error), later ones of the same run at DEBUG, except one
  WARNING "still failing" (count, duration, last error) every :data:`REMIND_AFTER` seconds of a long run;
- the first success after a run at INFO, with the run's count of failures and its duration;

and counts every failure in ``total`` (exposed as a metric by the kubelet).

States: ``ok`` --failed--> ``failing`` (``failures`` >= 1, ``since`` set) --failed--> ``failing``
(``failures`` + 1) --succeeded--> ``ok`` (``failures`` = 0). Invariant: a run of failures that ends in a
success within :data:`REMIND_AFTER` seconds writes exactly two lines at INFO or above, whatever its length.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

REMIND_AFTER = 300.0
"""Seconds of a failing run between "still failing" WARNINGs (5,000 nodes failing throughout: ~17 lines a
second at most, against ~230 a second when each failure was logged)."""


class FailureLog:
    """The failures of one repeated operation (``what``, e.g. "renew node lease") of one node."""

    __slots__ = ("_clock", "_log", "_node", "_reminded", "_what", "failures", "since", "total")

    def __init__(self, log: logging.Logger, what: str, node: str,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._log = log
        self._what = what
        self._node = node
        self._clock = clock
        self.failures = 0
        """Consecutive failures of the current run (0: not failing)."""
        self.since = 0.0
        """When the current run's first failure happened (``clock`` time)."""
        self._reminded = 0.0
        """When the current run was last logged at WARNING."""
        self.total = 0
        """Every failure since the start."""

    def failed(self, err: BaseException) -> None:
        self.total += 1
        if self.failures == 0:
            self.since = self._reminded = self._clock()
            self._log.warning("failed to %s node=%s err=%s (further failures logged at debug until it "
                              "succeeds)", self._what, self._node, err)
        elif (now := self._clock()) - self._reminded >= REMIND_AFTER:
            self._reminded = now
            self._log.warning("still failing to %s node=%s failures=%d for %.0fs err=%s", self._what, self._node,
                              self.failures + 1, now - self.since, err)
        elif self._log.isEnabledFor(logging.DEBUG):
            self._log.debug("failed to %s node=%s failures=%d err=%s", self._what, self._node,
                            self.failures + 1, err)
        self.failures += 1

    def succeeded(self) -> None:
        if self.failures:
            self._log.info("%s succeeded again node=%s after failures=%d over %.1fs", self._what, self._node,
                           self.failures, self._clock() - self.since)
            self.failures = 0
