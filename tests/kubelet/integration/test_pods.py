"""Pods bound to the node run on the process runtime; status, logs (through the API server's pods/log
and the real kubectl), crash loops, graceful deletion, configmaps, admission — all through the API."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from sampan.api import errors
from tests.kubelet.conftest import until
from tests.kubelet.integration.conftest import PY, Cluster, wait_for

SLEEPER = "import time; print('hi', flush=True); time.sleep(60)"


def pod(name: str, containers: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": "node-1", "containers": containers, **spec}}


def cs(p: dict[str, Any], index: int = 0) -> dict[str, Any]:
    return ((p.get("status") or {}).get("containerStatuses") or [{}])[index]


def running(p: dict[str, Any]) -> bool:
    return (p.get("status") or {}).get("phase") == "Running" and "running" in cs(p).get("state", {})


async def kubectl(cluster: Cluster, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        "kubectl", "--kubeconfig", str(cluster.server.kubeconfig), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode or 0, out.decode(), err.decode()


needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")


async def test_pod_runs_with_upstream_status(cluster: Cluster) -> None:
    pods = await cluster.rc("v1", "pods")
    created = await pods.create(pod("web", [{"name": "c", "image": "python", "command": [PY, "-c", SLEEPER]}]))
    p = await wait_for(lambda: pods.get("web", namespace="default"), running, what="Running")
    st = p["status"]
    assert st["hostIP"] == "127.0.0.1"
    assert st["podIP"] == "127.0.0.1"
    assert st["startTime"]
    conds = {c["type"]: c["status"] for c in st["conditions"]}
    assert conds["Initialized"] == "True"
    assert conds["ContainersReady"] == "True"
    assert conds["Ready"] == "True"
    c = cs(p)
    assert c["name"] == "c"
    assert c["ready"] is True
    assert c["restartCount"] == 0
    assert c["state"]["running"]["startedAt"]
    assert c["containerID"].split("://", 1)[1]
    assert p["metadata"]["uid"] == created["metadata"]["uid"]
    events = await cluster.rc("v1", "events")
    found = await wait_for(lambda: events.list(namespace="default"),
                           lambda lst: any(e["reason"] == "Started" for e in lst["items"]), what="Started event")
    started = next(e for e in found["items"] if e["reason"] == "Started")
    assert started["involvedObject"]["name"] == "web"
    assert started["source"]["component"] == "kubelet"


@needs_kubectl
async def test_kubectl_logs_through_the_apiserver(cluster: Cluster) -> None:
    pods = await cluster.rc("v1", "pods")
    script = "import time\nfor i in range(3): print('line', i, flush=True)\ntime.sleep(60)"
    await pods.create(pod("logger", [{"name": "c", "image": "python", "command": [PY, "-c", script]}]))
    await wait_for(lambda: pods.get("logger", namespace="default"), running, what="Running")

    async def logs(*extra: str) -> str:
        code, out, err = await kubectl(cluster, "logs", "logger", *extra)
        assert code == 0, err
        return out

    await wait_for(lambda: logs(), lambda out: out.count("line") == 3, what="three lines")
    assert await logs() == "line 0\nline 1\nline 2\n"
    assert await logs("--tail", "1") == "line 2\n"
    assert await logs("-c", "c", "--tail=2") == "line 1\nline 2\n"
    stamped = (await logs("--timestamps", "--tail", "1")).split(" ", 1)
    assert stamped[0].endswith("Z")
    assert stamped[1] == "line 2\n"
    code, _, err = await kubectl(cluster, "logs", "logger", "--previous")
    assert code != 0
    assert 'previous terminated container "c" in pod "logger" not found' in err
    code, _, err = await kubectl(cluster, "logs", "logger", "-c", "nope")
    assert code != 0
    assert "container nope is not valid for pod logger" in err


@needs_kubectl
async def test_kubectl_logs_follow_streams_new_lines(cluster: Cluster) -> None:
    pods = await cluster.rc("v1", "pods")
    script = "import time\nfor i in range(100):\n    print('tick', i, flush=True)\n    time.sleep(0.1)\n"
    await pods.create(pod("ticker", [{"name": "c", "image": "python", "command": [PY, "-c", script]}]))
    await wait_for(lambda: pods.get("ticker", namespace="default"), running, what="Running")
    proc = await asyncio.create_subprocess_exec(
        "kubectl", "--kubeconfig", str(cluster.server.kubeconfig), "logs", "-f", "ticker",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    try:
        seen = [await asyncio.wait_for(proc.stdout.readline(), 20) for _ in range(15)]
    finally:
        proc.kill()
        await proc.wait()
    numbers = [int(line.split()[1]) for line in seen]
    assert numbers == list(range(numbers[0], numbers[0] + 15))  # in order, no gap, no duplicate


async def test_crashing_container_goes_crashloopbackoff(cluster: Cluster) -> None:
    pods = await cluster.rc("v1", "pods")
    await pods.create(pod("crash", [{"name": "c", "image": "python",
                                     "command": [PY, "-c", "import sys; print('boom'); sys.exit(3)"]}]))
    p = await wait_for(lambda: pods.get("crash", namespace="default"),
                       lambda x: cs(x).get("state", {}).get("waiting", {}).get("reason") == "CrashLoopBackOff",
                       what="CrashLoopBackOff")
    c = cs(p)
    assert "back-off 10s restarting failed container=c pod=crash_default" in c["state"]["waiting"]["message"]
    assert c["restartCount"] >= 1
    assert c["lastState"]["terminated"]["exitCode"] == 3
    assert c["lastState"]["terminated"]["reason"] == "Error"
    assert c["ready"] is False
    if shutil.which("kubectl"):  # the crashed attempt's output, current and --previous
        code, out, err = await kubectl(cluster, "logs", "crash")
        assert (code, out) == (0, "boom\n"), err
        p = await wait_for(lambda: pods.get("crash", namespace="default"), lambda x: cs(x)["restartCount"] >= 1,
                           what="a restart")
        code, out, err = await kubectl(cluster, "logs", "crash", "--previous")
        assert (code, out) == (0, "boom\n"), err
    events = await cluster.rc("v1", "events")

    def backoff(lst: dict[str, Any]) -> list[dict[str, Any]]:
        return [e for e in lst["items"] if e["reason"] == "BackOff" and e["involvedObject"]["name"] == "crash"]

    # recorded again on every sync in back-off (here every 0.2 s), folded by the recorder into one Event
    lst = await wait_for(lambda: events.list(namespace="default"),
                         lambda lst: any(e["count"] >= 3 for e in backoff(lst)), what="a repeated BackOff event")
    ev = max(backoff(lst), key=lambda e: e["count"])
    assert ev["type"] == "Warning"
    assert ev["message"].startswith("Back-off restarting failed container c in pod crash_default(")
    assert ev["involvedObject"]["fieldPath"] == "spec.containers{c}"  # per container, as upstream


async def test_graceful_delete_removes_pod_after_container_stops(cluster: Cluster, tmp_path) -> None:
    marker = tmp_path / "got-sigterm"
    script = ("import signal, sys, time\n"
              f"def bye(*a):\n    open({str(marker)!r}, 'w').write('bye')\n    sys.exit(0)\n"
              "signal.signal(signal.SIGTERM, bye)\nprint('up', flush=True)\ntime.sleep(60)\n")
    pods = await cluster.rc("v1", "pods")
    await pods.create(pod("graceful", [{"name": "c", "image": "python", "command": [PY, "-c", script]}],
                          terminationGracePeriodSeconds=20))
    p = await wait_for(lambda: pods.get("graceful", namespace="default"), running, what="Running")
    await wait_for(lambda: _log(cluster, "graceful"), lambda out: "up" in out, what="handler installed")
    await pods.delete("graceful", namespace="default")
    terminating = await pods.get("graceful", namespace="default")
    assert terminating["metadata"]["deletionTimestamp"]

    async def gone() -> bool:
        try:
            await pods.get("graceful", namespace="default")
        except errors.NotFound:
            return True
        return False

    await wait_for(gone, bool, what="pod removed")
    assert marker.read_text() == "bye"  # stopped with SIGTERM, not killed
    events = (await (await cluster.rc("v1", "events")).list(namespace="default"))["items"]
    assert any(e["reason"] == "Killing" and e["message"] == "Stopping container c" for e in events)
    # container events name the container, as upstream's kubelet does (kubectl describe's "spec.containers{c}")
    mine = [e for e in events if e["involvedObject"]["name"] == "graceful"
            and e["reason"] in ("Created", "Started", "Killing")]
    assert {e["reason"] for e in mine} == {"Created", "Started", "Killing"}
    assert {e["involvedObject"].get("fieldPath") for e in mine} == {"spec.containers{c}"}
    assert not [sb for sb in await cluster.kubelet.runtime.list_pod_sandboxes()
                if sb.config.uid == p["metadata"]["uid"]]


async def _log(cluster: Cluster, name: str) -> str:
    """The container's CRI log file as the kubelet finds it (no kubectl needed)."""
    records = await cluster.kubelet._find_containers("default", name, "c")
    if not records:
        return ""
    try:
        return await asyncio.to_thread(Path(records[0].log_path).read_text)
    except FileNotFoundError:
        return ""


