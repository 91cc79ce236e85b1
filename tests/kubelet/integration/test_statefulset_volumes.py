"""A StatefulSet with a volumeClaimTemplate on a real kubelet (process runtime) with the real StatefulSet
controller, the scheduler (its VolumeBinding plugin selects the node), PV binder (default ``local-path``
class), protection controllers and garbage collector: each pod gets its own provisioned, bound claim under
the kubelet's ``local-path`` dir; a file db-1 writes survives deleting the pod; deleting the claim removes
the volume's directory (reclaim Delete). Run under ``flock /tmp/sampan-net.lock`` (process runtime)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.controllers.support import fast_options, running_manager
from tests.kubelet.integration.conftest import PY, Cluster, wait_for
from tests.support.scheduler import running_scheduler

CONTROLLERS = ("statefulset", "persistentvolume-binder", "pvc-protection", "pv-protection", "garbagecollector")


def sts_body(mount: str) -> dict[str, Any]:
    script = ("import os, time, socket\n"
              f"base = os.environ.get('SAMPAN_MOUNT_' + {mount!r}.replace('/', '_').replace('-', '_').upper(), "
              f"{mount!r})\n"
              "name = os.environ['POD_NAME']\n"
              "path = os.path.join(base, 'who')\n"
              "first = open(path).read() if os.path.exists(path) else ''\n"
              "open(path, 'a').write(name + '\\n')\n"
              "print('seen', repr(first), flush=True)\n"
              "time.sleep(120)\n")
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": "default"},
            "spec": {"replicas": 3, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                     "template": {"metadata": {"labels": {"app": "db"}}, "spec": {
                         "terminationGracePeriodSeconds": 1,
                         "containers": [{"name": "c", "image": "python", "command": [PY, "-c", script],
                                         "env": [{"name": "POD_NAME", "valueFrom": {
                                             "fieldRef": {"fieldPath": "metadata.name"}}}],
                                         "volumeMounts": [{"name": "data", "mountPath": mount}]}]}},
                     "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                         "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}}


@pytest.mark.slow
async def test_statefulset_claims_survive_pod_deletion_and_reclaim_delete(cluster: Cluster) -> None:
    stss = await cluster.rc("apps/v1", "statefulsets")
    pods = await cluster.rc("v1", "pods")
    pvcs = await cluster.rc("v1", "persistentvolumeclaims")
    pvs = await cluster.rc("v1", "persistentvolumes")
    local = cluster.kubelet.local_path_dir
    node = await (await cluster.rc("v1", "nodes")).get("node-1")
    assert node["metadata"]["annotations"]["sampan.io/local-path-dir"] == str(local)
    async with running_manager(cluster.client, fast_options(CONTROLLERS)), \
            running_scheduler(cluster.server.kubeconfig):
        await stss.create(sts_body(f"/tmp/sampan-test-{uuid.uuid4().hex[:8]}"))

        def all_ready(s: dict[str, Any]) -> bool:
            return (s.get("status") or {}).get("readyReplicas") == 3

        await wait_for(lambda: stss.get("db", namespace="default"), all_ready, timeout=60, what="3 ready")
        claims = {c["metadata"]["name"]: c for c in (await pvcs.list(namespace="default"))["items"]}
        assert set(claims) == {"data-db-0", "data-db-1", "data-db-2"}
        assert all(c["status"]["phase"] == "Bound" and c["spec"]["storageClassName"] == "local-path"
                   for c in claims.values())
        volume = await pvs.get(claims["data-db-1"]["spec"]["volumeName"])
        directory = Path(volume["spec"]["hostPath"]["path"])
        assert directory.parent == local
        assert (directory / "who").read_text() == "db-1\n"

        old = await pods.get("db-1", namespace="default")
        await pods.delete("db-1", namespace="default")

        def back(p: dict[str, Any]) -> bool:
            return (p["metadata"]["uid"] != old["metadata"]["uid"]
                    and ((p.get("status") or {}).get("phase") == "Running"))

        async def get_db1() -> dict[str, Any]:
            try:
                got: dict[str, Any] = await pods.get("db-1", namespace="default")
                return got
            except Exception:
                return {"metadata": {"uid": old["metadata"]["uid"]}}

        await wait_for(get_db1, back, timeout=60, what="db-1 back")
        await wait_for(lambda: _read(directory / "who"), lambda t: t == "db-1\ndb-1\n", what="db-1 wrote again")

        # scale to 1: db-2 then db-1 go; claims are retained (whenScaled: Retain)
        # a merge patch without a resourceVersion: the controller writes the object concurrently (a PUT of
        # a stale read was a 409 now and then)
        await stss.patch("db", {"spec": {"replicas": 1}}, namespace="default")

        async def names() -> set[str]:
            return {p["metadata"]["name"] for p in (await pods.list(namespace="default"))["items"]}

        await wait_for(names, lambda n: n == {"db-0"}, timeout=60, what="scaled to 1")
        # deleting an unused claim frees its volume; the kubelet removes the directory and the volume
        await pvcs.delete("data-db-1", namespace="default")

        async def pv_names() -> set[str]:
            return {v["metadata"]["name"] for v in (await pvs.list())["items"]}

        await wait_for(pv_names, lambda n: volume["metadata"]["name"] not in n, timeout=30, what="volume deleted")
        assert not await asyncio.to_thread(directory.exists)
        await stss.delete("db", namespace="default")


async def _read(path: Path) -> str:
    try:
        return await asyncio.to_thread(path.read_text)
    except OSError:
        return ""
