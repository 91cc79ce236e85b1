"""Which dispatched requests run in the event loop's urgent lanes (flowcontrol.controller, sampan._lib.urgent):
heartbeats of exempt users are recognised by target, as the leader-election and node-high FlowSchemas would."""

from __future__ import annotations

import pytest

from sampan._lib.urgent import CRITICAL, HEARTBEAT
from sampan.apiserver.flowcontrol.controller import URGENT_LEVELS, exempt_heartbeat
from sampan.apiserver.metrics import request_info


@pytest.mark.parametrize(("method", "path", "lane"), [
    ("PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-scheduler", CRITICAL),
    ("GET", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-controller-manager", CRITICAL),
    ("PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-1", HEARTBEAT),
    ("PUT", "/api/v1/nodes/node-1/status", HEARTBEAT),
    ("PATCH", "/api/v1/nodes/node-1/status", HEARTBEAT),
    ("GET", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", 0),  # a LIST is work
    ("GET", "/apis/coordination.k8s.io/v1/leases?watch=1", 0),
    ("DELETE", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-1", 0),
    ("PUT", "/api/v1/nodes/node-1", 0),
    ("PATCH", "/api/v1/namespaces/default/pods/p/status", 0),
])
def test_exempt_heartbeats_by_target(method: str, path: str, lane: int) -> None:
    route, _, query = path.partition("?")
    params = dict(p.split("=") for p in query.split("&")) if query else {}
    assert exempt_heartbeat(request_info(method, route, params)) == lane


def test_leader_election_is_served_before_node_heartbeats() -> None:
    assert URGENT_LEVELS == {"leader-election": CRITICAL, "node-high": HEARTBEAT}
    assert CRITICAL > HEARTBEAT > 0
