"""GET ``/api/v1/componentstatuses`` (and ``/{name}``): the health of the control plane, probed per request.

As upstream's kube-apiserver: ``scheduler`` and ``controller-manager`` are their ``/healthz`` on the
well-known local ports (10259, 10257; plain HTTP in sampan), ``etcd-0``, ``etcd-1``… each configured etcd
server's ``/health``. A component answering 200 is ``Healthy`` with its body as the message (``ok``); any
other answer or a connection error is ``Unhealthy`` with the error, as upstream words it. With sqlite or
memory storage there is no etcd entry. Every response carries upstream's deprecation warning. Probes run
concurrently, each bounded by ``PROBE_TIMEOUT``.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson
import yaml
from aiohttp import web

from sampan.api import errors
from sampan.apiserver import negotiation, tables
from sampan.apiserver.responses import representation
from sampan.apiserver.routes import CONTEXT_KEY
from sampan.apiserver.warning_headers import add_warnings
from sampan.storage.factory import StorageOptions

PROBE_TIMEOUT = 5.0
DEPRECATION = "v1 ComponentStatus is deprecated in v1.19+"
PATH = "/api/v1/componentstatuses"


def probe_targets(servers: Mapping[str, str], storage: StorageOptions) -> dict[str, str]:
    """Component name -> health URL: the configured servers, then ``etcd-N`` per etcd client URL."""
    targets = dict(servers)
    if storage.backend == "etcd":
        for i, url in enumerate(storage.etcd_servers):
            targets[f"etcd-{i}"] = url.rstrip("/") + "/health"
    return targets


def _etcd_tls(storage: StorageOptions) -> ssl.SSLContext | None:
    if storage.etcd_tls is None:
        return None
    ca, cert, key = storage.etcd_tls
    context = ssl.create_default_context(cafile=ca)
    context.load_cert_chain(cert, key)
    return context


async def _probe(session: aiohttp.ClientSession, url: str, tls: ssl.SSLContext | None) -> dict[str, str]:
    """One ``Healthy`` condition for ``url``."""
    try:
        async with session.get(url, ssl=tls if url.startswith("https:") and tls else False) as resp:
            body = (await resp.text()).strip()
            if resp.status == 200:
                message = "ok" if url.endswith("/health") else body  # etcd's JSON reads "ok" upstream
                return {"type": "Healthy", "status": "True", "message": message}
            return {"type": "Healthy", "status": "False", "message": body,
                    "error": f"unhealthy http status code: {resp.status}"}
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        reason = str(exc) or type(exc).__name__
        return {"type": "Healthy", "status": "False", "error": f'Get "{url}": {reason}'}


async def component_statuses(targets: Mapping[str, str], storage: StorageOptions) -> list[dict[str, Any]]:
    tls = _etcd_tls(storage)
    timeout = aiohttp.ClientTimeout(total=PROBE_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        conditions = await asyncio.gather(*(_probe(session, url, tls) for url in targets.values()))
    return [{"kind": "ComponentStatus", "apiVersion": "v1", "metadata": {"name": name}, "conditions": [condition]}
            for name, condition in zip(targets, conditions, strict=True)]


def _respond(request: web.Request, body: dict[str, Any], *, is_list: bool) -> web.Response:
    rep = representation(request)
    if rep.is_protobuf:
        rep = negotiation.DEFAULT
    strategy = request.app[CONTEXT_KEY].catalog.lookup("", "v1", "componentstatuses")
    now = request.app[CONTEXT_KEY].clock.wall()
    include = tables.parse_include_object(request.query.get("includeObject"))
    if is_list:
        rendered = tables.render_list(rep, strategy, body, now=now, include_object=include)
    else:
        rendered = tables.render_object(rep, strategy, body, now=now, include_object=include)
    if rep.media_type == negotiation.YAML:
        data = yaml.safe_dump(dict(rendered), default_flow_style=False, sort_keys=False).encode()
    else:
        data = orjson.dumps(rendered, option=orjson.OPT_INDENT_2 if rep.pretty else 0) + b"\n"
    response = web.Response(body=data, headers={"Content-Type": rep.content_type})
    return add_warnings(response, [DEPRECATION])  # type: ignore[return-value]


def _targets(request: web.Request) -> dict[str, str]:
    config = request.app[CONTEXT_KEY].config
    return probe_targets(config.component_status_servers, config.storage)


async def handle_list(request: web.Request) -> web.Response:
    if request.query.get("watch") in ("1", "true"):
        raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")
    config = request.app[CONTEXT_KEY].config
    items = await component_statuses(_targets(request), config.storage)
    return _respond(request, {"kind": "ComponentStatusList", "apiVersion": "v1", "metadata": {}, "items": items},
                    is_list=True)


async def handle_get(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    targets = _targets(request)
    if name not in targets:
        raise errors.not_found("componentstatuses", name, "")
    config = request.app[CONTEXT_KEY].config
    items = await component_statuses({name: targets[name]}, config.storage)
    return _respond(request, items[0], is_list=False)


def register(app: web.Application) -> None:
    """Exact routes, added before the catch-all resource routes (which would look in storage)."""
    app.router.add_get(PATH, handle_list)
    app.router.add_get(PATH + "/{name}", handle_get)
