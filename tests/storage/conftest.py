"""The ``store`` fixture: every test in the conformance suite runs once per backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sampan.storage.interface import Storage
from sampan.storage.memory import MemoryStorage

BACKENDS = ["memory"]


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    backend = request.param
    s: Storage
    if backend == "memory":
        s = MemoryStorage()
    else:  # pragma: no cover - every backend is listed above
        raise AssertionError(backend)
    try:
        yield s
    finally:
        await s.close()
