"""The logger of the kubelet's per-pod lifecycle lines (sandbox started, terminating, terminated, deleted).

A lone kubelet logs them at INFO, as it always has. A process of N > 1 hollow kubelets
(:class:`~sampan.kubelet.hollow.HollowNodes`) turns them down to DEBUG: four INFO lines per pod from 5,000
kubelets were ~4% of the hollow-node process's CPU at the density bench's 100 pods/s (issue 21), and
nobody reads them there. Failures and rejections stay on the modules' own loggers, at their levels.
"""

from __future__ import annotations

import logging

POD_LOG = logging.getLogger("sampan.kubelet.pods")
"""Per-pod lifecycle lines; INFO unless :func:`quiet_for_many_nodes` raised its level."""


def quiet_for_many_nodes(count: int) -> None:
    """For a process of ``count`` kubelets: with more than one, the lifecycle lines show only when DEBUG is
    on (the logger's level goes to WARNING unless the process logs at DEBUG already, e.g. ``-v`` raised)."""
    if count > 1 and not POD_LOG.isEnabledFor(logging.DEBUG):
        POD_LOG.setLevel(logging.WARNING)
