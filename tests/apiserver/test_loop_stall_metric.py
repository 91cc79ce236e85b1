"""The API server exports its event loop's longest stall on /metrics (docs/liveness.md)."""

from __future__ import annotations

import aiohttp

from tests.support.apiserver import InProcessAPIServer


async def test_metrics_carry_the_loop_stall(inproc_apiserver: InProcessAPIServer) -> None:
    async with aiohttp.ClientSession() as session, session.get(inproc_apiserver.url + "/metrics") as resp:
        text = await resp.text()
    assert resp.status == 200
    assert 'sampan_event_loop_stall_seconds_max{component="kube-apiserver"}' in text
    assert 'sampan_event_loop_stall_seconds_count{component="kube-apiserver"}' in text
