"""CRD conversion webhooks (``spec.conversion.strategy: Webhook``): a ConversionReview v1 round trip
that turns custom objects from one version into another, as upstream's ``webhookConverter``.

The request is ``apiextensions.k8s.io/v1`` ``ConversionReview`` with a fresh ``uid``,
``desiredAPIVersion`` and the objects; the response must carry the same ``uid``, ``result.status:
Success`` and as many ``convertedObjects``, each in the desired version, with the same uid/name/
namespace. Of the metadata, only labels and annotations may change (the rest is restored from the
original, as upstream). Any failure is 500 ``conversion webhook for <group>/<version>, Kind=<kind>
failed: <reason>`` (the version the objects are converted *from*, as upstream; the reason is the
webhook's ``result.message`` when it gives one).

Like upstream, conversion runs on the request path, bounded by :data:`TIMEOUT_SECONDS`. It is
**asynchronous** there: :meth:`ConversionWebhook.to_view_many` / :meth:`to_storage_one` (the view's
``Remote``, ``cacher.views``) go through one aiohttp session per server (:class:`WebhookClient`, TLS
contexts cached per ``caBundle``), and a LIST or a batch of watch events is converted in **one**
review; every watcher of a view shares the conversion of an event; a slow or dead webhook delays only
the requests that need it, never the event loop or the watch cache. The synchronous :meth:`convert`
remains only as the fallback of a view's ``show`` for an object nobody prepared (no request path leaves
one: a ValidatingAdmissionPolicy converts its params of a converted kind ahead); it blocks for its round
trip. An object already in the desired version is not sent.
"""

from __future__ import annotations

import copy
import http.client
import logging
import socket
import urllib.parse
import uuid
from typing import TYPE_CHECKING, Any

import orjson

from sampan.api import errors
from sampan.apiserver.admission.webhooks.client import (
    CallError,
    WebhookClient,
    service_url,
    ssl_context,
    target_url,
    with_timeout,
)

if TYPE_CHECKING:
    from sampan.apiserver.context import ServerContext

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 30.0
"""Upstream's conversion webhook timeout."""
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
KEPT_METADATA = ("labels", "annotations")


class ConversionWebhook:
    """The conversion webhook of one CRD (its ``spec.conversion.webhook``)."""

    def __init__(self, ctx: ServerContext, *, group: str, kind: str, webhook: dict[str, Any],
                 client: WebhookClient | None = None, timeout: float = TIMEOUT_SECONDS) -> None:
        self._ctx = ctx
        self.group = group
        self.kind = kind
        self.client_config: dict[str, Any] = dict(webhook.get("clientConfig") or {})
        self.timeout = timeout
        self._client = client or WebhookClient()

    def convert(self, obj: dict[str, Any], api_version: str) -> dict[str, Any]:
        """``obj`` in ``api_version`` (a new dict; ``obj`` itself is never changed), blocking."""
        if obj.get("apiVersion") == api_version:
            return copy.deepcopy(obj)
        review, uid = _review([obj], api_version)
        try:
            return _converted(self._post(review), uid, [obj], api_version)[0]
        except CallError as err:
            raise self._failure([obj], err) from None

    async def convert_many(self, objs: list[dict[str, Any]], api_version: str) -> list[dict[str, Any]]:
        """``objs`` in ``api_version`` (new dicts, same order) in one review, awaited (never blocking)."""
        todo = [i for i, o in enumerate(objs) if o.get("apiVersion") != api_version]
        out = [copy.deepcopy(o) for o in objs]
        if not todo:
            return out
        sent = [objs[i] for i in todo]
        review, uid = _review(sent, api_version)
        try:
            answer = await self._client.post(self._ctx, self.client_config, review, timeout=self.timeout)
            converted = _converted(answer, uid, sent, api_version)
        except CallError as err:
            raise self._failure(sent, err) from None
        for i, obj in zip(todo, converted, strict=True):
            out[i] = obj
        return out

    def _failure(self, objs: list[dict[str, Any]], err: CallError) -> errors.InternalError:
        reason = str(err).removeprefix("failed to call webhook: ")
        text = f"conversion webhook for {objs[0].get('apiVersion', '')}, Kind={self.kind} failed: {reason}"
        log.warning("%s", text)
        return errors.InternalError(text)

    async def close(self) -> None:
        await self._client.close()

    def _post(self, review: dict[str, Any]) -> dict[str, Any]:
        try:
            url, server_name = target_url(self._ctx, self.client_config)
        except CallError as err:
            raise CallError(f'Post "{with_timeout(service_url(self.client_config), self.timeout)}": {err}') from None
        full = with_timeout(url, self.timeout)
        shown = full if server_name is None else with_timeout(service_url(self.client_config), self.timeout)
        split = urllib.parse.urlsplit(full)
        host, port = split.hostname or "", split.port or 443
        context = ssl_context(self.client_config.get("caBundle"))
        body = orjson.dumps(review)
        try:
            sock = socket.create_connection((host, port), timeout=self.timeout)
            conn = http.client.HTTPConnection(host, port, timeout=self.timeout)
            conn.sock = context.wrap_socket(sock, server_hostname=server_name or host)
            try:
                conn.request("POST", f"{split.path}?{split.query}", body=body,
                             headers={"Content-Type": "application/json", "Accept": "application/json"})
                resp = conn.getresponse()
                raw = resp.read(MAX_RESPONSE_BYTES + 1)
            finally:
                conn.close()
        except TimeoutError:
            raise CallError(f'Post "{shown}": context deadline exceeded') from None
        except ConnectionRefusedError:
            raise CallError(f'Post "{shown}": dial tcp {host}:{port}: connect: connection refused') from None
        except OSError as err:
            raise CallError(f'Post "{shown}": {err}') from None
        if not 200 <= resp.status < 300:
            raise CallError(f'Post "{shown}": the server responded with status {resp.status}')
        try:
            decoded = orjson.loads(raw)
        except orjson.JSONDecodeError as err:
            raise CallError(f"invalid conversion response: {err}") from None
        if not isinstance(decoded, dict):
            raise CallError("invalid conversion response: not a JSON object")
        return decoded


