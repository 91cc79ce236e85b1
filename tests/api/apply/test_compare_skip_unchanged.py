"""The comparison behind every write's managedFields skips unchanged values early (walk.SKIP_UNCHANGED,
issue 21: a Lease renewal changes one leaf of ~15). It must give exactly the comparison — and the
managedFields — of the full walk, for every kind of change: checked here against the full walk on random
mutations of a Lease and a Running pod (scalar changes, int/float/bool spellings, nulls, added and
removed keys, containers replaced by scalars, list items)."""

from __future__ import annotations

import copy
import random
from typing import Any

import orjson
import pytest

from sampan.api.apply import fieldmanager, shapes, walk
from sampan.api.schema import type_for_kind

LEASE: dict[str, Any] = {
    "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
    "metadata": {"name": "n1", "namespace": "kube-node-lease", "uid": "u-1", "resourceVersion": "7",
                 "creationTimestamp": "2026-01-01T00:00:00Z",
                 "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": "n1", "uid": "u-0"}],
                 "managedFields": [{"manager": "kubelet", "operation": "Update", "apiVersion": "coordination.k8s.io/v1",
                                    "time": "2026-01-01T00:00:00Z", "fieldsType": "FieldsV1",
                                    "fieldsV1": {"f:metadata": {"f:ownerReferences": {
                                        ".": {}, 'k:{"uid":"u-0"}': {}}},
                                        "f:spec": {"f:holderIdentity": {}, "f:leaseDurationSeconds": {},
                                                   "f:renewTime": {}}}}]},
    "spec": {"holderIdentity": "n1", "leaseDurationSeconds": 40, "renewTime": "2026-01-01T00:00:00.000000Z"},
}
POD: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "p", "namespace": "d", "uid": "u-2", "labels": {"app": "a", "tier": "web"},
                 "annotations": {"x": "1"}, "creationTimestamp": "2026-01-01T00:00:00Z"},
    "spec": {"nodeName": "n1", "priority": 0, "enableServiceLinks": True,
             "containers": [{"name": "c", "image": "pause", "ports": [{"containerPort": 80, "protocol": "TCP"}],
                             "resources": {"requests": {"cpu": "10m"}}}],
             "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]},
    "status": {"phase": "Running", "podIP": "100.64.0.2", "startTime": "2026-01-01T00:00:01Z",
               "conditions": [{"type": "Ready", "status": "True", "lastProbeTime": None,
                               "lastTransitionTime": "2026-01-01T00:00:02Z"}],
               "containerStatuses": [{"name": "c", "ready": True, "restartCount": 0,
                                      "state": {"running": {"startedAt": "2026-01-01T00:00:02Z"}}}]},
}
REPLACEMENTS: list[Any] = ["changed", 0, 1, 1.0, 40, 40.0, True, False, None, {}, [], {"k": "v"}, ["x"], ""]


def _containers(obj: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    out = [(path, obj)]
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for key, value in items:
        out.extend(_containers(value, (*path, key)))
    return out


def mutate(obj: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A copy of ``obj`` with 1-3 random changes anywhere (never to apiVersion or kind)."""
    new = copy.deepcopy(obj)
    for _ in range(rng.randint(1, 3)):
        path, _value = rng.choice([c for c in _containers(new) if c[0] and c[0][0] not in ("apiVersion", "kind")])
        parent = new
        for key in path[:-1]:
            parent = parent[key]
        last = path[-1]
        action = rng.random()
        if action < 0.6:
            parent[last] = copy.deepcopy(rng.choice(REPLACEMENTS))
        elif action < 0.8 and isinstance(parent, dict):
            del parent[last]
        elif isinstance(parent, dict):
            parent[f"added{rng.randint(0, 9)}"] = copy.deepcopy(rng.choice(REPLACEMENTS))
        else:
            parent.append(copy.deepcopy(parent[last]))
    return new


def full_and_fast(monkeypatch: pytest.MonkeyPatch, old: Any, new: Any, t: Any) -> tuple[Any, Any]:
    def run() -> Any:
        try:
            return walk.compare(old, new, t)
        except shapes.ShapeError as err:
            return ("ShapeError", str(err))

    with monkeypatch.context() as m:
        m.setattr(walk, "SKIP_UNCHANGED", False)
        full = run()
    return full, run()


@pytest.mark.parametrize(("obj", "group", "kind"), [(LEASE, "coordination.k8s.io", "Lease"), (POD, "", "Pod")])
def test_skipping_unchanged_values_gives_the_full_walks_comparison(monkeypatch: pytest.MonkeyPatch,
                                                                   obj: dict[str, Any], group: str,
                                                                   kind: str) -> None:
    rng = random.Random(21)
    t = shapes.root(type_for_kind(group, "v1", kind))
    for _ in range(400):
        new = mutate(obj, rng)
        full, fast = full_and_fast(monkeypatch, obj, new, t)
        assert fast == full, orjson.dumps(new).decode()
        full, fast = full_and_fast(monkeypatch, new, obj, t)  # and the other way round
        assert fast == full, orjson.dumps(new).decode()
    # untyped (custom resources without a schema): deduced shapes
    for _ in range(200):
        new = mutate(obj, rng)
        full, fast = full_and_fast(monkeypatch, obj, new, shapes.ROOT)
        assert fast == full


def test_a_lease_renewal_records_the_same_managed_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    node = type_for_kind("coordination.k8s.io", "v1", "Lease")
    renewed = copy.deepcopy(LEASE)
    renewed["spec"]["renewTime"] = "2026-01-01T00:00:10.000000Z"
    for manager in ("kubelet", "someone-else"):
        with monkeypatch.context() as m:
            m.setattr(walk, "SKIP_UNCHANGED", False)
            full = fieldmanager.update_managed_fields(LEASE, renewed, manager=manager, now=1767225610.0,
                                                      type_node=node)
        fast = fieldmanager.update_managed_fields(LEASE, renewed, manager=manager, now=1767225610.0, type_node=node)
        assert orjson.dumps(fast) == orjson.dumps(full)
        assert fast["metadata"]["managedFields"][-1]["manager"] == manager
