"""API Priority and Fairness on a real server: queueing, 429s, isolation of node leases and scheduler
bindings from a flood, live configuration, headers, metrics, watches, and the max-in-flight fallback.

Concurrency is driven by requests parked in the test-only ``/hold`` endpoint (conftest), so every
assertion is about state, never about timing. The servers run with a small seat budget
(``--max-requests-inflight 40``, ``--max-mutating-requests-inflight 20``: 60 seats; global-default 5).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sampan.apiserver.flowcontrol.controller import FLOW_SCHEMA_HEADER, PRIORITY_LEVEL_HEADER, TOO_MANY
from tests.apiserver.flowcontrol.conftest import Reply, Server, run_server

FC = "/apis/flowcontrol.apiserver.k8s.io/v1"
SMALL = {"max_requests_inflight": 40, "max_mutating_requests_inflight": 20}
LEASE_PATH = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"


@pytest.fixture
async def small(tmp_path: Path) -> AsyncIterator[Server]:
    async with run_server(tmp_path, **SMALL) as s:
        yield s


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample (0 when absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line[len(name):line.rindex("}") + 1]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def _uid(server: Server, resource: str, name: str) -> str:
    return str((await server.request("GET", f"{FC}/{resource}/{name}")).json()["metadata"]["uid"])


async def renew_leases(server: Server, times: int) -> list[Reply]:
    """The node creates its Lease and renews it ``times`` times (each renewal is a PUT)."""
    lease: dict[str, Any] = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                             "metadata": {"name": "n1", "namespace": "kube-node-lease"},
                             "spec": {"holderIdentity": "n1", "leaseDurationSeconds": 40}}
    created = await server.request("POST", LEASE_PATH, token="node-token", body=lease)
    assert created.status in (201, 409), created.text
    replies = []
    for i in range(times):
        current = (await server.request("GET", f"{LEASE_PATH}/n1", token="node-token")).json()
        current["spec"]["renewTime"] = f"2026-01-01T00:00:{i % 60:02d}.000000Z"
        reply = await server.request("PUT", f"{LEASE_PATH}/n1", token="node-token", body=current)
        assert reply.status == 200, reply.text
        replies.append(reply)
    return replies


async def _tiny_level_for_flooder(server: Server, *, queue_length_limit: int = 2) -> None:
    """A level with 1 share (1 seat of 60), one queue, and a FlowSchema routing ``flooder`` to it."""
    level = {"apiVersion": "flowcontrol.apiserver.k8s.io/v1", "kind": "PriorityLevelConfiguration",
             "metadata": {"name": "tiny"},
             "spec": {"type": "Limited", "limited": {"nominalConcurrencyShares": 1, "limitResponse": {
                 "type": "Queue", "queuing": {"queues": 1, "handSize": 1, "queueLengthLimit": queue_length_limit}}}}}
    schema = {"apiVersion": "flowcontrol.apiserver.k8s.io/v1", "kind": "FlowSchema",
              "metadata": {"name": "flooder-to-tiny"},
              "spec": {"priorityLevelConfiguration": {"name": "tiny"}, "matchingPrecedence": 600,
                       "distinguisherMethod": {"type": "ByUser"},
                       "rules": [{"subjects": [{"kind": "User", "user": {"name": "flooder"}}],
                                  "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"],
                                                     "namespaces": ["*"], "clusterScope": True}],
                                  "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}]}]}}
    assert (await server.request("POST", f"{FC}/prioritylevelconfigurations", body=level)).status == 201
    assert (await server.request("POST", f"{FC}/flowschemas", body=schema)).status == 201
    await server.wait_for(lambda: any(s.name == "flooder-to-tiny" for s in server.apf.schemas),
                          "the custom FlowSchema in force")


async def test_custom_flowschema_live_queueing_429_and_node_leases_unaffected(small: Server) -> None:
    server = small
    before = await renew_leases(server, 1)  # the flooder is still global-default here
    await _tiny_level_for_flooder(server)
    tiny = server.apf.levels["tiny"]
    assert tiny.nominal_cl == 1
    held = [asyncio.create_task(server.request("GET", f"/hold/{i}", token="flooder-token")) for i in range(3)]
    await server.wait_for(lambda: server.holds.entered == 1 and tiny.waiting == 2, "1 executing, 2 queued")
    rejected = await server.request("GET", "/hold/3", token="flooder-token")
    assert rejected.status == 429
    assert rejected.headers["Retry-After"] == "1"
    assert rejected.text == TOO_MANY
    assert rejected.headers[FLOW_SCHEMA_HEADER] == await _uid(server, "flowschemas", "flooder-to-tiny")
    assert rejected.headers[PRIORITY_LEVEL_HEADER] == await _uid(server, "prioritylevelconfigurations", "tiny")
    # the flood is parked; kubelet lease renewals (system:nodes -> node-high) go straight through
    renewals = await renew_leases(server, 20)
    assert server.holds.entered == 1
    assert tiny.waiting == 2
    node_high = await _uid(server, "prioritylevelconfigurations", "node-high")
    assert {r.headers[PRIORITY_LEVEL_HEADER] for r in [*before, *renewals]} == {node_high}
    assert {r.headers[FLOW_SCHEMA_HEADER] for r in renewals} == {await _uid(server, "flowschemas", "system-node-high")}
    text = await server.metrics()
    labels = {"priority_level": "tiny", "flow_schema": "flooder-to-tiny"}
    assert metric(text, "apiserver_flowcontrol_current_inqueue_requests", **labels) == 2
    assert metric(text, "apiserver_flowcontrol_current_executing_requests", **labels) == 1
    assert metric(text, "apiserver_flowcontrol_rejected_requests_total", **labels, reason="queue-full") == 1
    assert metric(text, "apiserver_flowcontrol_dispatched_requests_total", priority_level="node-high",
                  flow_schema="system-node-high") >= 41
    dump = (await server.request("GET", "/debug/api_priority_and_fairness/dump_priority_levels")).text
    row = next(line for line in dump.splitlines() if line.startswith("tiny,"))
    assert [c.strip() for c in row.split(",")][4:8] == ["2", "1", "1", "1"]  # waiting, executing, dispatched, rej.
    requests = (await server.request("GET", "/debug/api_priority_and_fairness/dump_requests")).text.splitlines()
    assert len([line for line in requests if line.startswith("tiny,")]) == 2
    assert all("flooder-to-tiny" in line and "flooder" in line for line in requests[1:])
    server.holds.release()
    assert [r.status for r in await asyncio.gather(*held)] == [200, 200, 200]
    text = await server.metrics()
    assert metric(text, "apiserver_flowcontrol_dispatched_requests_total", **labels) == 3
    assert metric(text, "apiserver_flowcontrol_current_inqueue_requests", **labels) == 0
    assert metric(text, "apiserver_flowcontrol_request_wait_duration_seconds_count", **labels, execute="true") == 3


async def test_flood_in_global_default_leaves_leases_and_bindings_alone_and_borrowing_helps(small: Server) -> None:
    server = small
    gd = server.apf.levels["global-default"]
    assert gd.nominal_cl == 5
    server.apf.adjust_borrowing()  # start a fresh demand period
    held = [asyncio.create_task(server.request("GET", f"/hold/{i}", token="flooder-token")) for i in range(20)]
    await server.wait_for(lambda: server.holds.entered == 5 and gd.waiting == 15, "5 executing, 15 queued")
    await renew_leases(server, 10)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default"},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    assert (await server.request("POST", "/api/v1/namespaces/default/pods", body=pod)).status == 201
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "web", "namespace": "default"},
               "target": {"apiVersion": "v1", "kind": "Node", "name": "n1"}}
    bound = await server.request("POST", "/api/v1/namespaces/default/pods/web/binding", token="scheduler-token",
                                 body=binding)
    assert bound.status == 201, bound.text
    assert bound.headers[FLOW_SCHEMA_HEADER] == await _uid(server, "flowschemas", "kube-scheduler")
    assert server.holds.entered == 5
    assert gd.waiting == 15
    # one period of steady demand (20 seats wanted): idle levels lend, global-default borrows
    server.apf.adjust_borrowing()
    assert gd.current_cl > gd.nominal_cl
    await server.wait_for(lambda: server.holds.entered == 20, "queued requests dispatched on borrowed seats")
    text = await server.metrics()
    assert metric(text, "apiserver_flowcontrol_current_limit_seats", priority_level="global-default") == gd.current_cl
    assert metric(text, "apiserver_flowcontrol_nominal_limit_seats", priority_level="global-default") == 5
    server.holds.release()
    assert all(r.status == 200 for r in await asyncio.gather(*held))


async def test_a_request_queued_past_the_wait_limit_gets_429(tmp_path: Path) -> None:
    async with run_server(tmp_path, apf_queue_wait_limit=0.3, **SMALL) as server:
        await _tiny_level_for_flooder(server)
        running = asyncio.create_task(server.request("GET", "/hold/0", token="flooder-token"))
        await server.wait_for(lambda: server.holds.entered == 1, "one executing")
        late = await server.request("GET", "/api/v1/namespaces", token="flooder-token")
        assert late.status == 429
        assert late.headers["Retry-After"] == "1"
        text = await server.metrics()
        assert metric(text, "apiserver_flowcontrol_rejected_requests_total", priority_level="tiny",
                      flow_schema="flooder-to-tiny", reason="time-out") == 1
        assert server.apf.levels["tiny"].waiting == 0
        server.holds.release()
        assert (await running).status == 200


async def test_watch_holds_seats_only_while_initializing(small: Server) -> None:
    server = small
    await _tiny_level_for_flooder(server)
    tiny = server.apf.levels["tiny"]
    headers = {"Authorization": "Bearer flooder-token"}
    async with server.session.get(server.url + "/api/v1/namespaces/default/configmaps?watch=true",
                                  headers=headers) as watch:
        assert watch.status == 200
        assert watch.headers[PRIORITY_LEVEL_HEADER] == await _uid(server, "prioritylevelconfigurations", "tiny")
        await server.wait_for(lambda: tiny.seats_in_use == 0, "watch seats released")
        listed = await server.request("GET", "/api/v1/namespaces/default/configmaps", token="flooder-token")
        assert listed.status == 200
        assert tiny.waiting == 0


async def test_list_width_from_the_watch_cache(server: Server) -> None:
    """Upstream's seats (600 in all): global-default's widest request is 8 seats; 250 objects are 3."""
    for i in range(250):
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{i}", "namespace": "default"}}
        assert (await server.request("POST", "/api/v1/namespaces/default/configmaps", body=cm)).status == 201
    scope = server.ctx.scope("", "v1", "configmaps")
    assert scope is not None
    await server.wait_for(lambda: len(scope.cache.objects) >= 250, "cache holds the configmaps")
    assert (await server.request("GET", "/api/v1/configmaps", token="alice-token")).status == 200
    text = await server.metrics()
    labels = {"priority_level": "global-default", "flow_schema": "global-default"}
    assert metric(text, "apiserver_flowcontrol_work_estimated_seats_sum", **labels) == 3


async def test_probes_and_admins_are_exempt(small: Server) -> None:
    server = small
    exempt = await _uid(server, "prioritylevelconfigurations", "exempt")
    for path, token in (("/healthz", "alice-token"), ("/readyz", "flooder-token"), ("/api/v1/pods", "")):
        reply = await server.request("GET", path, token=token)
        assert reply.status == 200
        assert reply.headers[PRIORITY_LEVEL_HEADER] == exempt


async def test_without_apf_the_max_inflight_limiter_answers_429(tmp_path: Path) -> None:
    async with run_server(tmp_path, enable_priority_and_fairness=False, max_requests_inflight=2,
                          max_mutating_requests_inflight=1) as server:
        held = [asyncio.create_task(server.request("GET", f"/hold/{i}", token="alice-token")) for i in range(2)]
        await server.wait_for(lambda: server.holds.entered == 2, "two read-only requests in flight")
        third = await server.request("GET", "/api/v1/namespaces", token="alice-token")
        assert third.status == 429
        assert third.headers["Retry-After"] == "1"
        assert third.text == TOO_MANY
        assert FLOW_SCHEMA_HEADER not in third.headers
        assert (await server.request("GET", "/api/v1/namespaces")).status == 200  # system:masters: not limited
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "default"}}
        created = await server.request("POST", "/api/v1/namespaces/default/configmaps", token="alice-token", body=cm)
        assert created.status == 201  # mutating requests have their own limit
        server.holds.release()
        assert [r.status for r in await asyncio.gather(*held)] == [200, 200]


async def test_a_write_watched_by_many_holds_final_seats_then_frees_them(server: Server) -> None:
    headers = {"Authorization": "Bearer alice-token"}
    watches = [await server.session.get(server.url + "/api/v1/namespaces/default/configmaps?watch=true")
               for _ in range(30)]
    try:
        gd = server.apf.levels["global-default"]
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "watched", "namespace": "default"}}
        async with server.session.post(server.url + "/api/v1/namespaces/default/configmaps", json=cm,
                                       headers=headers) as created:
            assert created.status == 201
        await server.wait_for(lambda: gd.seats_in_use == 0 and gd.executing == 0, "final seats released")
        text = await server.metrics()
        assert metric(text, "apiserver_flowcontrol_work_estimated_seats_sum", priority_level="global-default",
                      flow_schema="global-default") == 3  # ceil(30 watchers / 10)
    finally:
        for w in watches:
            w.close()
