"""The CronJob controller against a real API server, on a fake clock the test moves minute by minute.

The manager (and so the Job controller and the work queues) runs on a :class:`FakeClock` that starts at
the real time, so the CronJob's creationTimestamp (the API server's real clock) is about "now";
``to_minute`` moves the fake clock 5 s past the next minute boundary. ``nudge`` keeps nudging it by a few
milliseconds while polling, so rate-limited retries on the fake clock still happen.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from typing import Any

import pytest

from sampan._lib.clock import FakeClock
from sampan.client import Client
from sampan.controllers.cronjob.jobs import SCHEDULED_TIMESTAMP
from sampan.controllers.pods import parse_time
from tests.controllers.support import fast_options, running_kubelet, running_manager, wait_for
from tests.support.apiserver import InProcessAPIServer

CONTROLLERS = ("job", "cronjob")


def cronjob_body(name: str, schedule: str = "*/1 * * * *", **spec: Any) -> dict[str, Any]:
    template = {"spec": {"template": {"spec": {"restartPolicy": "Never",
                                               "containers": [{"name": "c", "image": "busybox"}]}}}}
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name, "namespace": "default"},
            "spec": {"schedule": schedule, "jobTemplate": template, **spec}}


async def create_cronjob(client: Client, clock: FakeClock, body: dict[str, Any]) -> None:
    """Create the CronJob and bring the fake clock up to its creationTimestamp (the API server's real
    clock) in case a real second passed since the fake clock started."""
    cronjobs = await client.resource("batch/v1", "cronjobs")
    created = await cronjobs.create(body)
    stamp = parse_time(created["metadata"]["creationTimestamp"])
    assert stamp is not None
    if stamp > clock.wall():
        await clock.advance(stamp - clock.wall())


async def to_minute(clock: FakeClock) -> None:
    """Advance to 5 s past the next whole minute."""
    now = clock.wall()
    await clock.advance((int(now) // 60 + 1) * 60 + 5 - now)


async def owned_jobs(client: Client, name: str, clock: FakeClock) -> list[dict[str, Any]]:
    await clock.advance(0.001)
    jobs = await client.resource("batch/v1", "jobs")
    return sorted((j for j in (await jobs.list(namespace="default"))["items"]
                   if any(r.get("name") == name and r.get("kind") == "CronJob"
                          for r in j["metadata"].get("ownerReferences") or [])),
                  key=lambda j: j["metadata"]["name"])


def is_complete(job: dict[str, Any]) -> bool:
    conditions = (job.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Complete" and c["status"] == "True" for c in conditions)


async def events(client: Client, name: str) -> list[str]:
    ev = await client.resource("v1", "events")
    return [e["reason"] for e in (await ev.list(namespace="default"))["items"]
            if e["involvedObject"].get("name") == name]


async def test_runs_on_schedule_records_status_and_prunes_history(client: Client) -> None:
    clock = FakeClock(start=time.time())
    cronjobs = await client.resource("batch/v1", "cronjobs")
    async with running_kubelet(client, decide=lambda pod: "Succeeded"), \
            running_manager(client, fast_options(CONTROLLERS), clock=clock):
        await create_cronjob(client, clock, cronjob_body("tick", successfulJobsHistoryLimit=2))
        await wait_for(lambda: clock.sleepers > 0, message="the cronjob waiting for its next minute")
        assert await owned_jobs(client, "tick", clock) == []
        seen: set[str] = set()
        for _run in range(1, 5):
            await to_minute(clock)
            minute = int(clock.wall()) // 60
            want = f"tick-{minute}"
            jobs = await wait_for(lambda w=want: _has(owned_jobs(client, "tick", clock), w), message=f"job {want}")
            seen.add(want)
            job = next(j for j in jobs if j["metadata"]["name"] == want)
            assert job["metadata"]["annotations"][SCHEDULED_TIMESTAMP] == time.strftime(
                "%Y-%m-%dT%H:%M:%SZ", time.gmtime(minute * 60))
            await wait_for(lambda: _all_complete(owned_jobs(client, "tick", clock)), message="jobs complete")
            cj = await wait_for(lambda: _last_success(cronjobs, "tick", clock), message="lastSuccessfulTime")
            assert cj["status"]["lastScheduleTime"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(minute * 60))
        # four runs happened, history keeps the newest two
        names = await wait_for(lambda: _names_if(owned_jobs(client, "tick", clock), 2), message="history pruned")
        assert names == sorted(seen)[-2:]
        assert "SuccessfulCreate" in await events(client, "tick")
        assert "SawCompletedJob" in await events(client, "tick")


async def _has(jobs_coro: Any, name: str) -> list[dict[str, Any]] | None:
    jobs = await jobs_coro
    return jobs if any(j["metadata"]["name"] == name for j in jobs) else None


async def _all_complete(jobs_coro: Any) -> bool:
    jobs = await jobs_coro
    return bool(jobs) and all(is_complete(j) for j in jobs)


async def _names_if(jobs_coro: Any, count: int) -> list[str] | None:
    names = [j["metadata"]["name"] for j in await jobs_coro]
    return names if len(names) == count else None


async def _last_success(cronjobs: Any, name: str, clock: FakeClock) -> dict[str, Any] | None:
    await clock.advance(0.001)
    cj = await cronjobs.get(name, namespace="default")
    status = cj.get("status") or {}
    return cj if status.get("lastSuccessfulTime") and not status.get("active") else None


async def test_forbid_skips_while_running_and_suspend_stops(client: Client) -> None:
    clock = FakeClock(start=time.time())
    policy = {"phase": "Running"}
    cronjobs = await client.resource("batch/v1", "cronjobs")
    async with running_kubelet(client, decide=lambda pod: policy["phase"]) as kubelet, \
            running_manager(client, fast_options(CONTROLLERS), clock=clock):
        await create_cronjob(client, clock, cronjob_body("solo", concurrencyPolicy="Forbid",
                                                         startingDeadlineSeconds=30))
        await wait_for(lambda: clock.sleepers > 0, message="the cronjob waiting for its next minute")
        await to_minute(clock)
        first = await wait_for(lambda: _names_if(owned_jobs(client, "solo", clock), 1), message="first job")
        await to_minute(clock)
        await wait_for(lambda: _reason(client, "solo", "JobAlreadyActive", clock), message="JobAlreadyActive")
        assert [j["metadata"]["name"] for j in await owned_jobs(client, "solo", clock)] == first
        cj = await cronjobs.get("solo", namespace="default")
        assert [r["name"] for r in cj["status"]["active"]] == first

        # past the skipped run's 30 s starting deadline, so it is not started late when the first run ends
        # (upstream starts a Forbid-skipped run late if its deadline allows)
        await clock.advance(30)
        policy["phase"] = "Succeeded"  # the first run ends; the next minute starts another
        kubelet.refresh()
        await wait_for(lambda: _all_complete(owned_jobs(client, "solo", clock)), message="first job complete")
        await to_minute(clock)
        await wait_for(lambda: _names_if(owned_jobs(client, "solo", clock), 2), message="second job")

        # a merge patch, as `kubectl patch` sends: the controller writes the status concurrently, so a
        # read-modify-update could meet a 409 that says nothing about the behaviour under test
        await cronjobs.patch("solo", {"spec": {"suspend": True}}, namespace="default")
        await wait_for(lambda: _all_complete(owned_jobs(client, "solo", clock)), message="jobs complete")
        for _ in range(3):
            await to_minute(clock)
        # the controller had three minutes' chances; poll a while to give it time to (wrongly) act
        for _ in range(20):
            assert len(await owned_jobs(client, "solo", clock)) == 2
        await cronjobs.patch("solo", {"spec": {"suspend": False}}, namespace="default")
        await to_minute(clock)
        await wait_for(lambda: _names_if(owned_jobs(client, "solo", clock), 3), message="resumed: third job")


async def _reason(client: Client, name: str, reason: str, clock: FakeClock) -> bool:
    await clock.advance(0.001)
    return reason in await events(client, name)


async def test_replace_deletes_the_running_job(client: Client) -> None:
    clock = FakeClock(start=time.time())
    cronjobs = await client.resource("batch/v1", "cronjobs")
    async with running_kubelet(client, decide=lambda pod: "Running"), \
            running_manager(client, fast_options(CONTROLLERS), clock=clock):
        await create_cronjob(client, clock, cronjob_body("swap", concurrencyPolicy="Replace"))
        await wait_for(lambda: clock.sleepers > 0, message="the cronjob waiting for its next minute")
        await to_minute(clock)
        first = await wait_for(lambda: _names_if(owned_jobs(client, "swap", clock), 1), message="first job")
        await to_minute(clock)
        second = f"swap-{int(clock.wall()) // 60}"
        await wait_for(lambda: _live_names(owned_jobs(client, "swap", clock), [second]), message="replaced")
        assert first != [second]
        cj = await cronjobs.get("swap", namespace="default")
        assert [r["name"] for r in cj["status"]["active"]] == [second]


async def _live_names(jobs_coro: Any, want: list[str]) -> bool:
    jobs = [j for j in await jobs_coro if not j["metadata"].get("deletionTimestamp")]
    return [j["metadata"]["name"] for j in jobs] == want


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
async def test_kubectl_create_job_from_cronjob(client: Client, inproc_apiserver: InProcessAPIServer) -> None:
    cronjobs = await client.resource("batch/v1", "cronjobs")
    async with running_kubelet(client, decide=lambda pod: "Succeeded"), \
            running_manager(client, fast_options(CONTROLLERS)):
        await cronjobs.create(cronjob_body("nightly", schedule="0 3 * * *", suspend=True))
        proc = await asyncio.create_subprocess_exec(
            "kubectl", "--kubeconfig", str(inproc_apiserver.kubeconfig), "create", "job", "by-hand",
            "--from=cronjob/nightly", "-n", "default", stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env={**os.environ, "KUBECTL_COMMAND_HEADERS": "false"})
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        assert "job.batch/by-hand created" in out.decode()
        jobs = await client.resource("batch/v1", "jobs")
        await wait_for(lambda: _complete(jobs, "by-hand"), message="the job from the cronjob completes")
        job = await jobs.get("by-hand", namespace="default")
        assert job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
        assert job["metadata"]["ownerReferences"][0]["name"] == "nightly"
        cj = await wait_for(lambda: _last_success(cronjobs, "nightly", FakeClock()), message="lastSuccessfulTime")
        assert "lastScheduleTime" not in cj["status"]
        assert "UnexpectedJob" in await events(client, "nightly")  # upstream never adopts it into status.active


async def _complete(jobs: Any, name: str) -> bool:
    return is_complete(await jobs.get(name, namespace="default"))


async def test_too_many_missed_starts_only_the_latest(client: Client) -> None:
    clock = FakeClock(start=time.time())
    async with running_kubelet(client, decide=lambda pod: "Running"), \
            running_manager(client, fast_options(CONTROLLERS), clock=clock):
        await create_cronjob(client, clock, cronjob_body("late"))
        await to_minute(clock)  # first run, then a long outage: 150 fire times pass unseen
        await wait_for(lambda: _names_if(owned_jobs(client, "late", clock), 1), message="first job")
        await clock.advance(150 * 60)
        latest = f"late-{int(clock.wall()) // 60}"
        await wait_for(lambda: _reason(client, "late", "TooManyMissedTimes", clock), message="TooManyMissedTimes")
        names = await wait_for(lambda: _names_if(owned_jobs(client, "late", clock), 2), message="latest started")
        assert latest in names
