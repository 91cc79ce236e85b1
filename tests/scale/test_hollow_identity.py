"""Hollow nodes with their own identities (issue 21): each node's requests carry the bearer token of
``system:node:<name>`` over the process's one connection pool (``--hollow-node-tokens``), against a real
API server over TLS with the Node authorizer, NodeRestriction and API Priority and Fairness, so the server
sees N kubelets: their heartbeats land in APF's ``node-high`` level, and a node may not write another's."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import yaml

from sampan._lib.pki import CertificateAuthority, CertSpec, cert_pem, key_pem, write_atomic
from sampan.api import errors
from sampan.apiserver.authn.options import AuthenticationOptions
from sampan.apiserver.config import SecureServing
from sampan.client import Client, load_config
from sampan.kubelet.hollow import HollowNodes, HollowOptions, node_tokens
from sampan.kubelet.kubelet import KubeletOptions
from tests.support.apiserver import run_apiserver_inprocess

NODES = 3


@dataclasses.dataclass
class Cluster:
    url: str
    insecure_url: str
    kubeconfig: Path
    tokens: Path


@contextlib.asynccontextmanager
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    ca = CertificateAuthority.create()
    write_atomic(tmp_path / "ca.crt", ca.pem)
    cert, key = ca.issue(CertSpec("kube-apiserver", dns_names=("localhost",), ip_addresses=("127.0.0.1",),
                                  server=True, client=False))
    write_atomic(tmp_path / "apiserver.crt", cert_pem(cert))
    write_atomic(tmp_path / "apiserver.key", key_pem(key), private=True)
    tokens = tmp_path / "tokens.csv"
    rows = ['process-token,sampan:hollow-nodes,hollow,"kubeadm:cluster-admins"']
    rows += [f"node-token-{i},system:node:hollow-{i},node-{i},system:nodes" for i in range(1, NODES + 1)]
    tokens.write_text("\n".join(rows) + "\n")
    authn = AuthenticationOptions(client_ca_file=tmp_path / "ca.crt", token_auth_file=tokens)
    async with run_apiserver_inprocess(tmp_path / "apiserver", authentication=authn, insecure_port=0,
                                       tls=SecureServing(tmp_path / "apiserver.crt", tmp_path / "apiserver.key",
                                                         tmp_path / "ca.crt")) as s:
        kubeconfig = tmp_path / "hollow.kubeconfig"
        kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "c", "cluster": {"server": s.url,
                                                   "certificate-authority": str(tmp_path / "ca.crt")}}],
            "users": [{"name": "u", "user": {"token": "process-token"}}],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}], "current-context": "c"}))
        yield Cluster(s.url, s.server.insecure_url, kubeconfig, tokens)


async def dispatched(insecure_url: str, flow_schema: str) -> float:
    """APF's dispatched requests of ``flow_schema`` (the server runs in this loop: ask it asynchronously)."""
    async with aiohttp.ClientSession() as http, http.get(f"{insecure_url}/metrics") as r:
        text = await r.text()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("apiserver_flowcontrol_dispatched_requests_total{")
               and f'flow_schema="{flow_schema}"' in line)


async def test_each_hollow_node_is_its_own_system_node_identity(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        tokens = node_tokens(str(c.tokens))
        assert sorted(tokens) == [f"hollow-{i}" for i in range(1, NODES + 1)]  # the process's own row is skipped
        template = KubeletOptions(node_name="", root_dir=tmp_path / "kubelet", runtime="simulated", port=0,
                                  node_status_update_frequency=1.0, lease_renew_interval=0.5, sync_period=60.0,
                                  node_status_report_frequency=300.0)
        rest = dataclasses.replace(load_config(str(c.kubeconfig)), qps=0.0)
        async with Client(rest) as client:
            nodes = HollowNodes(client, HollowOptions(count=NODES, prefix="hollow-", template=template,
                                                      tokens=tokens))
            task = asyncio.create_task(nodes.run())
            try:
                deadline = asyncio.get_running_loop().time() + 60
                while nodes.ready_count < NODES or any(
                        k.lease is None or k.lease.renewals < 2 for k in nodes.kubelets.values()):
                    assert asyncio.get_running_loop().time() < deadline, "hollow nodes not Ready and renewing"
                    await asyncio.sleep(0.1)
                # heartbeats came from group system:nodes (APF's node-high), not from the process identity
                assert await dispatched(c.insecure_url, "system-node-high") >= 2 * NODES
                # a node's identity may not write another node (Node authorizer / NodeRestriction)
                as_node_1 = client.sharing(dataclasses.replace(rest, bearer_token=tokens["hollow-1"]))
                node_api = await as_node_1.resource("v1", "nodes")
                await node_api.patch("hollow-1", {"metadata": {"labels": {"own": "yes"}}})
                with pytest.raises(errors.Forbidden):
                    await node_api.patch("hollow-2", {"metadata": {"labels": {"other": "no"}}})
                await as_node_1.close()  # a view: the shared pool stays open
                assert not client.rest.closed
                await (await client.resource("v1", "nodes")).get("hollow-2")
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


def test_node_tokens_reads_the_token_file_format(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text('a,system:node:n1,1,system:nodes\nb,alice,2\n"c",system:node:n2,3,"system:nodes,x"\n\n')
    assert node_tokens(str(path)) == {"n1": "a", "n2": "c"}
    with pytest.raises(ValueError, match="cannot read hollow node tokens"):
        node_tokens(str(tmp_path / "missing.csv"))