async def test_configmap_env_and_volume_visible_to_the_process(cluster: Cluster, tmp_path) -> None:
    cms = await cluster.rc("v1", "configmaps")
    await cms.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "default"},
                      "data": {"greeting": "hello", "mode": "fast"}})
    secrets = await cluster.rc("v1", "secrets")
    await secrets.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sec", "namespace": "default"},
                          "stringData": {"pw": "s3cret"}})
    mount = f"/tmp/sampan-test-{uuid.uuid4().hex[:8]}"
    script = ("import os, time\n"
              f"base = os.environ.get('SAMPAN_MOUNT_' + {mount!r}.replace('/', '_').replace('-', '_').upper(), "
              f"{mount!r})\n"
              "print('env', os.environ['MODE'], os.environ['PW'], 'file', open(base + '/greeting').read(),"
              " flush=True)\n"
              "time.sleep(60)\n")
    pods = await cluster.rc("v1", "pods")
    await pods.create(pod("cfg-user", [{
        "name": "c", "image": "python", "command": [PY, "-c", script],
        "env": [{"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "mode"}}},
                {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "pw"}}}],
        "volumeMounts": [{"name": "cfg", "mountPath": mount}],
    }], volumes=[{"name": "cfg", "configMap": {"name": "cfg"}}]))
    p = await wait_for(lambda: pods.get("cfg-user", namespace="default"), running, what="Running")
    await wait_for(lambda: _log(cluster, "cfg-user"), lambda out: "env fast s3cret file hello" in out,
                   what="output")
    # an updated configmap reaches the volume through the informer (atomic ..data swap)
    cm = await cms.get("cfg", namespace="default")
    await cms.update({**cm, "data": {**cm["data"], "greeting": "bonjour"}})
    [published] = [f for f in (cluster.kubelet.options.root_dir / "pods" / p["metadata"]["uid"]).rglob("greeting")
                   if ".." not in f.parent.name]

    async def greeting() -> str:
        return await asyncio.to_thread(published.read_text)

    await wait_for(greeting, lambda text: text == "bonjour", what="refreshed volume")


