"""Unit tests of the node lifecycle rules: taints from conditions, toleration matching and eviction
delays, the health tracker's probe times, zone states and the NoExecute rate limiter."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sampan.controllers.nodelifecycle import taints as tz
from sampan.controllers.nodelifecycle.health import HealthTracker, unknown_conditions
from sampan.controllers.nodelifecycle.zones import TokenBucket, ZoneLimiters, ZoneState, zone_of, zone_states


def node(name: str = "n", *, ready: str | None = "True", heartbeat: str = "t0", zone: str | None = None,
         **conds: str) -> dict[str, Any]:
    conditions = [] if ready is None else [{"type": "Ready", "status": ready, "lastHeartbeatTime": heartbeat}]
    conditions += [{"type": k, "status": v} for k, v in conds.items()]
    labels = {"topology.kubernetes.io/zone": zone} if zone else {}
    return {"metadata": {"name": name, "labels": labels}, "spec": {}, "status": {"conditions": conditions}}


def test_condition_taints() -> None:
    assert tz.desired_no_schedule(node()) == set()
    assert tz.desired_no_schedule(node(ready="False")) == {tz.NOT_READY}
    assert tz.desired_no_schedule(node(ready="Unknown", MemoryPressure="True")) == {tz.UNREACHABLE, tz.MEMORY_PRESSURE}
    assert tz.desired_no_schedule(node(ready=None)) == {tz.UNREACHABLE}
    cordoned = node()
    cordoned["spec"]["unschedulable"] = True
    assert tz.desired_no_schedule(cordoned) == {tz.UNSCHEDULABLE}
    assert tz.desired_no_execute(node()) is None
    assert tz.desired_no_execute(node(ready="False")) == tz.NOT_READY
    assert tz.desired_no_execute(node(ready="Unknown")) == tz.UNREACHABLE


def test_managed_taints_replace_only_managed_and_keep_time_added() -> None:
    current = [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
               {"key": tz.NOT_READY, "effect": "NoExecute", "timeAdded": "old"},
               {"key": tz.NOT_READY, "effect": "NoSchedule"}]
    out = tz.with_managed_taints(current, no_schedule={tz.UNREACHABLE}, no_execute=tz.UNREACHABLE, now="now")
    assert out == [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
                   {"key": tz.UNREACHABLE, "effect": "NoExecute", "timeAdded": "now"},
                   {"key": tz.UNREACHABLE, "effect": "NoSchedule"}]
    again = tz.with_managed_taints(out, no_schedule={tz.UNREACHABLE}, no_execute=tz.UNREACHABLE, now="later")
    assert again == out  # idempotent: timeAdded is kept
    assert tz.with_managed_taints(out, no_schedule=set(), no_execute=None, now="x") == [current[0]]


UNREACHABLE_NE = {"key": tz.UNREACHABLE, "effect": "NoExecute", "timeAdded": "t"}


@pytest.mark.parametrize(("toleration", "expected"), [
    ({"key": tz.UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}, True),
    ({"key": tz.UNREACHABLE, "operator": "Exists"}, True),
    ({"operator": "Exists"}, True),
    ({"key": tz.UNREACHABLE, "operator": "Exists", "effect": "NoSchedule"}, False),
    ({"key": tz.NOT_READY, "operator": "Exists"}, False),
    ({"key": tz.UNREACHABLE, "value": "", "effect": "NoExecute"}, True),
    ({"key": tz.UNREACHABLE, "value": "x", "effect": "NoExecute"}, False),
    ({"key": "", "operator": "Equal"}, False),
])
def test_tolerates(toleration: dict[str, Any], expected: bool) -> None:
    assert tz.tolerates(toleration, UNREACHABLE_NE) is expected


def _pod(*tolerations: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"tolerations": list(tolerations)}}


def test_eviction_delay() -> None:
    taints = [UNREACHABLE_NE]
    assert tz.eviction_delay(_pod(), taints) == 0.0
    assert tz.eviction_delay(_pod({"key": tz.UNREACHABLE, "operator": "Exists"}), taints) is None
    both = _pod({"key": tz.UNREACHABLE, "operator": "Exists", "tolerationSeconds": 300},
                {"operator": "Exists", "tolerationSeconds": 30})
    assert tz.eviction_delay(both, taints) == 30.0
    assert tz.eviction_delay(_pod({"operator": "Exists", "tolerationSeconds": -5}), taints) == 0.0
    two_taints = [UNREACHABLE_NE, {"key": "custom", "effect": "NoExecute"}]
    assert tz.eviction_delay(_pod({"key": tz.UNREACHABLE, "operator": "Exists"}), two_taints) == 0.0


def test_health_tracker_probe_times() -> None:
    tracker = HealthTracker(grace_period=40, startup_grace_period=60)
    n = node()
    lease = {"spec": {"renewTime": "r1"}}
    tracker.observe(n, lease, 0.0)
    assert not tracker.silent(n, 40.0)
    assert tracker.silent(n, 40.5)
    tracker.observe(n, {"spec": {"renewTime": "r2"}}, 30.0)  # lease renewed: probe moves
    assert not tracker.silent(n, 70.0)
    tracker.observe(node(heartbeat="t1"), {"spec": {"renewTime": "r2"}}, 65.0)  # heartbeat also counts
    assert not tracker.silent(n, 100.0)
    assert tracker.silent(n, 105.5)
    fresh = node("fresh", ready=None)
    tracker.observe(fresh, None, 0.0)
    assert not tracker.silent(fresh, 59.0)  # startup grace for a node that never posted Ready
    assert tracker.silent(fresh, 60.5)
    tracker.forget_missing({"n"})
    assert not tracker.silent(fresh, 1000.0)  # forgotten nodes are not judged


def test_unknown_conditions() -> None:
    conds = unknown_conditions(node(MemoryPressure="False"), now="T")
    assert conds is not None
    by_type = {c["type"]: c for c in conds}
    assert by_type["Ready"]["status"] == "Unknown"
    assert by_type["Ready"]["reason"] == "NodeStatusUnknown"
    assert by_type["Ready"]["lastHeartbeatTime"] == "t0"  # the kubelet's last heartbeat is kept
    assert by_type["DiskPressure"]["reason"] == "NodeStatusNeverUpdated"
    unknown = {"metadata": {"name": "n"}, "status": {"conditions": conds}}
    assert unknown_conditions(unknown, now="T2") is None


def test_zone_states() -> None:
    nodes = [node("a", zone="z1"), node("b", ready="Unknown", zone="z1"), node("c", ready="Unknown", zone="z2")]
    assert zone_states(nodes, unhealthy_threshold=0.55) == {zone_of(nodes[0]): ZoneState.NORMAL,
                                                           zone_of(nodes[2]): ZoneState.FULL}
    assert zone_of(nodes[0]) != zone_of(nodes[2])
    many = [node(f"u{i}", ready="False") for i in range(3)] + [node("ok")]
    assert list(zone_states(many, unhealthy_threshold=0.55).values()) == [ZoneState.PARTIAL]
    two_bad = [node("u0", ready="False"), node("u1", ready="False"), node("ok")]
    assert list(zone_states(two_bad, unhealthy_threshold=0.55).values()) == [ZoneState.NORMAL]


def test_token_bucket_and_zone_rates() -> None:
    bucket = TokenBucket(rate=2.0)
    assert bucket.take(10.0) == 0.0
    assert bucket.take(10.0) == pytest.approx(0.5)
    assert bucket.take(10.5) == 0.0
    assert math.isinf(TokenBucket(rate=0.0).take(0.0))
    limiters = ZoneLimiters(rate=1.0, secondary_rate=0.5, large_cluster_threshold=10)
    limiters.set_state("z", ZoneState.PARTIAL, 5)  # small partially disrupted zone: evictions stop
    assert math.isinf(limiters.take("z", 0.0))
    limiters.set_state("z", ZoneState.PARTIAL, 50)
    assert limiters.take("z", 0.0) == 0.0
    assert limiters.take("z", 0.0) == pytest.approx(2.0)


_KEYS = st.sampled_from([tz.NOT_READY, tz.UNREACHABLE, tz.MEMORY_PRESSURE, tz.UNSCHEDULABLE, "example.com/gpu", "x"])
_EFFECTS = st.sampled_from(["NoSchedule", "NoExecute", "PreferNoSchedule"])
_TAINT = st.fixed_dictionaries({"key": _KEYS, "effect": _EFFECTS})


@given(current=st.lists(_TAINT, max_size=6, unique_by=lambda t: (t["key"], t["effect"])),
       no_schedule=st.sets(st.sampled_from(sorted(tz.MANAGED_NO_SCHEDULE))),
       no_execute=st.sampled_from([None, tz.NOT_READY, tz.UNREACHABLE]))
def test_managed_taints_properties(current: list[dict[str, Any]], no_schedule: set[str],
                                   no_execute: str | None) -> None:
    out = tz.with_managed_taints(current, no_schedule=no_schedule, no_execute=no_execute, now="T")
    # idempotent, unmanaged taints untouched and in order, managed ones exactly the wanted set
    assert tz.with_managed_taints(out, no_schedule=no_schedule, no_execute=no_execute, now="T2") == out
    def managed(t: dict[str, Any]) -> bool:
        return (t["effect"] == "NoSchedule" and t["key"] in tz.MANAGED_NO_SCHEDULE) or \
            (t["effect"] == "NoExecute" and t["key"] in tz.MANAGED_NO_EXECUTE)
    assert [t for t in out if not managed(t)] == [t for t in current if not managed(t)]
    want = {(k, "NoSchedule") for k in no_schedule} | ({(no_execute, "NoExecute")} if no_execute else set())
    assert {(t["key"], t["effect"]) for t in out if managed(t)} == want
    assert len(out) == len({(t["key"], t["effect"]) for t in out})
