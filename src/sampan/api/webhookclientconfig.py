"""A webhook's ``clientConfig`` (admission webhooks and CRD conversion webhooks share it), validated as
upstream's ``ValidateWebhookClientConfig``: exactly one of an https ``url`` (a host, no user info, query
or fragment) or a ``service`` reference (name, namespace, a ``/``-rooted path, port 1-65535).
``caBundle`` is a base64 PEM bundle (checked when used). Pure; never raises on junk.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from sampan.api.errors import Cause, invalid, required


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def validate_client_config(cc: Any, path: str) -> list[Cause]:
    """Upstream ``ValidateWebhookClientConfig``: exactly one of url or service."""
    cc = _dict(cc)
    url, service = cc.get("url"), cc.get("service")
    if (url is None) == (service is None):
        return [Cause("FieldValueRequired", path, "Required value: exactly one of url or service is required")]
    if url is not None:
        return _validate_url(url, f"{path}.url")
    return _validate_service(_dict(service), f"{path}.service")


def _validate_url(url: Any, path: str) -> list[Cause]:
    if not isinstance(url, str) or not url:
        return [required(path)]
    try:
        parsed = urllib.parse.urlsplit(url)
    except ValueError as err:
        return [invalid(path, url, f"url must be a valid URL: {err}")]
    causes: list[Cause] = []
    if parsed.scheme != "https":
        causes.append(invalid(path, url, "'https' is the only allowed URL scheme"))
    if not parsed.hostname:
        causes.append(invalid(path, url, "host must be specified"))
    if parsed.username is not None or parsed.password is not None:
        causes.append(invalid(path, url, "user information is not permitted in the URL"))
    if parsed.fragment or "#" in url:
        causes.append(invalid(path, url, "fragments are not permitted in the URL"))
    if parsed.query or "?" in url:
        causes.append(invalid(path, url, "query parameters are not permitted in the URL"))
    return causes


def _validate_service(service: dict[str, Any], path: str) -> list[Cause]:
    causes: list[Cause] = []
    for key in ("name", "namespace"):
        if not service.get(key):
            causes.append(required(f"{path}.{key}"))
    p = service.get("path")
    if p is not None and (not isinstance(p, str) or not p.startswith("/")):
        causes.append(invalid(f"{path}.path", p, "must start with a '/'"))
    port = service.get("port")
    if port is not None and (not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535):
        causes.append(invalid(f"{path}.port", port, "port is not valid: must be between 1 and 65535, inclusive"))
    return causes


