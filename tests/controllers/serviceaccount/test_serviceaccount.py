"""The ServiceAccount controller against a real API server: ``default`` appears in every namespace and
comes back when deleted."""

from __future__ import annotations

import functools
from typing import Any

from sampan.api import errors
from sampan.client import Client
from tests.controllers.clients import unthrottled_client
from tests.controllers.support import fast_options, running_manager, wait_for
from tests.support.apiserver import InProcessAPIServer


async def _get(client: Client, ns: str, name: str) -> dict[str, Any] | None:
    sas = await client.resource("v1", "serviceaccounts")
    try:
        return await sas.get(name, namespace=ns)
    except errors.NotFound:
        return None


async def test_default_account_in_every_namespace_and_recreated(inproc_apiserver: InProcessAPIServer) -> None:
    async with unthrottled_client(inproc_apiserver) as client:
        nss = await client.resource("v1", "namespaces")
        await nss.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "before"}})
        async with running_manager(client, fast_options(("serviceaccount",))):
            await nss.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "after"}})
            for ns in ("default", "before", "after"):
                await wait_for(functools.partial(_get, client, ns, "default"), message=f"default SA in {ns}")
            sas = await client.resource("v1", "serviceaccounts")
            first = await _get(client, "after", "default")
            assert first is not None
            await sas.delete("default", namespace="after")

            async def recreated() -> bool:
                sa = await _get(client, "after", "default")
                return sa is not None and sa["metadata"]["uid"] != first["metadata"]["uid"]

            await wait_for(recreated, message="default SA recreated")
            assert await _get(client, "after", "other") is None  # only `default` is managed
