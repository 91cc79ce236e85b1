"""The REST transport: one aiohttp session to an API server, with credentials, TLS, client-side rate
limiting, safe retries and ``Status`` decoding.

Error policy (what a caller sees):

- a response >= 400 raises the :mod:`sampan.api.errors` class its ``Status`` names (``NotFound``,
  ``Conflict``, ``Expired``, ``Invalid``…), or the class for its HTTP code when the body is not a Status;
- a connection that cannot be made raises :class:`ConnectionFailed`; one that breaks mid-response raises
  :class:`ConnectionFailed` too (callers such as the reflector treat both as "retry later").

Retries only where safe, i.e. where the server did not act on the request: 429 and 503 answers that carry
``Retry-After`` (client-go's rule, any verb) and a refused connection. At most ``max_retries`` times.
"""

from __future__ import annotations

import base64
import logging
import re
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import orjson
from multidict import CIMultiDict
from yarl import URL

from sampan._lib import gcpause, tracing
from sampan._lib.clock import Clock, RealClock
from sampan.api import errors
from sampan.client import metrics
from sampan.client.config import RESTConfig
from sampan.client.flowcontrol import TokenBucket

log = logging.getLogger(__name__)

JSON = "application/json"
Params = Mapping[str, str | int | bool | None]


class ConnectionFailed(errors.APIError):
    """The server could not be reached, or the connection broke mid-response (no Status was received)."""

    code, reason = 503, "ServiceUnavailable"


BULK_DECODE_BYTES = 64 * 1024
"""Responses at least this big are decoded with the cyclic GC paused (:func:`decode_json`)."""


def decode_json(body: bytes) -> Any:
    """``orjson.loads(body)``; a big body (a LIST page) is decoded with CPython's cyclic GC paused
    (:mod:`sampan._lib.gcpause`): a page of 500 pods is ~40,000 containers, and with the GC on an
    informer's sync spent 3/4 of its decoding in collections (bench/informer_sync.py)."""
    if len(body) < BULK_DECODE_BYTES:
        return orjson.loads(body)
    with gcpause.paused():
        return orjson.loads(body)


def decode_error(http_code: int, body: bytes) -> errors.APIError:
    """The exception a failed response stands for."""
    try:
        data = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        data = None
    if isinstance(data, dict) and data.get("kind") == "Status":
        return errors.from_status(data, http_code)
    text = body.decode("utf-8", "replace").strip()[:500] or f"HTTP {http_code}"
    status: dict[str, Any] = {"code": http_code, "message": text}
    if http_code == 500:
        status["reason"] = errors.InternalError.reason  # 500 has no entry in the by-code table
    return errors.from_status(status, http_code)


_PLAIN_PATH = re.compile(r"(?:/[A-Za-z0-9_~:@-][A-Za-z0-9._~:@-]*)*")
"""A path yarl would leave as it is: segments of unreserved characters (and ``:``, ``@``), none empty and none
starting with a dot (so no ``.``/``..`` segment to normalise away), nothing to percent-encode, no query."""


def _base_url(base: str) -> URL | None:
    """``base`` parsed once (host lower-cased, IDNA, default port dropped: as aiohttp would parse it per
    request), or None when it has anything :meth:`RESTClient._url` does not reproduce by appending a plain
    path (credentials, a query, a fragment, a path prefix that is not plain)."""
    try:
        url = URL(base)
    except ValueError:
        return None
    path = url.raw_path.rstrip("/")
    if (url.raw_user is not None or url.raw_password is not None or url.raw_query_string or url.raw_fragment
            or not url.absolute or _PLAIN_PATH.fullmatch(path) is None):
        return None
    return url.with_path(path or "/", encoded=True)


