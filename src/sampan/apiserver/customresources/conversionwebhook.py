"""CRD conversion webhooks (``spec.conversion.strategy: Webhook``): a ConversionReview v1 round trip
that turns custom objects from one version into another, as upstream's ``webhookConverter``.

The request is ``apiextensions.k8s.io/v1`` ``ConversionReview`` with a fresh ``uid``,
``desiredAPIVersion`` and the objects; the response must carry the same ``uid``, ``result.status:
Success`` and as many ``convertedObjects``, each in the desired version, with the same uid/name/
namespace. Of the metadata, only labels and annotations may change (the rest is restored from the
original, as upstream). Any failure is 500 ``conversion webhook for <group>/<version>, Kind=<kind>
failed: <reason>``.

The call is **synchronous**: conversion runs inside the scope's pure ``to_storage``/``from_storage``
functions (``registry.conversion``), which the watch cache and handlers call without awaiting. It
blocks this server's event loop for the round trip (bounded by :data:`TIMEOUT_SECONDS`); the watch
cache converts each stored object version at most once per served version (``cacher.views``), so
reads of unchanged objects do not call again. An object already in the desired version is not sent.
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
from sampan.apiserver.admission.webhooks.client import CallError, service_url, ssl_context, target_url, with_timeout

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
                 timeout: float = TIMEOUT_SECONDS) -> None:
        self._ctx = ctx
        self.group = group
        self.kind = kind
        self.client_config: dict[str, Any] = dict(webhook.get("clientConfig") or {})
        self.timeout = timeout

    def convert(self, obj: dict[str, Any], api_version: str) -> dict[str, Any]:
        """``obj`` in ``api_version`` (a new dict; ``obj`` itself is never changed)."""
        if obj.get("apiVersion") == api_version:
            return copy.deepcopy(obj)
        try:
            converted = self._round_trip(obj, api_version)
        except CallError as err:
            text = f"conversion webhook for {api_version}, Kind={self.kind} failed: {err}"
            log.warning("%s", text)
            raise errors.InternalError(text) from None
        return converted

    def _round_trip(self, obj: dict[str, Any], api_version: str) -> dict[str, Any]:
        uid = str(uuid.uuid4())
        review = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
                  "request": {"uid": uid, "desiredAPIVersion": api_version, "objects": [obj]}}
        answer = self._post(review)
        response = answer.get("response")
        if not isinstance(response, dict):
            raise CallError("conversion webhook response was absent")
        if response.get("uid") != uid:
            raise CallError(f'expected response.uid="{uid}", got "{response.get("uid")}"')
        raw_result = response.get("result")
        result: dict[str, Any] = raw_result if isinstance(raw_result, dict) else {}
        if result.get("status") != "Success":
            raise CallError(f"conversion webhook error: {result.get('message') or 'unknown'}")
        objects = response.get("convertedObjects")
        if not isinstance(objects, list) or len(objects) != 1 or not isinstance(objects[0], dict):
            raise CallError(f"returned objects count mismatch: expected 1, got "
                            f"{len(objects) if isinstance(objects, list) else 0}")
        out: dict[str, Any] = objects[0]
        if out.get("apiVersion") != api_version:
            raise CallError(f"invalid apiVersion in converted object: expected {api_version}, "
                            f"got {out.get('apiVersion')}")
        return _restore_metadata(out, obj)

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
