"""What a container of a pod sees, through the real API server and kubelet on the process runtime:
its /etc/resolv.conf and /etc/hosts bind-mounted in its own mount namespace (cluster DNS, search paths,
ndots, hostname/subdomain, hostAliases, dnsConfig) and the service environment variables; and, without
``--pod-cidr``, pod addresses from the pod CIDR the node IPAM controller gave the Node."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sampan.client import Client, load_config
from sampan.kubelet.kubelet import Kubelet, KubeletOptions
from sampan.kubelet.network.pod_network import unavailable_reason
from tests.controllers.support import fast_options, running_manager
from tests.kubelet.conftest import remove_empty_cgroup_parents
from tests.kubelet.integration.conftest import PY, kubelet_options, wait_for
from tests.support.apiserver import InProcessAPIServer

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="private mount namespaces need root")

REPORT = ("import json,os,time\n"
          "print(json.dumps({'resolv': open('/etc/resolv.conf').read(), 'hosts': open('/etc/hosts').read(),"
          " 'env': {k: v for k, v in os.environ.items() if k.startswith(('WEB_FRONT', 'KUBERNETES', 'API'))}}),"
          " flush=True)\ntime.sleep(60)\n")


@contextlib.asynccontextmanager
async def kubelet(server: InProcessAPIServer, options: KubeletOptions) -> AsyncIterator[tuple[Client, Kubelet]]:
    client = Client(load_config(str(server.kubeconfig)))
    k = Kubelet(client, options)
    task = asyncio.create_task(k.run())
    try:
        yield client, k
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        for sb in await k.runtime.list_pod_sandboxes():
            for ctr in await k.runtime.list_containers(sb.id):
                await k.runtime.stop_container(ctr.id, 0)
            await k.runtime.remove_pod_sandbox(sb.id)
        network = getattr(getattr(k.runtime, "options", None), "network", None)
        if network is not None:
            await network.close()
        remove_empty_cgroup_parents("sampan")
        await client.close()


async def pod_report(server: InProcessAPIServer, name: str) -> dict[str, Any]:
    async def logs() -> str:
        async with aiohttp.ClientSession() as s, s.get(f"{server.url}/api/v1/namespaces/default/pods/{name}/log") as r:
            return await r.text() if r.status == 200 else ""

    out = await wait_for(logs, lambda text: text.strip().startswith("{"), what=f"{name}'s report")
    report: dict[str, Any] = json.loads(out.strip().splitlines()[0])
    return report


def pod(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": "node-1", "containers": [
                {"name": "c", "image": "python", "command": [PY, "-c", REPORT],
                 "env": [{"name": "API", "value": "$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT)"}]}],
                **spec}}


async def test_resolv_conf_hosts_and_service_env(inproc_apiserver: InProcessAPIServer, tmp_path: Path) -> None:
    options = dataclasses.replace(kubelet_options(tmp_path), cluster_dns=("100.96.0.10",))
    async with kubelet(inproc_apiserver, options) as (client, k):
        await asyncio.wait_for(k.ready.wait(), 20)
        services = await client.resource("v1", "services")
        web = await services.create({"apiVersion": "v1", "kind": "Service",
                                     "metadata": {"name": "web-front", "namespace": "default"},
                                     "spec": {"selector": {"app": "web"},
                                              "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}})
        ip = web["spec"]["clusterIP"]

        async def seen() -> bool:  # as upstream, a pod started before its kubelet saw a Service lacks its variables
            return any(s["metadata"]["name"] == "web-front" for s in k.sources.services.namespaced("default").list())

        await wait_for(seen, bool, what="the kubelet's service cache")
        pods = await client.resource("v1", "pods")
        await pods.create(pod("dns", hostname="db", subdomain="backend",
                              hostAliases=[{"ip": "100.64.9.9", "hostnames": ["foo.local"]}],
                              dnsConfig={"options": [{"name": "ndots", "value": "2"}]}))
        await pods.create(pod("nolinks", enableServiceLinks=False, dnsPolicy="None",
                              dnsConfig={"nameservers": ["100.96.0.53"], "searches": ["x.example"]}))
        report = await pod_report(inproc_apiserver, "dns")
        resolv = report["resolv"].splitlines()
        assert resolv[0].startswith("search default.svc.cluster.local svc.cluster.local cluster.local")
        assert resolv[1:] == ["nameserver 100.96.0.10", "options ndots:2"]
        hosts = report["hosts"]
        assert hosts.startswith("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n")
        assert "\tdb.backend.default.svc.cluster.local\tdb\n" in hosts
        assert hosts.endswith("# Entries added by HostAliases.\n100.64.9.9\tfoo.local\n")
        env = report["env"]
        assert env["WEB_FRONT_SERVICE_HOST"] == ip
        assert env["WEB_FRONT_SERVICE_PORT"] == "80"
        assert env["WEB_FRONT_SERVICE_PORT_HTTP"] == "80"
        assert env["WEB_FRONT_PORT"] == f"tcp://{ip}:80"
        assert env["WEB_FRONT_PORT_80_TCP_ADDR"] == ip
        assert env["KUBERNETES_SERVICE_HOST"] == "100.96.0.1"
        assert env["KUBERNETES_SERVICE_PORT"] == "443"
        assert env["API"] == "100.96.0.1:443"
        other = await pod_report(inproc_apiserver, "nolinks")
        assert other["resolv"] == "search x.example\nnameserver 100.96.0.53\n"
        assert "WEB_FRONT_SERVICE_HOST" not in other["env"]
        assert other["env"]["KUBERNETES_SERVICE_HOST"] == "100.96.0.1"
        # the host's files are untouched
        assert "db.backend" not in await asyncio.to_thread(Path("/etc/hosts").read_text)


@pytest.mark.skipif(bool(unavailable_reason()), reason="pod network needs root and iproute2")
async def test_pod_addresses_from_the_cidr_node_ipam_gave(inproc_apiserver: InProcessAPIServer,
                                                         tmp_path: Path) -> None:
    options = dataclasses.replace(kubelet_options(tmp_path), pod_network="bridge")
    assert options.pod_cidr == ""
    async with kubelet(inproc_apiserver, options) as (client, k):
        nodes = await client.resource("v1", "nodes")
        node = await wait_for(lambda: _node_or_none(nodes), lambda n: n is not None, what="node registered")
        assert not (node.get("spec") or {}).get("podCIDR")  # the kubelet does not pick one itself
        assert not k.ready.is_set()  # and starts no pod before it has one
        opts = fast_options(("nodeipam",), allocate_node_cidrs=True, cluster_cidr="100.127.244.0/22")
        async with running_manager(client, opts):
            await asyncio.wait_for(k.ready.wait(), 20)
        node = await nodes.get("node-1")
        cidr = node["spec"]["podCIDR"]
        assert cidr == "100.127.244.0/24"
        assert node["metadata"]["annotations"]["sampan.io/pod-network"] == f"bridge {cidr}"
        pods = await client.resource("v1", "pods")
        await pods.create(pod("addressed"))
        p = await wait_for(lambda: pods.get("addressed", namespace="default"),
                           lambda p: bool((p.get("status") or {}).get("podIP")), what="a pod IP")
        assert ipaddress.ip_address(p["status"]["podIP"]) in ipaddress.ip_network(cidr)


async def _node_or_none(nodes: Any) -> dict[str, Any] | None:
    from sampan.api import errors

    try:
        node: dict[str, Any] = await nodes.get("node-1")
        return node
    except errors.NotFound:
        return None