def _review(objs: list[dict[str, Any]], api_version: str) -> tuple[dict[str, Any], str]:
    uid = str(uuid.uuid4())
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
            "request": {"uid": uid, "desiredAPIVersion": api_version, "objects": objs}}, uid


def _converted(answer: dict[str, Any], uid: str, sent: list[dict[str, Any]], api_version: str) -> list[dict[str, Any]]:
    """The converted objects of a ConversionReview answer, checked as upstream (CallError otherwise)."""
    response = answer.get("response")
    if not isinstance(response, dict):
        raise CallError("no response provided")
    if response.get("uid") != uid:
        raise CallError(f'expected response.uid="{uid}", got "{response.get("uid")}"')
    raw_result = response.get("result")
    result: dict[str, Any] = raw_result if isinstance(raw_result, dict) else {}
    if result.get("status") != "Success":
        raise CallError(str(result.get("message") or
                            f"response.result.status was '{result.get('status', '')}', not 'Success'"))
    objects = response.get("convertedObjects")
    count = len(objects) if isinstance(objects, list) else 0
    if not isinstance(objects, list) or count != len(sent) or not all(isinstance(o, dict) for o in objects):
        raise CallError(f"returned {count} objects, expected {len(sent)}")
    out = []
    for obj, original in zip(objects, sent, strict=True):
        if obj.get("apiVersion") != api_version:
            raise CallError(f"invalid apiVersion in converted object: expected {api_version}, "
                            f"got {obj.get('apiVersion')}")
        out.append(_restore_metadata(obj, original))
    return out


def _restore_metadata(converted: dict[str, Any], original: dict[str, Any]) -> dict[str, Any]:
    """Upstream ``restoreObjectMeta``: the original metadata with the converted labels and annotations;
    a webhook that changed uid, name or namespace answered for another object."""
    md, orig = converted.get("metadata"), original.get("metadata") or {}
    md = md if isinstance(md, dict) else {}
    for key in ("uid", "name", "namespace"):
        if md.get(key, orig.get(key)) != orig.get(key):
            raise CallError(f"invalid metadata in converted object: {key} changed")
    restored = copy.deepcopy(orig)
    for key in KEPT_METADATA:
        if md.get(key) is not None:
            restored[key] = md[key]
        else:
            restored.pop(key, None)
    converted["metadata"] = restored
    return converted
