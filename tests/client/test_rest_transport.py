"""RESTClient transport behaviour against a small real HTTP server (aiohttp on loopback): retries,
non-Status errors, and watch streams split at awkward chunk boundaries."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest
from aiohttp import web

from sampan.api import errors
from sampan.client.config import RESTConfig
from sampan.client.rest import ConnectionFailed, RESTClient


class Server:
    def __init__(self) -> None:
        self.flaky_calls = 0
        self.big = "x" * 200_000
        self.peers: set[object] = set()
        self.in_flight = 0
        self.most_in_flight = 0
        self.release = asyncio.Event()
        self.closing = asyncio.Event()
        self.three_in = asyncio.Event()

    async def slow(self, request: web.Request) -> web.Response:
        """Answers once ``release`` is set; records the connection (peer address) each request came on."""
        self.peers.add(request.transport.get_extra_info("peername") if request.transport else None)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        if self.in_flight >= 3:
            self.three_in.set()
        try:
            await self.release.wait()
        finally:
            self.in_flight -= 1
        return web.json_response({"ok": True})

    async def endless(self, request: web.Request) -> web.StreamResponse:
        """A watch that stays open until the client goes away."""
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        await resp.write(b'{"type": "BOOKMARK", "object": {}}\n')
        await self.closing.wait()
        return resp

    async def echo(self, request: web.Request) -> web.Response:
        """Answers with the request's Authorization, Accept and Content-Type headers."""
        return web.json_response({k: request.headers.get(k) for k in ("Authorization", "Accept", "Content-Type")})

    async def flaky(self, request: web.Request) -> web.Response:
        self.flaky_calls += 1
        if self.flaky_calls <= 2:
            return web.Response(status=429, headers={"Retry-After": "0"}, text="slow down")
        return web.json_response({"ok": True})

    async def no_retry_after(self, request: web.Request) -> web.Response:
        self.flaky_calls += 1
        return web.Response(status=429, text="slow down")

    async def plain_500(self, request: web.Request) -> web.Response:
        return web.Response(status=500, text="kaboom")

    async def stream(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        lines = b"".join(orjson.dumps({"type": "ADDED", "object": {"n": i, "pad": self.big if i == 1 else ""}}) + b"\n"
                         for i in range(3))
        for i in range(0, len(lines), 7777):  # chunks that cut lines anywhere
            await resp.write(lines[i:i + 7777])
            await asyncio.sleep(0)
        await resp.write(b'{"type": "DELETED", "object": {"n": 3}}')  # last line without newline
        await resp.write_eof()
        return resp

    async def broken(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        await resp.write(b'{"type": "ADDED", "object": {}}\n{"type": "ADD')
        assert request.transport is not None
        request.transport.abort()
        return resp


@pytest.fixture
async def server() -> AsyncIterator[tuple[Server, str]]:
    srv = Server()
    app = web.Application()
    app.router.add_get("/flaky", srv.flaky)
    app.router.add_get("/no-retry-after", srv.no_retry_after)
    app.router.add_get("/500", srv.plain_500)
    app.router.add_get("/stream", srv.stream)
    app.router.add_get("/broken", srv.broken)
    app.router.add_get("/slow", srv.slow)
    app.router.add_get("/endless", srv.endless)
    app.router.add_route("*", "/echo", srv.echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield srv, f"http://127.0.0.1:{port}"
    finally:
        srv.closing.set()
        await runner.cleanup()


async def test_429_with_retry_after_is_retried(server: tuple[Server, str]) -> None:
    srv, url = server
    async with RESTClient(RESTConfig(host=url, qps=0)) as rest:
        assert await rest.request("GET", "/flaky") == {"ok": True}
        assert srv.flaky_calls == 3
        with pytest.raises(errors.TooManyRequests, match="slow down"):
            await rest.request("GET", "/no-retry-after")
        assert srv.flaky_calls == 4  # no Retry-After: not retried


async def test_non_status_error_body_becomes_the_exception_for_its_code(server: tuple[Server, str]) -> None:
    _, url = server
    async with RESTClient(RESTConfig(host=url)) as rest:
        with pytest.raises(errors.InternalError, match="kaboom"):
            await rest.request("GET", "/500")


async def test_stream_reassembles_lines_across_chunks(server: tuple[Server, str]) -> None:
    srv, url = server
    async with RESTClient(RESTConfig(host=url)) as rest:
        events = [e async for e in rest.stream("/stream")]
    assert [e["object"]["n"] for e in events] == [0, 1, 2, 3]
    assert events[1]["object"]["pad"] == srv.big
    assert events[3]["type"] == "DELETED"


async def test_broken_stream_raises_connection_failed(server: tuple[Server, str]) -> None:
    _, url = server
    got: list[dict[str, object]] = []

    async def consume(rest: RESTClient) -> None:
        async for e in rest.stream("/broken"):
            got.append(e)

    async with RESTClient(RESTConfig(host=url)) as rest:
        with pytest.raises(ConnectionFailed):
            await consume(rest)
    assert len(got) == 1


async def test_requests_share_a_bounded_pool_and_watches_never_take_its_place(server: tuple[Server, str]) -> None:
    """``max_connections`` bounds the connections (so a burst is never a storm of new connections, each a TLS
    handshake on the server); requests beyond it wait for a free one; open watches use a pool of their own."""
    srv, url = server
    async with RESTClient(RESTConfig(host=url, qps=0, max_connections=3)) as rest:
        watches = [rest.stream("/endless") for _ in range(4)]  # more watches than the request pool holds
        for w in watches:
            assert (await anext(w))["type"] == "BOOKMARK"
        burst = [asyncio.create_task(rest.request("GET", "/slow")) for _ in range(12)]
        async with asyncio.timeout(30):
            await srv.three_in.wait()
        await asyncio.sleep(0.1)  # room for a fourth request to arrive, if the bound let it
        assert srv.in_flight == 3
        srv.release.set()
        async with asyncio.timeout(30):
            assert await asyncio.gather(*burst) == [{"ok": True}] * 12
        for w in watches:
            await w.aclose()
    assert srv.most_in_flight == 3
    assert len(srv.peers) == 3  # the waiting requests reused the pool's connections


async def test_a_client_with_own_connections_never_waits_behind_the_first_ones_backlog(
        server: tuple[Server, str]) -> None:
    """The kubelet's events go over ``with_own_connections()``: with every connection of the first client
    busy and more requests queued for them, the second client's request is answered at once; it has a
    token bucket of its own, and closing it leaves the first client working."""
    srv, url = server
    async with RESTClient(RESTConfig(host=url, qps=0, max_connections=2)) as rest:
        own = rest.with_own_connections()
        assert not own.shares_connections_with(rest)
        assert own._limiter is not rest._limiter
        assert rest.sharing(rest.config).shares_connections_with(rest)
        backlog = [asyncio.create_task(rest.request("GET", "/slow")) for _ in range(6)]
        await asyncio.sleep(0.2)
        assert srv.in_flight == 2  # the first client's pool is full; four requests wait for it
        async with asyncio.timeout(10):
            assert (await own.request("GET", "/echo"))["Accept"] == "application/json"
        queued_behind = asyncio.create_task(rest.request("GET", "/echo"))
        await asyncio.sleep(0.2)
        assert not queued_behind.done()  # the same request through the first client waits for the backlog
        await own.close()
        srv.release.set()
        async with asyncio.timeout(30):
            assert await asyncio.gather(*backlog) == [{"ok": True}] * 6
            assert (await queued_behind)["Accept"] == "application/json"
        assert not rest.closed
        assert own.closed


async def test_headers_built_once_per_client_and_per_identity(server: tuple[Server, str], tmp_path) -> None:
    """A client's headers are built once per (accept, content type) and reused; a ``sharing`` view sends its
    own identity over the same pool; a token file is still re-read on every request."""
    _srv, url = server
    async with RESTClient(RESTConfig(host=url, qps=0, bearer_token="a")) as rest:
        assert await rest.request("GET", "/echo") == {"Authorization": "Bearer a", "Accept": "application/json",
                                                      "Content-Type": None}
        assert rest._headers("application/json", None) is rest._headers("application/json", None)
        assert (await rest.request("POST", "/echo", body={"x": 1}))["Content-Type"] == "application/json"
        node = rest.sharing(RESTConfig(host=url, qps=0, bearer_token="node-7"))
        assert (await node.request("POST", "/echo", body={}))["Authorization"] == "Bearer node-7"
        assert (await rest.request("POST", "/echo", body={}))["Authorization"] == "Bearer a"
    token = tmp_path / "token"
    token.write_text("one\n")
    async with RESTClient(RESTConfig(host=url, qps=0, bearer_token_file=str(token))) as rest:
        assert (await rest.request("GET", "/echo"))["Authorization"] == "Bearer one"
        token.write_text("two\n")
        assert (await rest.request("GET", "/echo"))["Authorization"] == "Bearer two"
