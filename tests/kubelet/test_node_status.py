"""Pure parts of the kubelet's API side: node conditions, container events, log query parsing."""

from __future__ import annotations

import pytest

from sampan.kubelet.api_status import container_events, pod_ref
from sampan.kubelet.log_server import BadLogRequest, parse_query
from sampan.kubelet.node_status import condition_events, conditions, default_capacity, host_memory_bytes


def test_conditions_keep_transition_time_and_refresh_heartbeat() -> None:
    first = conditions(None, now=1_700_000_000)
    assert [c["type"] for c in first] == ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
    later = conditions(first, now=1_700_000_100)
    for a, b in zip(first, later, strict=True):
        assert b["lastTransitionTime"] == a["lastTransitionTime"]
        assert b["lastHeartbeatTime"] != a["lastHeartbeatTime"]
    flipped = [{**c, "status": "Unknown"} if c["type"] == "Ready" else c for c in first]
    back = {c["type"]: c for c in conditions(flipped, now=1_700_000_200)}
    assert back["Ready"]["status"] == "True"
    assert back["Ready"]["lastTransitionTime"] == back["Ready"]["lastHeartbeatTime"]


def test_condition_events_on_changes_only() -> None:
    first = conditions(None, now=1_700_000_000)
    assert condition_events(None, first) == ["NodeHasSufficientMemory", "NodeHasNoDiskPressure",
                                             "NodeHasSufficientPID", "NodeReady"]
    assert condition_events(first, conditions(first, now=1_700_000_010)) == []
    unknown = [{**c, "status": "Unknown"} if c["type"] == "Ready" else c for c in first]
    assert condition_events(unknown, first) == ["NodeReady"]


def test_capacity_from_host_or_flags(tmp_path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       2048 kB\nMemFree: 1 kB\n")
    assert host_memory_bytes(str(meminfo)) == 2048 * 1024
    assert host_memory_bytes(str(tmp_path / "missing")) == 0
    cap = default_capacity(cpu="3", memory="1Gi", max_pods=7)
    assert cap["cpu"] == "3"
    assert cap["memory"] == "1Gi"
    assert cap["pods"] == "7"


def test_container_events_for_start_and_config_error() -> None:
    running = {"containerStatuses": [{"name": "c", "containerID": "x://1", "state": {"running": {}}}]}
    assert container_events({}, running) == [("Normal", "Created", "Created container c", "spec.containers{c}"),
                                             ("Normal", "Started", "Started container c", "spec.containers{c}")]
    assert container_events(running, running) == []
    restarted = {"containerStatuses": [{"name": "c", "containerID": "x://2", "state": {"running": {}}}]}
    assert [e[1] for e in container_events(running, restarted)] == ["Created", "Started"]
    init = {"initContainerStatuses": [{"name": "i", "containerID": "x://3", "state": {"running": {}}}]}
    assert {e[3] for e in container_events({}, init)} == {"spec.initContainers{i}"}
    backoff = {"containerStatuses": [{"name": "c", "state": {"waiting": {"reason": "CrashLoopBackOff",
                                                                         "message": "back-off 10s"}}}]}
    assert container_events(running, backoff) == []  # the pod worker records BackOff on each sync in back-off
    assert pod_ref({"metadata": {"name": "p", "namespace": "ns", "uid": "u1"}}) == "p_ns(u1)"
    bad = {"containerStatuses": [{"name": "c", "state": {"waiting": {"reason": "CreateContainerConfigError",
                                                                     "message": 'configmap "x" not found'}}}]}
    assert container_events({}, bad) == [("Warning", "Failed", 'Error: configmap "x" not found', "spec.containers{c}")]


def test_log_query_parsing() -> None:
    q = parse_query({"follow": "true", "tailLines": "5", "timestamps": "1", "sinceSeconds": "10"}, now=100.0)
    assert (q.follow, q.tail, q.timestamps, q.since, q.previous) == (True, 5, True, 90.0, False)
    assert parse_query({"sinceTime": "2026-01-01T00:00:00Z"}, now=0).since is not None
    for bad in ({"tailLines": "x"}, {"tailLines": "-1"}, {"limitBytes": "0"}, {"sinceTime": "yesterday"}):
        with pytest.raises(BadLogRequest):
            parse_query(bad, now=0)
