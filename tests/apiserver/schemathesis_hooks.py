"""schemathesis hooks for ``test_schemathesis`` (loaded through ``SCHEMATHESIS_HOOKS``).

``map_body`` aims generated writes at the seeded objects: a body's ``kind``/``apiVersion`` become the
operation's, ``metadata.name`` and ``namespace`` the seeded ``fz``/``default`` and preconditions
(``resourceVersion``, ``uid``) are dropped, so PUTs and POSTs reach decoding, validation and storage
instead of stopping at "name does not match the URL".
"""

from __future__ import annotations

from typing import Any

import schemathesis


def _aimed(body: Any, operation: Any) -> Any:
    raw = getattr(getattr(operation, "definition", None), "raw", None)
    gvk = raw.get("x-kubernetes-group-version-kind") if isinstance(raw, dict) else None
    if not isinstance(body, dict) or not isinstance(gvk, dict) or gvk.get("kind") in ("Scale", "Status"):
        return body
    if raw.get("x-kubernetes-action") not in ("post", "put", "patch"):
        return body
    group, version = gvk.get("group", ""), gvk.get("version", "")
    body["apiVersion"] = f"{group}/{version}" if group else version
    body["kind"] = gvk["kind"]
    md = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
    for key in ("resourceVersion", "uid", "generateName", "namespace", "deletionTimestamp", "managedFields"):
        md.pop(key, None)
    md["name"] = "fz"
    body["metadata"] = md
    return body


@schemathesis.hook
def map_body(context: Any, body: Any) -> Any:
    return _aimed(body, getattr(context, "operation", None))
