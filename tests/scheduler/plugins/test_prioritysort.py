"""PrioritySort: higher priority first, then earlier queue timestamp."""

from __future__ import annotations

import pytest

from sampan.scheduler.framework.interface import QueuedPodInfo
from sampan.scheduler.plugins.prioritysort import PrioritySort
from tests.scheduler.builders import pi


@pytest.mark.parametrize(("a", "b", "less"), [
    ((10, 5.0), (1, 1.0), True),
    ((1, 1.0), (10, 5.0), False),
    ((5, 1.0), (5, 2.0), True),
    ((5, 2.0), (5, 1.0), False),
    ((5, 1.0), (5, 1.0), False),
    ((-1, 0.0), (0, 9.0), False),
])
def test_less(a: tuple[int, float], b: tuple[int, float], less: bool) -> None:
    qa = QueuedPodInfo(pi("a", priority=a[0]), a[1])
    qb = QueuedPodInfo(pi("b", priority=b[0]), b[1])
    assert PrioritySort().less(qa, qb) is less
