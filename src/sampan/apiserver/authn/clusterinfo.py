"""Publishing how this server authenticates: the ``kube-system/extension-apiserver-authentication``
ConfigMap (upstream's cluster-authentication-info controller).

Extension API servers (``sampan metrics-server``) read it to trust what the API server trusts: keys
``client-ca-file`` (the PEM of ``--client-ca-file``) and, with request-header authentication,
``requestheader-client-ca-file`` (PEM), ``requestheader-allowed-names``,
``requestheader-username-headers``, ``requestheader-group-headers`` and
``requestheader-extra-headers-prefix`` (each a JSON array, as upstream writes them). Written at every
start (created, or updated when it differs; several servers writing the same content is harmless).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from sampan.apiserver.cacher.objects import decode_stored, encode_for_store
from sampan.apiserver.context import ServerContext
from sampan.apiserver.handlers.objectmeta import new_uid, timestamp
from sampan.storage import Conflict, KeyExists, KeyNotFound

log = logging.getLogger(__name__)

NAMESPACE, NAME = "kube-system", "extension-apiserver-authentication"


def wanted_data(ctx: ServerContext) -> dict[str, str]:
    """The ConfigMap's data for this server's options (empty: nothing to publish)."""
    config = ctx.config
    options = config.authentication
    data: dict[str, str] = {}
    client_ca = (options.client_ca_file if options else None) or (config.tls.client_ca_file if config.tls else None)
    if client_ca is not None:
        data["client-ca-file"] = client_ca.read_text()
    rh = options.requestheader if options else None
    if rh is not None:
        data.update({
            "requestheader-client-ca-file": rh.client_ca_file.read_text(),
            "requestheader-allowed-names": json.dumps(list(rh.allowed_names)),
            "requestheader-username-headers": json.dumps(list(rh.username_headers)),
            "requestheader-group-headers": json.dumps(list(rh.group_headers)),
            "requestheader-extra-headers-prefix": json.dumps(list(rh.extra_headers_prefix)),
        })
    return data


async def publish(ctx: ServerContext) -> None:
    """Create or update the ConfigMap (bounded retries on a concurrent write)."""
    scope = ctx.scope("", "v1", "configmaps")
    data = wanted_data(ctx)
    if scope is None or not data:
        return
    key = scope.key(NAMESPACE, NAME)
    for _ in range(3):
        try:
            kv = await ctx.store.get(key)
        except KeyNotFound:
            md = {"name": NAME, "namespace": NAMESPACE, "uid": new_uid(),
                  "creationTimestamp": timestamp(ctx.clock.wall())}
            obj: dict[str, Any] = {"kind": "ConfigMap", "apiVersion": "v1", "data": data, "metadata": md}
            try:
                await ctx.store.create(key, encode_for_store(obj))
                log.info("published authentication info configmap=%s/%s", NAMESPACE, NAME)
                return
            except KeyExists:
                continue
        current = decode_stored(kv.value, kv.mod_revision)
        if current.get("data") == data:
            return
        current["metadata"].pop("resourceVersion", None)
        current["data"] = data
        try:
            await ctx.store.update(key, encode_for_store(current), expected_mod_revision=kv.mod_revision)
            log.info("updated authentication info configmap=%s/%s", NAMESPACE, NAME)
            return
        except (Conflict, KeyNotFound):
            continue
