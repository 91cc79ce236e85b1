"""InterPodAffinity: required affinity/anti-affinity both ways, the first-pod exception, namespaces,
and preferred scoring."""

from __future__ import annotations

from typing import Any

import pytest

from tests.scheduler.builders import World, node, pi, pod

ZONE = "topology.kubernetes.io/zone"
HOST = "kubernetes.io/hostname"
NODES = [node("a", labels={ZONE: "z1"}), node("b", labels={ZONE: "z1"}), node("c", labels={ZONE: "z2"}),
         node("nolabel")]
AFF = "node(s) didn't match pod affinity rules"
ANTI = "node(s) didn't match pod anti-affinity rules"
EXISTING = "node(s) didn't satisfy existing pods anti-affinity rules"


def term(key: str, match: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {"topologyKey": key, "labelSelector": {"matchLabels": match}, **extra}


def affinity(kind: str, *terms: dict[str, Any]) -> dict[str, Any]:
    return {kind: {"requiredDuringSchedulingIgnoredDuringExecution": list(terms)}}


def preferred(kind: str, weight: int, t: dict[str, Any]) -> dict[str, Any]:
    return {kind: {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": weight, "podAffinityTerm": t}]}}


DB_ON_A = pod("db", node_name="a", labels={"app": "db"})


@pytest.mark.parametrize(("existing", "incoming", "expected"), [
    # affinity to db in the same zone: a and b share z1 with it
    ([DB_ON_A], pi("p", affinity=affinity("podAffinity", term(ZONE, {"app": "db"}))),
     {"a": None, "b": None, "c": AFF, "nolabel": AFF}),
    # same on hostname: only a
    ([DB_ON_A], pi("p", affinity=affinity("podAffinity", term(HOST, {"app": "db"}))),
     {"a": None, "b": AFF, "c": AFF, "nolabel": AFF}),
    # no matching pod anywhere, pod does not match its own term: nowhere
    ([], pi("p", affinity=affinity("podAffinity", term(ZONE, {"app": "db"}))),
     {"a": AFF, "b": AFF, "c": AFF, "nolabel": AFF}),
    # first pod of a self-affine group: any node with the topology label
    ([], pi("p", labels={"app": "db"}, affinity=affinity("podAffinity", term(ZONE, {"app": "db"}))),
     {"a": None, "b": None, "c": None, "nolabel": AFF}),
    # anti-affinity to db per zone: z1 is out
    ([DB_ON_A], pi("p", affinity=affinity("podAntiAffinity", term(ZONE, {"app": "db"}))),
     {"a": ANTI, "b": ANTI, "c": None, "nolabel": None}),
    # another namespace does not count unless named
    ([pod("db", ns="other", node_name="a", labels={"app": "db"})],
     pi("p", affinity=affinity("podAntiAffinity", term(ZONE, {"app": "db"}))),
     {"a": None, "b": None, "c": None, "nolabel": None}),
    ([pod("db", ns="other", node_name="a", labels={"app": "db"})],
     pi("p", affinity=affinity("podAntiAffinity", term(ZONE, {"app": "db"}, namespaces=["other"]))),
     {"a": ANTI, "b": ANTI, "c": None, "nolabel": None}),
    # an empty namespaceSelector means all namespaces
    ([pod("db", ns="other", node_name="a", labels={"app": "db"})],
     pi("p", affinity=affinity("podAntiAffinity", term(ZONE, {"app": "db"}, namespaceSelector={}))),
     {"a": ANTI, "b": ANTI, "c": None, "nolabel": None}),
    # an existing pod's anti-affinity keeps matching pods out of its zone (symmetry)
    ([pod("lonely", node_name="c", labels={"app": "x"},
          affinity=affinity("podAntiAffinity", term(ZONE, {"app": "web"})))],
     pi("p", labels={"app": "web"}),
     {"a": None, "b": None, "c": EXISTING, "nolabel": None}),
])
def test_filter(existing: list[dict[str, Any]], incoming: Any, expected: dict[str, str | None]) -> None:
    w = World(NODES, existing)
    assert w.run_filter("InterPodAffinity", incoming) == expected


def test_skips_when_no_required_terms_anywhere() -> None:
    w = World(NODES, [DB_ON_A])
    assert w.run_filter("InterPodAffinity", pi("p"))["a"] == "SKIP"


def test_preferred_scores() -> None:
    w = World(NODES, [DB_ON_A])
    near = pi("p", affinity=preferred("podAffinity", 10, term(ZONE, {"app": "db"})))
    assert w.run_score("InterPodAffinity", near) == {"a": 100, "b": 100, "c": 0, "nolabel": 0}
    far = pi("p", affinity=preferred("podAntiAffinity", 10, term(ZONE, {"app": "db"})))
    assert w.run_score("InterPodAffinity", far) == {"a": 0, "b": 0, "c": 100, "nolabel": 100}
    assert w.run_score("InterPodAffinity", pi("plain")) is None


def test_existing_pods_preferred_terms_attract_incoming() -> None:
    cache_lover = pod("c1", node_name="c", labels={"app": "cache"},
                      affinity=preferred("podAffinity", 5, term(HOST, {"app": "web"})))
    w = World(NODES, [cache_lover])
    assert w.run_score("InterPodAffinity", pi("p", labels={"app": "web"})) == {"a": 0, "b": 0, "c": 100, "nolabel": 0}
