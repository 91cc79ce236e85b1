"""Fixtures: ``cluster`` — an in-process API server and a :class:`Cluster` over it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.scheduler.integration.cluster import Cluster, open_cluster
from tests.support.apiserver import InProcessAPIServer


@pytest.fixture
async def cluster(inproc_apiserver: InProcessAPIServer) -> AsyncIterator[Cluster]:
    async with open_cluster(inproc_apiserver.kubeconfig) as c:
        yield c
