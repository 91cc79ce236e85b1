"""The resource-quota controller with the API server's ResourceQuota admission: status.hard/used filled
in for a new quota (counting what already exists), usage released when objects go, the issue's
acceptance (pods: 3, requests.cpu: 1; 20 concurrent creates -> exactly 3) and the real kubectl's
``describe quota`` showing the usage."""

from __future__ import annotations

import asyncio
import os
import shutil
from typing import Any

import pytest

from sampan.api import errors
from sampan.client import Client
from sampan.client.dynamic import PatchType
from tests.controllers.clients import unthrottled_client
from tests.controllers.support import fast_options, running_manager, wait_for
from tests.support.apiserver import InProcessAPIServer

CONTROLLERS = ("resourcequota",)


def pod(name: str, cpu: str = "100m") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "nginx",
                                     "resources": {"requests": {"cpu": cpu}}}]}}


async def quota_status(client: Client, name: str, ns: str = "default") -> dict[str, Any]:
    quotas = await client.resource("v1", "resourcequotas")
    return dict((await quotas.get(name, namespace=ns)).get("status") or {})


async def used_is(client: Client, name: str, expected: dict[str, str]) -> bool:
    return (await quota_status(client, name)).get("used") == expected


async def test_controller_fills_status_and_releases_usage(inproc_apiserver: InProcessAPIServer) -> None:
    async with unthrottled_client(inproc_apiserver) as client:
        cms = await client.resource("v1", "configmaps")
        pods = await client.resource("v1", "pods")
        quotas = await client.resource("v1", "resourcequotas")
        for i in range(2):
            await cms.create({"metadata": {"name": f"pre{i}"}}, namespace="default")
        async with running_manager(client, fast_options(CONTROLLERS, resource_quota_sync_period=3600.0)):
            await quotas.create({"metadata": {"name": "q"}, "spec": {"hard": {
                "pods": "2", "requests.cpu": "1", "count/configmaps": "10", "count/deployments.apps": "1",
                "services.nodeports": "4"}}}, namespace="default")
            await wait_for(lambda: used_is(client, "q", {
                "pods": "0", "requests.cpu": "0", "count/configmaps": "2", "count/deployments.apps": "0",
                "services.nodeports": "0"}), message="usage computed")
            assert (await quota_status(client, "q"))["hard"]["pods"] == "2"
            await pods.create(pod("a", "300m"), namespace="default")
            await pods.create(pod("b", "300m"), namespace="default")
            with pytest.raises(errors.Forbidden, match="exceeded quota: q, requested: pods=1, used: pods=2"):
                await pods.create(pod("c"), namespace="default")
            await pods.delete("a", namespace="default", grace_period_seconds=0)
            await wait_for(lambda: used_is(client, "q", {
                "pods": "1", "requests.cpu": "300m", "count/configmaps": "2", "count/deployments.apps": "0",
                "services.nodeports": "0"}), message="usage released after a delete")
            await pods.create(pod("c"), namespace="default")
            # a claim's deletion releases its quota at once too (not at the next full resync)
            claims = await client.resource("v1", "persistentvolumeclaims")
            await quotas.create({"metadata": {"name": "storage"}, "spec": {"hard": {
                "persistentvolumeclaims": "3", "requests.storage": "10Gi"}}}, namespace="default")
            await claims.create({"metadata": {"name": "data"}, "spec": {
                "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}},
                namespace="default")
            await wait_for(lambda: used_is(client, "storage", {"persistentvolumeclaims": "1",
                                                                "requests.storage": "1Gi"}), message="claim charged")
            await claims.delete("data", namespace="default")
            # what the pvc-protection controller does for an unused claim: the delete then completes
            await claims.patch("data", {"metadata": {"finalizers": None}}, patch_type=PatchType.MERGE,
                               namespace="default")
            await wait_for(lambda: used_is(client, "storage", {"persistentvolumeclaims": "0", "requests.storage": "0"}),
                           message="claim released")
            # a change of spec.hard is picked up
            q = await quotas.get("q", namespace="default")
            q["spec"]["hard"] = {"pods": "5"}
            await quotas.update(q, namespace="default")
            await wait_for(lambda: used_is(client, "q", {"pods": "2"}), message="usage for new hard")


async def test_resync_corrects_a_wrong_usage(inproc_apiserver: InProcessAPIServer) -> None:
    async with unthrottled_client(inproc_apiserver) as client:
        quotas = await client.resource("v1", "resourcequotas")
        async with running_manager(client, fast_options(CONTROLLERS, resource_quota_sync_period=0.3)):
            await quotas.create({"metadata": {"name": "q"}, "spec": {"hard": {"secrets": "3"}}}, namespace="default")
            await wait_for(lambda: used_is(client, "q", {"secrets": "0"}), message="usage computed")
            q = await quotas.get("q", namespace="default")
            q["status"]["used"] = {"secrets": "3"}  # e.g. charged for creates that then failed
            await quotas.update_status(q, namespace="default")
            await wait_for(lambda: used_is(client, "q", {"secrets": "0"}), message="usage corrected by resync")


async def kubectl(server: InProcessAPIServer, *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        "kubectl", "--kubeconfig", str(server.kubeconfig), *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, "KUBECTL_COMMAND_HEADERS": "false"})
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return out.decode()


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
async def test_acceptance_twenty_concurrent_creates_three_admitted(inproc_apiserver: InProcessAPIServer) -> None:
    async with unthrottled_client(inproc_apiserver) as client:
        quotas = await client.resource("v1", "resourcequotas")
        pods = await client.resource("v1", "pods")
        async with running_manager(client, fast_options(CONTROLLERS)):
            await quotas.create({"metadata": {"name": "compute"}, "spec": {"hard": {"pods": "3", "requests.cpu": "1"}}},
                                namespace="default")
            await wait_for(lambda: used_is(client, "compute", {"pods": "0", "requests.cpu": "0"}),
                           message="quota observed by the controller")

            async def create(i: int) -> str:
                try:
                    await pods.create(pod(f"p{i}"), namespace="default")
                    return "created"
                except errors.Forbidden as exc:
                    return "forbidden" if "exceeded quota: compute, requested: pods=1, used: pods=3, limited: " \
                        "pods=3" in str(exc) else str(exc)

            results = await asyncio.gather(*(create(i) for i in range(20)))
            assert results.count("created") == 3
            assert results.count("forbidden") == 17
            assert (await quota_status(client, "compute"))["used"] == {"pods": "3", "requests.cpu": "300m"}
            described = await kubectl(inproc_apiserver, "describe", "quota", "compute", "-n", "default")
            lines = {tuple(line.split()) for line in described.splitlines()}
            assert ("pods", "3", "3") in lines, described
            assert ("requests.cpu", "300m", "1") in lines, described