def _query(params: Params | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in (params or {}).items():
        if v is None:
            continue
        out[k] = ("true" if v else "false") if isinstance(v, bool) else str(v)
    return out


class RESTClient:
    """Requests against one API server. Create inside a running loop; ``await close()`` when done (or use
    ``async with``). The token bucket is shared by every request this client makes."""

    def __init__(
        self, config: RESTConfig, *, clock: Clock | None = None, max_retries: int = 5
    ) -> None:
        self.config = config
        self._clock = clock or RealClock()
        self._limiter = TokenBucket(config.qps, config.burst, clock=self._clock)
        self._max_retries = max_retries
        ssl_ctx = config.ssl_context()
        tls: ssl.SSLContext | bool = ssl_ctx if ssl_ctx is not None else False
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls, limit=config.max_connections))
        """Requests (bounded: ``config.max_connections``)."""
        self._watch_session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls, limit=0))
        """Watch streams: each holds its connection while it lasts, so they never take a request's place."""
        self._base = config.host.rstrip("/")
        self._host = self._base.split("://", 1)[-1].split("/", 1)[0]
        """host[:port], the ``host`` label of the rest_client_* metrics."""
        self._owns_session = True
        self._header_cache: dict[tuple[str, str | None], CIMultiDict[str]] = {}
        """(accept, content type) -> the request headers, built once per client (see :meth:`_headers`)."""
        self._timeout = aiohttp.ClientTimeout(total=config.timeout)
        base_url = _base_url(self._base)
        self._base_url, self._base_path = base_url, "" if base_url is None else base_url.raw_path.rstrip("/")
        """The server's URL parsed once, and its path prefix ("" for none): see :meth:`_url`."""

    def sharing(self, config: RESTConfig) -> RESTClient:
        """A client for the same server that sends ``config``'s credentials, user agent and timeout over this
        client's connections and token bucket (many identities in one process over one pool: hollow nodes,
        each its own ``system:node:<name>`` by bearer token). The view never closes the shared session; its
        owner does. ``config`` must name the same server; TLS (CA, client certificate) stays this client's,
        so give the identity as a token, not a certificate."""
        if config.host.rstrip("/") != self._base:
            raise ValueError(f"a shared client must talk to {self._base}, not {config.host}")
        view = object.__new__(RESTClient)
        view.__dict__.update(self.__dict__)
        view.config = config
        view._owns_session = False
        view._header_cache = {}
        view._timeout = aiohttp.ClientTimeout(total=config.timeout)
        return view

    def with_own_rate_limit(self) -> RESTClient:
        """A view of this client (same connections, credentials and config) with a token bucket of its own,
        sized by ``config.qps``/``config.burst``: upstream's controller-manager builds one client per
        controller from one config, so each controller has its own QPS budget. Closing it is a no-op."""
        view = object.__new__(RESTClient)
        view.__dict__.update(self.__dict__)
        view._limiter = TokenBucket(self.config.qps, self.config.burst, clock=self._clock)
        view._owns_session = False
        return view

    def with_own_connections(self) -> RESTClient:
        """A new client for the same server and config, with a connection pool and token bucket of its own
        (close it when done). For traffic that must never queue behind another's: a request waiting for one
        of this client's ``max_connections`` waits in one FIFO with every other request of the client, so a
        backlog of best-effort writes (events) would hold up the writes a pod's start-up waits for. Upstream's
        kubelet sends events through a client of its own (``EventRecordQPS``/``EventBurst``) for the same
        reason."""
        return RESTClient(self.config, clock=self._clock, max_retries=self._max_retries)

    def shares_connections_with(self, other: RESTClient) -> bool:
        """True when both send requests over the same connection pool (views of one client)."""
        return self._session is other._session

    async def __aenter__(self) -> RESTClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_session:
            await self._session.close()
            await self._watch_session.close()

    @property
    def closed(self) -> bool:
        return self._session.closed

    def _url(self, path: str) -> URL | str:
        """The request's URL: for a plain path (:data:`_PLAIN_PATH`, e.g. every object path of a valid name)
        the base URL parsed once with the path appended as it is — the URL aiohttp would parse from
        ``base + path``, whose parse (~8 µs when yarl's cache misses: 5,000 hollow nodes' Lease, Node and
        status paths always miss) was ~2% of a hollow node's heartbeat (issue 21). Any other path goes as
        the string ``base + path`` and is parsed (quoted, normalised) by aiohttp as before."""
        base = self._base_url
        if base is not None and _PLAIN_PATH.fullmatch(path) is not None:
            return base.with_path(self._base_path + path, encoded=True)
        return self._base + path

    def _headers(self, accept: str, content_type: str | None) -> Mapping[str, str]:
        """The request's headers. Built once per client and (accept, content type) — the config is frozen —
        unless the token is re-read from a file or tracing adds a ``traceparent`` per request. A cached
        value is a ``CIMultiDict``, which aiohttp merges without converting it again; aiohttp copies the
        headers it is given, never changes them (5,000 hollow nodes' heartbeats built ~1,000 header dicts
        a second, issue 21)."""
        if self.config.bearer_token_file or tracing.STATE.on:
            return self._build_headers(accept, content_type)
        key = (accept, content_type)
        cached = self._header_cache.get(key)
        if cached is None:
            cached = self._header_cache[key] = CIMultiDict(self._build_headers(accept, content_type))
        return cached

    def _build_headers(self, accept: str, content_type: str | None) -> dict[str, str]:
        headers = {"Accept": accept, "User-Agent": self.config.user_agent}
        if content_type:
            headers["Content-Type"] = content_type
        token = self.config.token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        elif self.config.username is not None:
            raw = f"{self.config.username}:{self.config.password or ''}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        tracing.inject(headers)  # traceparent, while tracing is on
        return headers

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: Any = None,
        content_type: str = JSON,
        accept: str = JSON,
    ) -> Any:
        """Send one request and return the decoded JSON body (None for an empty body)."""
        if tracing.STATE.on and method != "GET":
            with tracing.span(f"HTTP {method}", {"http.method": method, "http.target": path}) as span:
                result = await self._request(method, path, params=params, body=body, content_type=content_type,
                                             accept=accept)
                if isinstance(result, dict):  # the written object: what the trace store correlates by
                    span.set_attributes(tracing.object_attributes(result))
                return result
        return await self._request(method, path, params=params, body=body, content_type=content_type,
                                   accept=accept)

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: Any = None,
        content_type: str = JSON,
        accept: str = JSON,
    ) -> Any:
        data = None if body is None else body if isinstance(body, bytes) else orjson.dumps(body)
        timeout = self._timeout
        attempt = 0
        while True:
            await self._limiter.acquire()
            started, code = time.monotonic(), "<error>"
            try:
                async with self._session.request(
                    method, self._url(path), params=_query(params), data=data, timeout=timeout,
                    headers=self._headers(accept, content_type if data is not None else None),
                    server_hostname=self.config.tls_server_name,
                ) as resp:
                    code = str(resp.status)
                    raw = await resp.read()
                    if resp.status < 400:
                        return decode_json(raw) if raw else None
                    delay = self._retry_after(resp.status, resp.headers.get("Retry-After"), attempt)
                    if delay is None:
                        raise decode_error(resp.status, raw)
            except (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError) as e:
                raise ConnectionFailed(f"TLS handshake with {self._base} failed: {e}") from e
            except aiohttp.ClientConnectorError as e:
                if attempt >= self._max_retries:
                    raise ConnectionFailed(f"cannot connect to {self._base}: {e.os_error or e}") from e
                delay = min(1.0, 0.05 * 2**attempt)
            except (TimeoutError, aiohttp.ClientError) as e:
                raise ConnectionFailed(f"{method} {path} failed: {e or type(e).__name__}") from e
            finally:
                metrics.observe_request(method=method, host=self._host, code=code,
                                        seconds=time.monotonic() - started)
            attempt += 1
            log.debug("retrying request method=%s path=%s attempt=%d delay=%.3f", method, path, attempt, delay)
            await self._clock.sleep(delay)

    def _retry_after(self, status: int, header: str | None, attempt: int) -> float | None:
        if status not in (429, 503) or header is None or attempt >= self._max_retries:
            return None
        try:
            return max(0.0, min(float(header), 10.0))
        except ValueError:
            return None

    async def get_text(self, path: str) -> str:
        """GET a path that is not JSON (e.g. ``/metrics``) with this client's credentials: the body as text.
        No retries; an error status raises its APIError, no answer :class:`ConnectionFailed`."""
        await self._limiter.acquire()
        try:
            async with self._session.get(self._url(path), headers=self._headers("text/plain", None),
                                         timeout=aiohttp.ClientTimeout(total=self.config.timeout),
                                         server_hostname=self.config.tls_server_name) as resp:
                raw = await resp.read()
                if resp.status >= 400:
                    raise decode_error(resp.status, raw)
                return raw.decode(errors="replace")
        except (TimeoutError, aiohttp.ClientError) as e:
            raise ConnectionFailed(f"GET {path} failed: {e or type(e).__name__}") from e

    async def stream(self, path: str, *, params: Params | None = None, read_timeout: float | None = None
                     ) -> AsyncIterator[dict[str, Any]]:
        """GET ``path`` and yield each newline-delimited JSON object of the response (a watch stream).

        Ends when the server closes the stream. ``read_timeout`` bounds the silence between chunks.
        Raises like :meth:`request` for an error answer or a broken connection.
        """
        await self._limiter.acquire()
        timeout = aiohttp.ClientTimeout(total=None, sock_read=read_timeout)
        try:
            async with self._watch_session.get(
                self._url(path), params=_query(params), timeout=timeout, headers=self._headers(JSON, None),
                server_hostname=self.config.tls_server_name,
            ) as resp:
                metrics.observe_request(method="GET", host=self._host, code=str(resp.status), seconds=0.0)
                if resp.status >= 400:
                    raise decode_error(resp.status, await resp.read())
                buf = b""
                async for chunk in resp.content.iter_any():
                    buf += chunk
                    while True:
                        nl = buf.find(b"\n")
                        if nl < 0:
                            break
                        line, buf = buf[:nl], buf[nl + 1 :]
                        if line.strip():
                            yield _decode_line(line)
                if buf.strip():
                    yield _decode_line(buf)
        except (TimeoutError, aiohttp.ClientError) as e:
            raise ConnectionFailed(f"watch {path} broke: {e or type(e).__name__}") from e


def _decode_line(line: bytes) -> dict[str, Any]:
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as e:
        raise ConnectionFailed(f"malformed watch event: {line[:200]!r}") from e
    if not isinstance(obj, dict):
        raise ConnectionFailed(f"malformed watch event: {line[:200]!r}")
    return obj
