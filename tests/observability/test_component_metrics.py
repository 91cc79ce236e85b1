"""``/metrics`` of the scheduler, controller-manager and kubelet carry upstream's metric names, and their
values move when work is done: a ReplicaSet of two pods is created, scheduled and run (simulated runtime);
the pages are scraped before and after."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from sampan.client import Client, load_config
from tests.observability.cluster import NODE, MiniCluster, mini_cluster, sample, wait_for
from tests.support.apiserver import APIServerHandle

pytestmark = pytest.mark.slow

REPLICAS = 2


def replicaset() -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web"},
            "spec": {"replicas": REPLICAS, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": "pause"}]}}}}


async def scrape(cluster: MiniCluster, component: str) -> str:
    return await asyncio.to_thread(cluster.metrics, component)


async def test_metrics_have_upstream_names_and_move(apiserver: APIServerHandle, tmp_path: Path) -> None:
    with mini_cluster(apiserver, tmp_path) as cluster:
        async with Client(dataclasses.replace(load_config(cluster.kubeconfig), qps=0.0)) as client:
            nodes, pods = await client.resource("v1", "nodes"), await client.resource("v1", "pods")
            rs = await client.resource("apps/v1", "replicasets")

            async def node_registered() -> bool:
                return any(n["metadata"]["name"] == NODE for n in (await nodes.list())["items"])

            await wait_for(node_registered, 60, "the node to register")

            async def leading() -> bool:
                try:
                    pages = [await scrape(cluster, c) for c in ("scheduler", "controller-manager")]
                except OSError:
                    return False
                return all(sample(p, "leader_election_master_status") == 1.0 for p in pages)

            await wait_for(leading, 60, "scheduler and controller-manager to lead")
            before = {c: await scrape(cluster, c) for c in cluster.ports}
            await rs.create(replicaset(), namespace="default")

            async def all_running() -> bool:
                items = (await pods.list(namespace="default"))["items"]
                return len(items) == REPLICAS and all((p.get("status") or {}).get("phase") == "Running"
                                                      for p in items)

            await wait_for(all_running, 60, f"{REPLICAS} running pods")

            async def kubelet_counts() -> bool:
                return sample(await scrape(cluster, "kubelet"), "kubelet_running_pods") == REPLICAS

            await wait_for(kubelet_counts, 30, "kubelet_running_pods to count the pods")
            after = {c: await scrape(cluster, c) for c in cluster.ports}

    cm_b, cm_a = before["controller-manager"], after["controller-manager"]
    for name in ("workqueue_adds_total", "workqueue_queue_duration_seconds_count",
                 "workqueue_work_duration_seconds_count"):
        assert sample(cm_a, name, name="replicaset") > sample(cm_b, name, name="replicaset"), name
    assert "workqueue_depth{" in cm_a
    assert "workqueue_retries_total" in cm_a
    assert 'workqueue_longest_running_processor_seconds{name="replicaset"}' in cm_a
    assert sample(cm_a, "rest_client_requests_total", method="POST", code="201") >= \
        sample(cm_b, "rest_client_requests_total", method="POST", code="201") + REPLICAS
    assert sample(cm_a, "leader_election_master_status", name="kube-controller-manager") == 1.0

    sch_b, sch_a = before["scheduler"], after["scheduler"]
    assert sample(sch_a, "scheduler_schedule_attempts_total", result="scheduled") == \
        sample(sch_b, "scheduler_schedule_attempts_total", result="scheduled") + REPLICAS
    assert sample(sch_a, "scheduler_scheduling_attempt_duration_seconds_count") > \
        sample(sch_b, "scheduler_scheduling_attempt_duration_seconds_count")
    assert "scheduler_pending_pods" in sch_a
    assert "scheduler_e2e_scheduling_duration_seconds" in sch_a
    assert sample(sch_a, "rest_client_requests_total", method="POST", code="201") > \
        sample(sch_b, "rest_client_requests_total", method="POST", code="201")  # the bindings
    assert sample(sch_a, "leader_election_master_status", name="kube-scheduler") == 1.0

    kl_b, kl_a = before["kubelet"], after["kubelet"]
    assert sample(kl_a, "kubelet_node_name", node=NODE) == 1.0
    assert sample(kl_b, "kubelet_running_pods") == 0.0
    assert sample(kl_a, "kubelet_running_containers", container_state="running") == REPLICAS
    assert sample(kl_a, "kubelet_pod_start_duration_seconds_count") == REPLICAS
    assert sample(kl_a, "rest_client_requests_total", method="PATCH") > sample(kl_b, "rest_client_requests_total",
                                                                                method="PATCH")
