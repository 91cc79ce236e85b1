"""Fixtures for controller tests: ``client`` is an unthrottled client of the in-process API server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sampan.client import Client
from tests.controllers.support import unthrottled_client
from tests.support.apiserver import InProcessAPIServer


@pytest.fixture
async def client(inproc_apiserver: InProcessAPIServer) -> AsyncIterator[Client]:
    async with unthrottled_client(inproc_apiserver.kubeconfig) as c:
        yield c
