"""The live view's HTTP server without a browser: its event stream and its shutdown (the browser test,
test_live_view.py, shows the page)."""

from __future__ import annotations

import asyncio

import aiohttp
import orjson

from sampan.client import Client, load_config
from sampan.dashboard.server import LiveView
from sampan.dashboard.snapshot import SnapshotSource
from tests.support.apiserver import InProcessAPIServer


async def test_stop_ends_an_open_event_stream(inproc_apiserver: InProcessAPIServer) -> None:
    """A page still listening when the view stops: its stream ends (EOF at the client) and ``stop`` returns
    without waiting out aiohttp's 60 s shutdown grace for a handler blocked on its empty queue."""
    async with Client(load_config(str(inproc_apiserver.kubeconfig))) as client:
        view = LiveView(SnapshotSource(client, [], f"{inproc_apiserver.url}/metrics"), interval=0.1)
        await view.start()
        try:
            async with aiohttp.ClientSession() as http, http.get(f"{view.url}/events") as stream:
                line = await asyncio.wait_for(stream.content.readline(), 10)
                assert line.startswith(b"data: ")
                assert "nodes" in orjson.loads(line[len(b"data: "):])
                await asyncio.wait_for(view.stop(), 10)
                await asyncio.wait_for(stream.content.read(), 10)  # the server closed it
                assert stream.content.at_eof()
        finally:
            await view.stop()
