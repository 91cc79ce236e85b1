"""Job and TTL-after-finished controllers against a real API server; the fake kubelet decides how pods end."""

from __future__ import annotations

from typing import Any

from sampan.api import errors
from sampan.client import Client
from sampan.controllers.job.status import format_indexes, parse_indexes
from tests.controllers.support import fast_options, running_kubelet, running_manager, wait_for

CONTROLLERS = ("job", "ttl-after-finished")


def job_body(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": "default"},
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                                           "containers": [{"name": "c", "image": "busybox"}]}}, **spec}}


async def job_pods(client: Client, name: str) -> list[dict[str, Any]]:
    pods = await client.resource("v1", "pods")
    return [p for p in (await pods.list(namespace="default"))["items"]
            if (p["metadata"].get("labels") or {}).get("batch.kubernetes.io/job-name") == name]


async def condition(client: Client, name: str, ctype: str) -> dict[str, Any] | None:
    jobs = await client.resource("batch/v1", "jobs")
    job = await jobs.get(name, namespace="default")
    return next((c for c in (job.get("status") or {}).get("conditions") or []
                 if c["type"] == ctype and c["status"] == "True"), None)


async def test_job_retries_failed_pods_then_completes(client: Client) -> None:
    failures = {"left": 2}
    decided: dict[str, str] = {}

    def decide(pod: dict[str, Any]) -> Any:
        name = pod["metadata"]["name"]
        if name not in decided:
            if failures["left"] > 0:
                failures["left"] -= 1
                decided[name] = "Failed"
            else:
                decided[name] = "Succeeded"
        return decided[name]

    jobs = await client.resource("batch/v1", "jobs")
    async with running_kubelet(client, decide=decide), running_manager(client, fast_options(CONTROLLERS)):
        await jobs.create(job_body("retry", completions=3, parallelism=2, backoffLimit=4))
        await wait_for(lambda: condition(client, "retry", "Complete"), message="Complete")
        job = await jobs.get("retry", namespace="default")
        assert job["status"]["succeeded"] == 3
        assert job["status"]["failed"] == 2
        assert job["status"].get("completionTime")
        assert sum(1 for p in await job_pods(client, "retry") if p["status"]["phase"] == "Succeeded") == 3


async def test_job_exceeding_backoff_limit_fails(client: Client) -> None:
    jobs = await client.resource("batch/v1", "jobs")
    async with running_kubelet(client, decide=lambda pod: "Failed"), \
            running_manager(client, fast_options(CONTROLLERS)):
        await jobs.create(job_body("doomed", backoffLimit=2))
        cond = await wait_for(lambda: condition(client, "doomed", "Failed"), message="Failed")
        assert cond["reason"] == "BackoffLimitExceeded"
        job = await jobs.get("doomed", namespace="default")
        assert job["status"]["failed"] == 3
        assert "active" not in job["status"]  # 0 and omitempty: absent, as upstream stores it


async def test_indexed_job_and_ttl_after_finished(client: Client) -> None:
    jobs = await client.resource("batch/v1", "jobs")
    async with running_kubelet(client, decide=lambda pod: "Succeeded"), \
            running_manager(client, fast_options(CONTROLLERS)):
        await jobs.create(job_body("idx", completions=3, parallelism=3, completionMode="Indexed",
                                   ttlSecondsAfterFinished=5))  # long enough to read it on a loaded machine
        await wait_for(lambda: condition(client, "idx", "Complete"), message="Complete")
        job = await jobs.get("idx", namespace="default")
        assert job["status"]["completedIndexes"] == "0-2"
        indexes = sorted(int(p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"])
                         for p in await job_pods(client, "idx"))
        assert indexes == [0, 1, 2]

        async def gone() -> bool:
            try:
                await jobs.get("idx", namespace="default")
            except errors.NotFound:
                return True
            return False

        await wait_for(gone, message="TTL deletion")


async def test_active_deadline_and_pod_failure_policy(client: Client) -> None:
    jobs = await client.resource("batch/v1", "jobs")
    async with running_kubelet(client, decide=lambda pod: "Running" if pod["metadata"]["name"].startswith("slow")
                               else "Failed"), running_manager(client, fast_options(CONTROLLERS)):
        await jobs.create(job_body("slow", activeDeadlineSeconds=1))
        policy = {"rules": [{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [1]}}]}
        await jobs.create(job_body("fatal", backoffLimit=5, podFailurePolicy=policy))
        cond = await wait_for(lambda: condition(client, "slow", "Failed"), message="DeadlineExceeded")
        assert cond["reason"] == "DeadlineExceeded"
        cond = await wait_for(lambda: condition(client, "fatal", "Failed"), message="PodFailurePolicy")
        assert cond["reason"] == "PodFailurePolicy"
        assert (await jobs.get("fatal", namespace="default"))["status"]["failed"] == 1


async def test_suspended_job_runs_no_pods_until_resumed(client: Client) -> None:
    jobs = await client.resource("batch/v1", "jobs")
    async with running_kubelet(client, decide=lambda pod: "Succeeded"), \
            running_manager(client, fast_options(CONTROLLERS)):
        await jobs.create(job_body("later", suspend=True))
        await wait_for(lambda: condition(client, "later", "Suspended"), message="Suspended")
        assert await job_pods(client, "later") == []
        status = (await jobs.get("later", namespace="default"))["status"]
        # counts upstream writes even when 0 (pointers there), and its always-present uncountedTerminatedPods
        assert (status["ready"], status["terminating"], status["uncountedTerminatedPods"]) == (0, 0, {})
        for _ in range(10):
            job = await jobs.get("later", namespace="default")
            try:
                await jobs.update({**job, "spec": {**job["spec"], "suspend": False}})
                break
            except errors.Conflict:
                continue
        await wait_for(lambda: condition(client, "later", "Complete"), message="Complete after resume")


def test_completed_indexes_round_trip() -> None:
    assert format_indexes([5, 0, 1, 2, 7, 8]) == "0-2,5,7-8"
    assert parse_indexes("0-2,5,7-8") == {0, 1, 2, 5, 7, 8}
    assert parse_indexes("x,3") == {3}
