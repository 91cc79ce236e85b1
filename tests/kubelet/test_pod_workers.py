"""Pod worker logic against the simulated runtime on a fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sampan._lib.clock import FakeClock
from sampan.kubelet.pod_workers import PodWorkerOptions, PodWorkers
from sampan.kubelet.runtime.simulated import SimulatedRuntime
from sampan.kubelet.status_manager import MemoryStatusSink
from sampan.kubelet.volumes.manager import VolumeManager
from sampan.kubelet.volumes.objects import StaticObjects
from tests.kubelet.conftest import make_pod, until, with_deletion


class Env:
    def __init__(self, tmp: Path) -> None:
        self.clock = FakeClock()
        self.runtime = SimulatedRuntime(clock=self.clock)
        self.sink = MemoryStatusSink()
        self.objects = StaticObjects()
        self.volumes = VolumeManager(tmp / "pods", objects=self.objects, node_allocatable={"cpu": "2"})
        self.workers = self.new_workers()

    def new_workers(self) -> PodWorkers:
        return PodWorkers(self.runtime, sink=self.sink, volumes=self.volumes, clock=self.clock,
                          options=PodWorkerOptions(sync_period=1.0))

    def status(self, pod: dict[str, Any]) -> dict[str, Any]:
        return self.sink.statuses.get(f"ns/{pod['metadata']['name']}", {})

    def cs(self, pod: dict[str, Any], name: str = "c", field: str = "containerStatuses") -> dict[str, Any]:
        return next(c for c in self.status(pod).get(field, []) if c["name"] == name)

    async def tick(self, seconds: float = 1.0, times: int = 1) -> None:
        for _ in range(times):
            await settle()  # every worker has reached its idle sleep before time moves
            await self.clock.advance(seconds)
            await settle()


async def settle() -> None:
    for _ in range(30):
        await asyncio.sleep(0)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    e = Env(tmp_path)
    yield e
    await e.workers.aclose()


def cond(status: dict[str, Any], ctype: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == ctype)


async def test_pod_runs_and_reports_running_ready(env: Env) -> None:
    pod = make_pod()
    env.workers.update_pod(pod)
    await until(lambda: env.status(pod).get("phase") == "Running", what="Running")
    st = env.status(pod)
    c = env.cs(pod)
    assert "running" in c["state"]
    assert (c["ready"], c["started"], c["restartCount"]) == (True, True, 0)
    assert c["containerID"].startswith("simulated://")  # <runtime name>://<id>, as upstream
    assert [cond(st, t)["status"] for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")] == ["True"] * 4
    assert (st["podIP"], st["hostIP"], st["qosClass"]) == ("127.0.0.1", "127.0.0.1", "BestEffort")
    assert st["startTime"]
    updates = len(env.sink.history)
    await env.tick(times=3)
    assert len(env.sink.history) == updates  # unchanged status is not written again


async def test_init_containers_run_in_order(env: Env) -> None:
    pod = make_pod(initContainers=[{"name": "i1", "image": "x"}, {"name": "i2", "image": "x"}],
                   annotations={"sim.sampan.io/i1.run-seconds": "5", "sim.sampan.io/i2.run-seconds": "5"})
    env.workers.update_pod(pod)
    await until(lambda: bool(env.status(pod)), what="first status")
    st = env.status(pod)
    assert st["phase"] == "Pending"
    assert "running" in env.cs(pod, "i1", "initContainerStatuses")["state"]
    assert env.cs(pod, "i2", "initContainerStatuses")["state"]["waiting"]["reason"] == "PodInitializing"
    assert env.cs(pod)["state"]["waiting"]["reason"] == "PodInitializing"
    assert cond(st, "Initialized")["message"] == "containers with incomplete status: [i1 i2]"
    await env.tick(times=5)
    await until(lambda: "running" in env.cs(pod, "i2", "initContainerStatuses")["state"], what="i2 running")
    assert env.cs(pod, "i1", "initContainerStatuses")["state"]["terminated"]["reason"] == "Completed"
    await env.tick(times=6)
    await until(lambda: env.status(pod)["phase"] == "Running", what="Running")
    assert cond(env.status(pod), "Initialized")["status"] == "True"


async def test_crash_loop_back_off_grows(env: Env) -> None:
    pod = make_pod(annotations={"sim.sampan.io/run-seconds": "1", "sim.sampan.io/exit-code": "2"})
    env.workers.update_pod(pod)
    seen: list[tuple[int, str]] = []
    for _ in range(60):
        await env.tick()
        c = env.cs(pod)
        waiting = c["state"].get("waiting")
        if waiting and waiting["reason"] == "CrashLoopBackOff" and (c["restartCount"], waiting["message"]) not in seen:
            seen.append((c["restartCount"], waiting["message"]))
    assert [m.split(" restarting")[0] for _, m in seen] == ["back-off 10s", "back-off 20s", "back-off 40s"]
    assert [n for n, _ in seen] == [1, 2, 3]
    c = env.cs(pod)
    assert c["lastState"]["terminated"]["exitCode"] == 2
    assert c["lastState"]["terminated"]["reason"] == "Error"
    assert f"pod=web_ns({pod['metadata']['uid']})" in seen[0][1]
    assert env.status(pod)["phase"] == "Running"
    assert len(await env.runtime.list_containers()) <= 2  # old attempts are removed, one kept for lastState


@pytest.mark.parametrize(
    ("policy", "code", "phase", "reason", "restarts"),
    [("Never", 1, "Failed", "Error", 0), ("Never", 0, "Succeeded", "Completed", 0),
     ("OnFailure", 0, "Succeeded", "Completed", 0), ("OnFailure", 3, "Running", None, 1)],
)
async def test_restart_policies(env: Env, policy: str, code: int, phase: str, reason: str | None,
                                restarts: int) -> None:
    pod = make_pod(restartPolicy=policy,
                   annotations={"sim.sampan.io/run-seconds": "2", "sim.sampan.io/exit-code": str(code)})
    env.workers.update_pod(pod)
    await env.tick(times=4)
    st = env.status(pod)
    assert st["phase"] == phase
    c = env.cs(pod)
    assert c["restartCount"] == restarts
    if reason:
        assert c["state"]["terminated"]["reason"] == reason
        assert c["state"]["terminated"]["exitCode"] == code
        assert cond(st, "Ready")["reason"] == "PodCompleted"


async def test_oom_killed_reason(env: Env) -> None:
    pod = make_pod(restartPolicy="Never", annotations={"sim.sampan.io/run-seconds": "1", "sim.sampan.io/oom": "true"})
    env.workers.update_pod(pod)
    await env.tick(times=3)
    assert env.cs(pod)["state"]["terminated"]["reason"] == "OOMKilled"
    assert env.cs(pod)["state"]["terminated"]["exitCode"] == 137


async def test_missing_configmap_blocks_until_created(env: Env) -> None:
    pod = make_pod(containers=[{"name": "c", "image": "img", "env": [
        {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "x"}}}]}])
    env.workers.update_pod(pod)
    await until(lambda: bool(env.status(pod)), what="status")
    waiting = env.cs(pod)["state"]["waiting"]
    assert waiting == {"reason": "CreateContainerConfigError", "message": 'configmap "cfg" not found'}
    assert env.status(pod)["phase"] == "Pending"
    env.objects.configmaps[("ns", "cfg")] = {"metadata": {"name": "cfg", "namespace": "ns"}, "data": {"x": "1"}}
    await env.tick()
    await until(lambda: env.status(pod)["phase"] == "Running", what="Running")


async def test_graceful_deletion_stops_and_cleans_up(env: Env) -> None:
    pod = make_pod()
    env.workers.update_pod(pod)
    await until(lambda: env.status(pod).get("phase") == "Running", what="Running")
    uid = pod["metadata"]["uid"]
    env.workers.update_pod(with_deletion(pod, 30))
    await env.workers.wait_terminated(uid)
    assert env.sink.terminated_pods == ["ns/web"]
    c = env.cs(pod)
    assert c["state"]["terminated"]["exitCode"] == 143  # SIGTERM within the grace period
    assert env.status(pod)["phase"] == "Failed"
    assert await env.runtime.list_pod_sandboxes() == []
    assert uid not in env.workers.workers


async def test_restarted_kubelet_readopts_without_duplicates(env: Env) -> None:
    pod = make_pod(initContainers=[{"name": "init", "image": "x"}],
                   annotations={"sim.sampan.io/init.run-seconds": "1"})
    env.workers.update_pod(pod)
    await env.tick(times=3)
    await until(lambda: env.status(pod).get("phase") == "Running", what="Running")
    starts = env.runtime.starts
    await env.workers.aclose()
    env.workers = env.new_workers()  # a new kubelet process, same runtime
    orphan = make_pod("orphan")
    env.workers.update_pod(orphan)
    await until(lambda: env.status(orphan).get("phase") == "Running", what="orphan Running")
    await env.workers.aclose()
    env.workers = env.new_workers()
    env.workers.update_pod({**pod, "status": env.status(pod)})
    await env.tick(times=3)
    assert env.runtime.starts == starts + 1  # only the orphan's container was ever started again
    assert env.cs(pod)["restartCount"] == 0
    assert await env.workers.cleanup_orphans({pod["metadata"]["uid"]}) == 1
    assert [sb.config.name for sb in await env.runtime.list_pod_sandboxes()] == ["web"]


@pytest.fixture
async def health() -> AsyncIterator[dict[str, Any]]:
    """A real HTTP endpoint whose answer the test flips."""
    state: dict[str, Any] = {"code": 200}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(f"HTTP/1.1 {state['code']} X\r\nContent-Length: 0\r\n\r\n".encode())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    state["port"] = server.sockets[0].getsockname()[1]
    yield state
    server.close()


async def test_readiness_probe_drives_ready_condition(env: Env, health: dict[str, Any]) -> None:
    probe = {"httpGet": {"path": "/ready", "port": health["port"]}, "periodSeconds": 1, "failureThreshold": 1}
    pod = make_pod(containers=[{"name": "c", "image": "img", "readinessProbe": probe}])
    health["code"] = 500
    env.workers.update_pod(pod)
    await until(lambda: env.status(pod).get("phase") == "Running", what="Running")
    await env.tick(times=2)
    st = env.status(pod)
    assert env.cs(pod)["ready"] is False
    assert (cond(st, "Ready")["status"], cond(st, "ContainersReady")["message"]) == (
        "False", "containers with unready status: [c]")
    health["code"] = 200
    for _ in range(20):
        await env.tick()
        if env.cs(pod)["ready"]:
            break
    assert cond(env.status(pod), "Ready")["status"] == "True"


class RecordedEvents:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []
        self.field_paths: list[str] = []

    def event(self, obj: dict[str, Any], type_: str, reason: str, message: str, *, field_path: str = "") -> None:
        self.seen.append((type_, reason, message))
        self.field_paths.append(field_path)


async def test_liveness_failure_restarts_container(env: Env, health: dict[str, Any]) -> None:
    probe = {"httpGet": {"path": "/live", "port": health["port"]}, "periodSeconds": 1, "failureThreshold": 2}
    pod = make_pod(containers=[{"name": "c", "image": "img", "livenessProbe": probe}],
                   terminationGracePeriodSeconds=5)
    events = RecordedEvents()
    env.workers.set_events(events)
    env.workers.update_pod(pod)
    await until(lambda: env.status(pod).get("phase") == "Running", what="Running")
    await env.tick(times=3)
    assert env.cs(pod)["restartCount"] == 0
    health["code"] = 500
    for _ in range(20):
        await env.tick()
        if env.cs(pod)["restartCount"] == 1:
            break
    c = env.cs(pod)
    assert c["restartCount"] == 1
    assert c["lastState"]["terminated"]["exitCode"] == 143  # stopped with SIGTERM and a grace period
    # upstream's events: one Unhealthy per failed probe, then Killing with the reason
    assert ("Warning", "Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 500") in events.seen
    assert ("Normal", "Killing", "Container c failed liveness probe, will be restarted") in events.seen
    assert events.seen.index(("Normal", "Killing", "Container c failed liveness probe, will be restarted")) >= 2


async def test_missing_volume_source_keeps_pod_creating(env: Env) -> None:
    pod = make_pod(containers=[{"name": "c", "image": "img", "volumeMounts": [{"name": "v", "mountPath": "/v"}]}],
                   volumes=[{"name": "v", "secret": {"secretName": "tls"}}])
    env.workers.update_pod(pod)
    await until(lambda: bool(env.status(pod)), what="status")
    assert env.cs(pod)["state"]["waiting"] == {
        "reason": "ContainerCreating", "message": 'MountVolume.SetUp failed: secret "tls" not found'}
    assert env.runtime.starts == 0
    env.objects.secrets[("ns", "tls")] = {"metadata": {"name": "tls", "namespace": "ns"}, "data": {}}
    await env.tick()
    await until(lambda: env.status(pod)["phase"] == "Running", what="Running")


async def test_failing_init_container_backs_off(env: Env) -> None:
    pod = make_pod(initContainers=[{"name": "init", "image": "x"}],
                   annotations={"sim.sampan.io/init.run-seconds": "1", "sim.sampan.io/init.exit-code": "1"})
    env.workers.update_pod(pod)
    for _ in range(5):
        await env.tick()
    init = env.cs(pod, "init", "initContainerStatuses")
    assert init["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert init["restartCount"] == 1
    assert env.status(pod)["phase"] == "Pending"
    assert env.cs(pod)["state"]["waiting"]["reason"] == "PodInitializing"


async def test_changed_container_spec_restarts_the_container(env: Env) -> None:
    pod = make_pod()
    env.workers.update_pod(pod)
    await until(lambda: env.status(pod).get("phase") == "Running", what="Running")
    first = env.cs(pod)["containerID"]
    changed = {**pod, "spec": {**pod["spec"], "containers": [{"name": "c", "image": "img:v2"}]}}
    env.workers.update_pod(changed)
    await until(lambda: env.cs(pod).get("image") == "img:v2" and "running" in env.cs(pod)["state"], what="v2")
    c = env.cs(pod)
    assert c["containerID"] != first
    assert c["restartCount"] == 1
    assert c["lastState"]["terminated"]["containerID"] == first


async def test_admission_counts_running_pods(tmp_path: Path) -> None:
    e = Env(tmp_path)
    e.workers = PodWorkers(e.runtime, sink=e.sink, volumes=e.volumes, clock=e.clock,
                           options=PodWorkerOptions(node_allocatable={"cpu": "1", "pods": "10"}))
    big = [{"name": "c", "image": "i", "resources": {"requests": {"cpu": "600m"}}}]
    first = make_pod("a", containers=big)
    assert e.workers.admit(first).admitted
    e.workers.update_pod(first)
    second = make_pod("b", containers=big)
    verdict = e.workers.admit(second)
    assert (verdict.admitted, verdict.reason) == (False, "OutOfcpu")
    e.workers.update_pod(with_deletion(first, 0))
    assert e.workers.admit(second).admitted  # a terminating pod no longer counts
    await e.workers.aclose()


async def test_sandbox_removed_behind_the_workers_back_is_recreated(env: Env) -> None:
    pod = make_pod(annotations={"sim.sampan.io/run-seconds": "1"}, restartPolicy="Always")
    env.workers.update_pod(pod)
    await until(lambda: env.status(pod).get("phase") == "Running", what="Running")
    [sb] = await env.runtime.list_pod_sandboxes()
    await env.runtime.remove_pod_sandbox(sb.id)
    await env.tick(times=3)
    [again] = await env.runtime.list_pod_sandboxes()
    assert again.id != sb.id
    assert again.config.attempt == 0  # the old sandbox is gone, so this is the first one the runtime knows


async def test_a_changed_container_spec_restarts_the_container_once(env: Env) -> None:
    """A running container whose spec hash label differs from the pod's spec is restarted (attempt 1); an
    unchanged spec resyncs without a restart."""
    import copy

    pod = make_pod()
    env.workers.update_pod(pod)
    await until(lambda: env.status(pod).get("phase") == "Running", what="Running")
    await env.tick(1.0, times=3)
    assert env.cs(pod)["restartCount"] == 0
    assert env.runtime.starts == 1
    changed = copy.deepcopy(pod)
    changed["spec"]["containers"][0]["image"] = "img:2"
    env.workers.update_pod(changed)
    for _ in range(20):
        await env.tick(1.0)
        if env.cs(changed)["restartCount"] == 1 and "running" in env.cs(changed)["state"]:
            break
    assert env.cs(changed)["restartCount"] == 1
    await env.tick(1.0, times=3)
    assert env.runtime.starts == 2
