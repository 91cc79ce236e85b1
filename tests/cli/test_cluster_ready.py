"""When `sampan up` calls a cluster ready: nodes Ready with a heartbeat from this run."""

from __future__ import annotations

from sampan.cli.cluster_ready import ready_nodes
from sampan.cli.up import node_names


def node(name: str, status: str, heartbeat: str) -> dict:
    return {"metadata": {"name": name},
            "status": {"conditions": [{"type": "Ready", "status": status, "lastHeartbeatTime": heartbeat}]}}


def test_ready_nodes_need_true_and_a_fresh_heartbeat() -> None:
    listed = {"items": [node("a", "True", "2026-01-01T00:00:10Z"), node("b", "Unknown", "2026-01-01T00:00:10Z"),
                        node("c", "True", "2026-01-01T00:00:01Z"), {"metadata": {"name": "d"}}]}
    assert ready_nodes(listed) == {"a", "c"}
    since = 1767225609.5  # 2026-01-01T00:00:09.5Z
    assert ready_nodes(listed, since=since) == {"a"}


def test_node_names() -> None:
    assert node_names(3, "Box") == ["box", "box-2", "box-3"]


def test_scheduler_lease_must_be_held_and_renewed_in_this_run() -> None:
    from sampan.cli.cluster_ready import lease_held

    fresh = {"spec": {"holderIdentity": "box_1", "renewTime": "2026-01-01T00:00:10.000000Z"}}
    assert lease_held(fresh, since=1767225609.5)
    assert not lease_held(fresh, since=1767225700.0)  # renewed by an earlier run
    assert not lease_held({"spec": {"holderIdentity": "", "renewTime": "2026-01-01T00:00:10.000000Z"}})
    assert not lease_held(None)
