"""Calling a webhook: where (``clientConfig.url``, or ``service`` resolved through the Service's
EndpointSlices — then Endpoints — to a ready address, with ``service.port``/``path``), how (HTTPS with
an ssl context that trusts ``caBundle``, else the system's roots; ``?timeout=<n>s`` as upstream), and
upstream's error texts (``failed to call webhook: Post "https://…": context deadline exceeded``,
``… connect: connection refused``, ``… x509: certificate signed by unknown authority``).

:class:`WebhookClient` owns one aiohttp session (created on first use in the server's loop, closed by
:meth:`close`) ; ssl contexts are cached per CA bundle (:func:`ssl_context`). Lookups read the watch cache,
never the store. Invariant: :meth:`post` either returns the decoded JSON body of a 2xx response or
raises :class:`CallError` whose text is the part after ``failed calling webhook "<name>": ``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import logging
import ssl
import urllib.parse
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson

from sampan.api import meta

if TYPE_CHECKING:
    from sampan.apiserver.context import ServerContext

log = logging.getLogger(__name__)

MAX_SSL_CONTEXTS = 64
MAX_RESPONSE_BYTES = 3 * 1024 * 1024


class CallError(Exception):
    """The webhook could not be called or answered nonsense (text as upstream words it)."""


class ResolveError(CallError):
    pass


def _endpoint_from_slices(ctx: ServerContext, namespace: str, service: str,
                          port: dict[str, Any]) -> tuple[str, int] | None:
    scope = ctx.scope("discovery.k8s.io", "v1", "endpointslices")
    if scope is None:
        return None
    from sampan.apiserver.cacher.watcher import Filter

    for co in scope.cache.sorted_objects(Filter(namespace=namespace)):
        s = co.obj
        if meta.labels(s).get("kubernetes.io/service-name") != service:
            continue
        number = _port_number(s.get("ports"), port)
        if number is None:
            continue
        for ep in s.get("endpoints") or []:
            cond = ep.get("conditions") or {}
            if cond.get("ready") is False:
                continue
            for addr in ep.get("addresses") or []:
                return str(addr), number
    return None


def _endpoint_from_endpoints(ctx: ServerContext, namespace: str, service: str,
                             port: dict[str, Any]) -> tuple[str, int] | None:
    scope = ctx.scope("", "v1", "endpoints")
    if scope is None:
        return None
    co = scope.cache.objects.get(scope.key(namespace, service))
    if co is None:
        return None
    for subset in co.obj.get("subsets") or []:
        number = _port_number(subset.get("ports"), port)
        if number is None:
            continue
        for addr in subset.get("addresses") or []:
            if addr.get("ip"):
                return str(addr["ip"]), number
    return None


def _port_number(ports: Any, svc_port: dict[str, Any]) -> int | None:
    """The endpoint port backing a service port (by name; a single unnamed port matches)."""
    if not isinstance(ports, list):
        return None
    name = svc_port.get("name") or ""
    target = svc_port.get("targetPort", svc_port.get("port"))
    for p in ports:
        if isinstance(p, dict) and (p.get("name") or "") == name and isinstance(p.get("port"), int):
            return int(p["port"])
    if isinstance(target, int):
        return target
    return None


def resolve_service(ctx: ServerContext, ref: dict[str, Any]) -> tuple[str, int]:
    """(address, port) of a ready endpoint of the referenced Service port."""
    namespace, name = str(ref.get("namespace") or ""), str(ref.get("name") or "")
    port = int(ref.get("port") or 443)
    services = ctx.scope("", "v1", "services")
    svc = services.cache.objects.get(services.key(namespace, name)) if services is not None else None
    if svc is None:
        raise ResolveError(f'service "{name}" not found')
    svc_port = next((p for p in (svc.obj.get("spec") or {}).get("ports") or []
                     if isinstance(p, dict) and p.get("port") == port), None)
    if svc_port is None:
        raise ResolveError(f"no service port {port} found for service \"{name}\"")
    found = (_endpoint_from_slices(ctx, namespace, name, svc_port)
             or _endpoint_from_endpoints(ctx, namespace, name, svc_port))
    if found is None:
        raise ResolveError(f'no endpoints available for service "{name}"')
    return found


def target_url(ctx: ServerContext, client_config: dict[str, Any]) -> tuple[str, str | None]:
    """(the URL to post to, the TLS server name when it differs from the URL's host)."""
    url = client_config.get("url")
    if isinstance(url, str) and url:
        return url, None
    ref = client_config.get("service") or {}
    host, port = resolve_service(ctx, ref)
    path = ref.get("path") or "/"
    shown = f"[{host}]" if ":" in host else host
    return f"https://{shown}:{port}{path}", f"{ref.get('name')}.{ref.get('namespace')}.svc"


def service_url(client_config: dict[str, Any]) -> str:
    """The URL upstream names in errors for a service reference."""
    ref = client_config.get("service") or {}
    return f"https://{ref.get('name')}.{ref.get('namespace')}.svc:{ref.get('port') or 443}{ref.get('path') or ''}"


def ssl_context(ca_bundle: Any) -> ssl.SSLContext:
    """A client context trusting the base64 PEM ``ca_bundle`` (the system's roots when empty); cached."""
    return _ssl_context(ca_bundle if isinstance(ca_bundle, str) else "")


@functools.lru_cache(maxsize=MAX_SSL_CONTEXTS)
def _ssl_context(ca_bundle: str) -> ssl.SSLContext:
    if not ca_bundle:
        return ssl.create_default_context()
    try:
        pem = base64.b64decode(ca_bundle, validate=True)
        return ssl.create_default_context(cadata=pem.decode("ascii", "replace"))
    except (binascii.Error, ssl.SSLError, ValueError) as err:
        raise CallError(f"failed to call webhook: invalid caBundle: {err}") from None


def with_timeout(url: str, timeout: float) -> str:
    """``url`` with upstream's ``timeout=<n>s`` query parameter."""
    seconds = int(timeout) if float(timeout).is_integer() else timeout
    split = urllib.parse.urlsplit(url)
    query = f"{split.query}&timeout={seconds}s" if split.query else f"timeout={seconds}s"
    return urllib.parse.urlunsplit((split.scheme, split.netloc, split.path or "/", query, ""))


class WebhookClient:
    """HTTPS calls to webhooks (see the module invariants)."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def post(self, ctx: ServerContext, client_config: dict[str, Any], body: dict[str, Any], *,
                   timeout: float) -> dict[str, Any]:
        try:
            url, server_name = target_url(ctx, client_config)
        except ResolveError as err:
            shown = with_timeout(service_url(client_config), timeout)
            raise CallError(f'failed to call webhook: Post "{shown}": {err}') from None
        split = urllib.parse.urlsplit(url)
        full = with_timeout(url, timeout)
        shown = full if server_name is None else with_timeout(service_url(client_config), timeout)
        context = ssl_context(client_config.get("caBundle"))
        if self._session is None:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256),
                                                  skip_auto_headers=("User-Agent",))
        try:
            async with asyncio.timeout(timeout):
                async with self._session.post(full, data=orjson.dumps(body), ssl=context,
                                              server_hostname=server_name,
                                              headers={"Content-Type": "application/json",
                                                       "Accept": "application/json"}) as resp:
                    raw = await _read_capped(resp.content, MAX_RESPONSE_BYTES + 1)
                    status = resp.status
        except TimeoutError:
            raise CallError(f'failed to call webhook: Post "{shown}": context deadline exceeded') from None
        except aiohttp.ClientConnectorCertificateError as err:
            raise CallError(f'failed to call webhook: Post "{shown}": tls: failed to verify certificate: '
                            f"x509: {_x509_reason(err)}") from None
        except aiohttp.ClientConnectorError as err:
            raise CallError(f'failed to call webhook: Post "{shown}": dial tcp {split.hostname}:{split.port or 443}: '
                            f"connect: {_connect_reason(err)}") from None
        except (aiohttp.ClientError, OSError) as err:
            raise CallError(f'failed to call webhook: Post "{shown}": {err}') from None
        if len(raw) > MAX_RESPONSE_BYTES:
            raise CallError("failed to call webhook: response body too large")
        if not 200 <= status < 300:
            text = raw[:200].decode("utf-8", "replace")
            raise CallError(f'failed to call webhook: an error on the server ("{text}") has prevented the '
                            "request from succeeding")
        try:
            decoded = orjson.loads(raw)
        except orjson.JSONDecodeError as err:
            raise CallError(f"received invalid webhook response: {err}") from None
        if not isinstance(decoded, dict):
            raise CallError("received invalid webhook response: not a JSON object")
        return decoded

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


async def _read_capped(stream: aiohttp.StreamReader, limit: int) -> bytes:
    """The body up to ``limit`` bytes (``StreamReader.read(n)`` returns what is buffered, not n)."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await stream.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _x509_reason(err: aiohttp.ClientConnectorCertificateError) -> str:
    text = str(getattr(err, "certificate_error", err))
    if "self-signed" in text or "unable to get local issuer" in text or "self signed" in text:
        return "certificate signed by unknown authority"
    if "Hostname mismatch" in text or "IP address mismatch" in text:
        return f"certificate is not valid for the requested name ({text})"
    return text


def _connect_reason(err: aiohttp.ClientConnectorError) -> str:
    os_err = getattr(err, "os_error", None)
    if isinstance(os_err, ConnectionRefusedError):
        return "connection refused"
    return str(os_err or err).lower()