async def test_missing_configmap_blocks_until_created(cluster: Cluster) -> None:
    pods = await cluster.rc("v1", "pods")
    await pods.create(pod("late", [{
        "name": "c", "image": "python", "command": [PY, "-c", SLEEPER],
        "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "later", "key": "x"}}}]}]))
    p = await wait_for(lambda: pods.get("late", namespace="default"),
                       lambda x: cs(x).get("state", {}).get("waiting", {}).get("reason")
                       == "CreateContainerConfigError", what="CreateContainerConfigError")
    assert cs(p)["state"]["waiting"]["message"] == 'configmap "later" not found'
    cms = await cluster.rc("v1", "configmaps")
    await cms.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "later", "namespace": "default"},
                      "data": {"x": "1"}})
    await wait_for(lambda: pods.get("late", namespace="default"), running, what="Running once created")


async def test_pod_that_does_not_fit_is_rejected(cluster: Cluster) -> None:
    pods = await cluster.rc("v1", "pods")
    await pods.create(pod("huge", [{"name": "c", "image": "python", "command": [PY, "-c", SLEEPER],
                                    "resources": {"requests": {"cpu": "100000"}}}]))
    p = await wait_for(lambda: pods.get("huge", namespace="default"),
                       lambda x: (x.get("status") or {}).get("phase") == "Failed", what="Failed")
    assert p["status"]["reason"] == "OutOfcpu"
    assert p["status"]["message"].startswith("Pod was rejected: Node didn't have enough resource: cpu")
    events = await cluster.rc("v1", "events")
    await wait_for(lambda: events.list(namespace="default"),
                   lambda lst: any(e["reason"] == "OutOfcpu" and e["type"] == "Warning" for e in lst["items"]),
                   what="OutOfcpu event")


@needs_kubectl
async def test_kubectl_logs_follow_ends_when_the_container_exits(cluster: Cluster) -> None:
    pods = await cluster.rc("v1", "pods")
    script = "import time\nfor i in range(5):\n    print('n', i, flush=True)\n    time.sleep(0.3)\n"
    await pods.create(pod("brief", [{"name": "c", "image": "python", "command": [PY, "-c", script]}],
                          restartPolicy="Never"))
    await wait_for(lambda: pods.get("brief", namespace="default"), running, what="Running")
    code, out, err = await kubectl(cluster, "logs", "-f", "brief")
    assert code == 0, err
    assert out.splitlines()[-1] == "n 4"  # the stream ended by itself, after the last line
    p = await wait_for(lambda: pods.get("brief", namespace="default"),
                       lambda x: (x.get("status") or {}).get("phase") == "Succeeded", what="Succeeded")
    assert cs(p)["state"]["terminated"]["reason"] == "Completed"


async def test_restarted_kubelet_readopts_running_containers(cluster: Cluster, tmp_path) -> None:
    from sampan.kubelet.kubelet import Kubelet
    from tests.kubelet.integration.conftest import kubelet_options

    pods = await cluster.rc("v1", "pods")
    await pods.create(pod("steady", [{"name": "c", "image": "python", "command": [PY, "-c", SLEEPER]}]))
    before = cs(await wait_for(lambda: pods.get("steady", namespace="default"), running, what="Running"))
    await cluster.stop_kubelet()
    again = Kubelet(cluster.client, kubelet_options(tmp_path))
    cluster.kubelet, cluster.task = again, asyncio.create_task(again.run())
    await asyncio.wait_for(again.ready.wait(), 20)
    workers = again.workers
    assert workers is not None
    await until(lambda: len(workers.workers) == 1, timeout=20, what="the pod's worker")
    worker = next(iter(workers.workers.values()))
    await until(lambda: worker.syncs >= 3, timeout=20, what="a few syncs")
    after = cs(await pods.get("steady", namespace="default"))
    assert after["containerID"] == before["containerID"]
    assert after["restartCount"] == 0
    assert len([c for c in await again.runtime.list_containers()]) == 1


@needs_kubectl
async def test_logs_of_an_unscheduled_pod_is_a_clear_error(cluster: Cluster) -> None:
    pods = await cluster.rc("v1", "pods")
    await pods.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pending", "namespace": "default"},
                       "spec": {"containers": [{"name": "c", "image": "python"}]}})
    code, _, err = await kubectl(cluster, "logs", "pending")
    assert code != 0
    assert "pod pending does not have a host assigned" in err
    code, _, err = await kubectl(cluster, "logs", "nosuchpod")
    assert code != 0
    assert 'pods "nosuchpod" not found' in err
