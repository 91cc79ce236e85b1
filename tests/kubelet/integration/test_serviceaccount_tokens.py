"""Projected service-account tokens: the kubelet requests a token bound to the pod through TokenRequest,
writes it where the pod mounts it, and refreshes it before 80% of its life has passed."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from pathlib import Path
from typing import Any

from tests.kubelet.integration.conftest import PY, Cluster, wait_for

JWT = re.compile(r"[\w-]+\.[\w-]+\.[\w-]+ (\w+)")
TOKEN_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
READER = (f"import time\nwhile True:\n    print(open({TOKEN_DIR!r} + '/token').read(), "
          f"open({TOKEN_DIR!r} + '/namespace').read(), flush=True)\n    time.sleep(0.2)\n")


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


async def test_the_pod_reads_a_token_bound_to_it(cluster: Cluster) -> None:
    accounts = await cluster.rc("v1", "serviceaccounts")
    await accounts.create({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "runner"}},
                          namespace="default")
    volume = {"name": "kube-api-access-test", "projected": {"defaultMode": 0o644, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 600, "path": "token"}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]}}]}}
    pods = await cluster.rc("v1", "pods")
    created = await pods.create({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "reader", "namespace": "default"},
        "spec": {"nodeName": "node-1", "serviceAccountName": "runner", "volumes": [volume],
                 "terminationGracePeriodSeconds": 0,
                 "containers": [{"name": "c", "image": "python", "command": [PY, "-c", READER],
                                 "volumeMounts": [{"name": "kube-api-access-test", "mountPath": TOKEN_DIR,
                                                   "readOnly": True}]}]}}, namespace="default")

    async def log() -> str:
        """The container's CRI log file as the kubelet finds it."""
        records = await cluster.kubelet._find_containers("default", "reader", "c")
        if not records:
            return ""
        try:
            return await asyncio.to_thread(Path(records[0].log_path).read_text)
        except FileNotFoundError:
            return ""

    text = await wait_for(log, lambda t: JWT.search(t) is not None, what="the token printed", timeout=30)
    match = JWT.search(text)
    assert match is not None
    token, namespace = match.group(0).split()[0], match.group(1)
    assert namespace == "default"
    got = claims(token)
    assert got["sub"] == "system:serviceaccount:default:runner"
    assert got["kubernetes.io"]["pod"] == {"name": "reader", "uid": created["metadata"]["uid"]}
    assert got["exp"] - got["iat"] == 600
    tokens = cluster.kubelet.volumes.tokens
    assert tokens is not None
    assert tokens.requests == 1  # not again on every sync: the token is far from 80% of its life
