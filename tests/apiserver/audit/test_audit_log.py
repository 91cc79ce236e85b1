"""Audit logging end to end: a real server writing its log, driven by the real kubectl."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import yaml

from sampan.apiserver.audit.options import AuditOptions
from tests.support.apiserver import InProcessAPIServer, run_apiserver_inprocess

POLICY = {
    "apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitManagedFields": True,
    "rules": [
        {"level": "None", "resources": [{"group": "coordination.k8s.io", "resources": ["leases"]}]},
        {"level": "None", "nonResourceURLs": ["/api*", "/openapi*", "/version"]},
        {"level": "Metadata", "resources": [{"group": "", "resources": ["secrets"]}]},
        {"level": "RequestResponse"},
    ],
}


async def kubectl(server: InProcessAPIServer, *args: str, ok: bool = True) -> str:
    proc = await asyncio.create_subprocess_exec(
        "kubectl", "--kubeconfig", str(server.kubeconfig), *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, "KUBECTL_COMMAND_HEADERS": "false"})
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert (proc.returncode == 0) == ok, err.decode()
    return out.decode() + err.decode()


def events(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []


async def find(path: Path, match: Callable[[dict[str, Any]], bool], *, timeout: float = 30) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = [e for e in events(path) if match(e)]
        if found:
            return found[0]
        assert asyncio.get_running_loop().time() < deadline, f"no such audit event in {events(path)[-5:]}"
        await asyncio.sleep(0.05)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
async def test_kubectl_requests_are_audited_as_upstream(tmp_path: Path) -> None:
    policy, log = tmp_path / "policy.yaml", tmp_path / "audit" / "audit.log"
    policy.write_text(yaml.safe_dump(POLICY))
    options = AuditOptions(policy_file=policy, log_path=str(log))
    async with run_apiserver_inprocess(tmp_path / "srv", authorization_modes=("Node", "RBAC"), audit=options) as srv:
        # a create: RequestReceived and ResponseComplete with user, verb, objectRef, 201, both objects
        await kubectl(srv, "create", "configmap", "audited", "--from-literal=k=v")
        done = await find(log, lambda e: e["verb"] == "create" and e["stage"] == "ResponseComplete"
                          and e.get("objectRef", {}).get("resource") == "configmaps")
        received = await find(log, lambda e: e["auditID"] == done["auditID"] and e["stage"] == "RequestReceived")
        assert "responseStatus" not in received
        assert received["level"] == "RequestResponse"
        assert done["user"]["username"] == "system:admin"
        assert done["objectRef"] == {"resource": "configmaps", "namespace": "default", "name": "audited",
                                     "apiVersion": "v1"}
        assert done["responseStatus"] == {"metadata": {}, "code": 201}
        assert done["requestObject"]["data"] == {"k": "v"}
        assert done["responseObject"]["metadata"]["uid"]
        assert "managedFields" not in done["responseObject"]["metadata"]  # omitManagedFields
        assert done["annotations"]["authorization.k8s.io/decision"] == "allow"
        assert done["userAgent"].startswith("kubectl")
        assert done["sourceIPs"] == ["127.0.0.1"]
        assert done["requestReceivedTimestamp"] <= done["stageTimestamp"]

        # a refused request: 403, decision forbid, the impersonated user
        out = await kubectl(srv, "--as", "alice", "create", "configmap", "nope", ok=False)
        assert "forbidden" in out
        denied = await find(log, lambda e: e.get("impersonatedUser", {}).get("username") == "alice"
                            and e["stage"] == "ResponseComplete")
        assert denied["responseStatus"]["code"] == 403
        assert denied["responseStatus"]["reason"] == "Forbidden"
        assert denied["annotations"]["authorization.k8s.io/decision"] == "forbid"
        assert denied["user"]["username"] == "system:admin"
        assert denied["verb"] == "create"

        # secrets: Metadata only, never their content
        await kubectl(srv, "create", "secret", "generic", "hidden", "--from-literal=password=hunter2")
        secret = await find(log, lambda e: e.get("objectRef", {}).get("resource") == "secrets"
                            and e["stage"] == "ResponseComplete" and e["verb"] == "create")
        assert secret["level"] == "Metadata"
        assert secret["objectRef"]["name"] == "hidden"
        assert "requestObject" not in secret
        assert "responseObject" not in secret
        assert b"hunter2" not in log.read_bytes()
        assert b"aHVudGVyMg" not in log.read_bytes()

        # a watch: ResponseStarted when the stream opens, ResponseComplete when it ends; Audit-Id header
        async with aiohttp.ClientSession() as session, session.get(
                f"{srv.url}/api/v1/namespaces/default/configmaps",
                params={"watch": "1", "timeoutSeconds": "1"}, headers={"Audit-ID": "my-watch"}) as resp:
            assert resp.headers["Audit-Id"] == "my-watch"
            await resp.read()
        started = await find(log, lambda e: e["auditID"] == "my-watch" and e["stage"] == "ResponseStarted")
        assert started["verb"] == "watch"
        assert started["responseStatus"]["code"] == 200
        await find(log, lambda e: e["auditID"] == "my-watch" and e["stage"] == "ResponseComplete")
        # admission plugins' audit annotations land in the event (PodSecurity in audit mode)
        async with aiohttp.ClientSession() as session:
            ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {
                "name": "psa", "labels": {"pod-security.kubernetes.io/audit": "restricted"}}}
            async with session.post(f"{srv.url}/api/v1/namespaces", json=ns) as resp:
                assert resp.status == 201
            pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "root"},
                   "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
            async with session.post(f"{srv.url}/api/v1/namespaces/psa/pods", json=pod) as resp:
                assert resp.status == 201
        psa = await find(log, lambda e: e.get("objectRef", {}).get("namespace") == "psa"
                         and e.get("objectRef", {}).get("resource") == "pods" and e["stage"] == "ResponseComplete")
        assert "restricted" in psa["annotations"]["pod-security.kubernetes.io/audit-violations"]

        # a client that walks away from a stream: the request still completes in the log
        async with aiohttp.ClientSession() as session, session.get(
                f"{srv.url}/api/v1/namespaces/default/configmaps", params={"watch": "1"},
                headers={"Audit-ID": "left"}) as resp:
            await resp.content.readline()  # the first event: the stream is open
        await find(log, lambda e: e["auditID"] == "left" and e["stage"] == "ResponseComplete")
