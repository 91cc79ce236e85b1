"""PodTopologySpread's system default constraints, end to end through the scheduler (in-process fakes).

The case from ``sampan up --nodes 2``: node ``vm`` runs the control plane as static pods, ``vm-2`` is an
empty worker; a Deployment's ReplicaSet asks for 3 replicas without requests. Upstream's default profile
(weights TaintToleration 3, NodeAffinity 2, PodTopologySpread 2, InterPodAffinity 2, NodeResourcesFit 1
LeastAllocated, BalancedAllocation 1, ImageLocality 1) places them vm-2, vm, vm-2:

- replica 1: spreading ties (no replica anywhere); LeastAllocated prefers the idle vm-2.
- replica 2: hostname constraint (maxSkew 3, weight log(2+2)): raw scores vm 2, vm-2 round(1.386+2)=3,
  normalized vm 100, vm-2 66 -> 2 * 34 = 68 for vm, more than vm-2's resource lead (~20 + ~5).
- replica 3: one replica on each node, spreading ties again; vm-2 wins on resources.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from sampan.scheduler.cache import WorkloadCache
from sampan.scheduler.framework.config import Profile
from sampan.scheduler.framework.pod_info import PodInfo
from sampan.scheduler.plugins import podtopologyspread
from tests.scheduler.builders import World, node, pi, pod
from tests.scheduler.test_scheduler import running, settle

HASH = {"app": "web", "pod-template-hash": "5d8f"}


def control_plane(on: str) -> list[dict[str, Any]]:
    """kubeadm's static pods' requests (no owner a default selector could come from)."""
    return [
        pod("etcd-" + on, ns="kube-system", node_name=on, cpu="100m", memory="100Mi", labels={"component": "etcd"}),
        pod("kube-apiserver-" + on, ns="kube-system", node_name=on, cpu="250m", labels={"component": "kube-apiserver"}),
        pod("kube-controller-manager-" + on, ns="kube-system", node_name=on, cpu="200m",
            labels={"component": "kube-controller-manager"}),
        pod("kube-scheduler-" + on, ns="kube-system", node_name=on, cpu="100m", labels={"component": "kube-scheduler"}),
    ]


def replicaset(name: str = "web-5d8f", selector: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name, "namespace": "default"},
            "spec": {"selector": selector if selector is not None else {"matchLabels": HASH}}}


def replica(i: int, rs: str = "web-5d8f", **kw: Any) -> dict[str, Any]:
    p = pod(f"web-{i}", labels=dict(HASH), **kw)
    p["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs,
                                         "uid": "rs-uid", "controller": True}]
    return p


@pytest.mark.parametrize(("known_rs", "expected"), [
    (True, {"vm-2": 2, "vm": 1}),   # upstream's placement (see the module docstring)
    (False, {"vm-2": 3}),           # no default selector (owner unknown): resources alone decide
])
async def test_replicas_spread_off_the_busy_node(known_rs: bool, expected: dict[str, int]) -> None:
    async with running() as (sched, api, clock):
        for name in ("vm", "vm-2"):
            sched.handlers.add_node(node(name, cpu="2", memory="4Gi"))
        for p in control_plane("vm"):
            sched.handlers.add_pod(p)
        if known_rs:
            sched.handlers.set_workload("ReplicaSet", replicaset())
        for i in range(3):
            sched.handlers.add_pod(replica(i))
        await settle(clock)
        assert Counter(api.bound.values()) == expected
        assert api.bound["web-0"] == "vm-2"


def test_default_selector_from_services_and_controllers() -> None:
    w = WorkloadCache()
    meta = replica(0)["metadata"]
    assert w.default_selector(namespace="default", labels=HASH, metadata=meta).empty
    w.set("Service", {"metadata": {"name": "web", "namespace": "default"}, "spec": {"selector": {"app": "web"}}})
    w.set("Service", {"metadata": {"name": "kubernetes", "namespace": "default"}, "spec": {}})  # nil: nothing
    w.set("Service", {"metadata": {"name": "db", "namespace": "default"}, "spec": {"selector": {"app": "db"}}})
    w.set("Service", {"metadata": {"name": "web", "namespace": "other"}, "spec": {"selector": {"tier": "x"}}})
    assert str(w.default_selector(namespace="default", labels=HASH, metadata=meta)) == "app=web"
    w.set("ReplicaSet", replicaset())
    sel = w.default_selector(namespace="default", labels=HASH, metadata=meta)
    assert sel.matches(HASH)
    assert not sel.matches({"app": "web"})
    w.delete("Service", {"metadata": {"name": "web", "namespace": "default"}})
    w.delete("ReplicaSet", replicaset())
    assert w.default_selector(namespace="default", labels=HASH, metadata=meta).empty
    # a StatefulSet owner counts; an owner that is not a controller reference does not
    w.set("StatefulSet", {"metadata": {"name": "db", "namespace": "default"},
                          "spec": {"selector": {"matchExpressions": [{"key": "app", "operator": "Exists"}]}}})
    owned = {"ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db", "controller": True}]}
    assert str(w.default_selector(namespace="default", labels=HASH, metadata=owned)) == "app"
    owned["ownerReferences"][0]["controller"] = False
    assert w.default_selector(namespace="default", labels=HASH, metadata=owned).empty


def test_system_defaults_score_nodes_without_a_zone_and_own_constraints_win() -> None:
    nodes = [node("a"), node("b")]
    w = World(nodes, [replica(1, node_name="a"), replica(2, node_name="a")])
    w.fwk.workloads.set("ReplicaSet", replicaset())
    # hostname constraint: a has 2 replicas -> raw 2*log(4)+2 = 5, b 2 -> normalized a 40, b 100 (no zone:
    # nodes are scored, not ignored)
    assert w.run_score("PodTopologySpread", PodInfo.parse(replica(3))) == {"a": 40, "b": 100}
    # a pod with its own (DoNotSchedule-only) constraints gets no defaults at all
    own = replica(4, topologySpreadConstraints=[{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                                 "whenUnsatisfiable": "DoNotSchedule",
                                                 "labelSelector": {"matchLabels": {"app": "web"}}}])
    assert w.run_score("PodTopologySpread", PodInfo.parse(own)) is None
    assert w.run_filter("PodTopologySpread", PodInfo.parse(own)) == {"a": podtopologyspread.ERR_CONSTRAINTS, "b": None}
    # a pod nothing selects: SKIP
    assert w.run_score("PodTopologySpread", pi("lonely", labels={"app": "web"})) is None


@pytest.mark.parametrize(("args", "message"), [
    ({"defaultingType": "Other"}, 'defaultingType: Unsupported value: "Other"'),
    ({"defaultConstraints": [{"maxSkew": 1, "topologyKey": "k", "whenUnsatisfiable": "DoNotSchedule"}]},
     'when .defaultingType is "System"'),
    ({"defaultingType": "List", "defaultConstraints": [{"maxSkew": 0, "topologyKey": "k",
                                                        "whenUnsatisfiable": "DoNotSchedule"}]},
     "defaultConstraints[0].maxSkew: must be greater than zero"),
    ({"defaultingType": "List", "defaultConstraints": [{"maxSkew": 1, "topologyKey": "k", "whenUnsatisfiable":
                                                        "DoNotSchedule", "labelSelector": {}}]},
     "defaultConstraints[0].labelSelector: Forbidden"),
])
def test_bad_args(args: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as exc:
        podtopologyspread.new(args, World([node("a")]).fwk)
    assert message in str(exc.value)


def test_list_defaults_filter() -> None:
    """defaultingType List with a DoNotSchedule default: PreFilter applies it to pods of known owners."""
    profile = Profile(plugin_args={"PodTopologySpread": {"defaultingType": "List", "defaultConstraints": [
        {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule"}]}})
    w = World([node("a"), node("b")], [replica(1, node_name="a")], profile=profile)
    w.fwk.workloads.set("ReplicaSet", replicaset())
    assert w.run_filter("PodTopologySpread", PodInfo.parse(replica(2))) == {
        "a": podtopologyspread.ERR_CONSTRAINTS, "b": None}
