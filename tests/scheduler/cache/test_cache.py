"""Cache: the assumed-pod state machine and the snapshot it feeds."""

from __future__ import annotations

import pytest

from sampan._lib.clock import FakeClock
from sampan.scheduler.cache import Cache, CacheError
from sampan.scheduler.framework.snapshot import Snapshot
from tests.scheduler.builders import node, pi


def setup() -> tuple[FakeClock, Cache]:
    clock = FakeClock()
    cache = Cache(clock=clock, ttl=30)
    cache.add_node(node("a", cpu="4"))
    cache.add_node(node("b", cpu="4"))
    return clock, cache


def cpu(cache: Cache, name: str) -> int:
    n = cache.node(name)
    assert n is not None
    return n.requested.milli_cpu


def test_assume_then_confirm() -> None:
    _, cache = setup()
    p = pi("p", cpu="1")
    cache.assume_pod(p.with_node("a"), "a")
    assert cache.is_assumed(p.uid)
    assert cpu(cache, "a") == 1000
    cache.finish_binding(p.uid)
    cache.add_pod(pi("p", cpu="1", node_name="a"))  # the informer confirms
    assert not cache.is_assumed(p.uid)
    assert cpu(cache, "a") == 1000


def test_confirmation_on_another_node_moves_the_pod() -> None:
    _, cache = setup()
    cache.assume_pod(pi("p", cpu="1").with_node("a"), "a")
    cache.add_pod(pi("p", cpu="1", node_name="b"))
    assert (cpu(cache, "a"), cpu(cache, "b")) == (0, 1000)


def test_forget_after_failed_binding() -> None:
    _, cache = setup()
    p = pi("p", cpu="1")
    cache.assume_pod(p.with_node("a"), "a")
    cache.forget_pod(p.uid)
    assert cpu(cache, "a") == 0
    assert cache.get_pod(p.uid) is None


def test_expiry_only_after_binding_finished_and_ttl() -> None:
    clock, cache = setup()
    p = pi("p", cpu="1")
    cache.assume_pod(p.with_node("a"), "a")
    clock._now += 100
    assert cache.cleanup_expired() == []  # binding still in flight: never expires
    cache.finish_binding(p.uid)
    clock._now += 29
    assert cache.cleanup_expired() == []
    clock._now += 2
    assert [x.uid for x in cache.cleanup_expired()] == [p.uid]
    assert cpu(cache, "a") == 0


def test_forbidden_transitions() -> None:
    _, cache = setup()
    p = pi("p", cpu="1")
    cache.assume_pod(p.with_node("a"), "a")
    with pytest.raises(CacheError, match="can't be assumed"):
        cache.assume_pod(p.with_node("a"), "a")
    cache.add_pod(pi("p", cpu="1", node_name="a"))
    with pytest.raises(CacheError, match="only assumed pods can be forgotten"):
        cache.forget_pod(p.uid)


def test_update_and_remove_bound_pod() -> None:
    _, cache = setup()
    cache.add_pod(pi("p", cpu="1", node_name="a"))
    cache.update_pod(pi("p", cpu="2", node_name="a"))
    assert cpu(cache, "a") == 2000
    cache.remove_pod("uid-default-p")
    assert cpu(cache, "a") == 0


def test_pods_before_their_node_and_node_removal() -> None:
    clock = FakeClock()
    cache = Cache(clock=clock)
    cache.add_pod(pi("p", cpu="1", node_name="late"))
    snap = Snapshot()
    cache.update_snapshot(snap)
    assert len(snap) == 0  # a node without its object is not offered
    cache.add_node(node("late"))
    cache.update_snapshot(snap)
    assert [n.name for n in snap.node_infos] == ["late"]
    assert snap.node_infos[0].requested.milli_cpu == 1000
    cache.remove_node("late")
    cache.update_snapshot(snap)
    assert len(snap) == 0
    assert cache.node_count == 0


def test_snapshot_interleaves_zones_and_tracks_affinity_and_images() -> None:
    cache = Cache(clock=FakeClock())
    for i in range(3):
        cache.add_node(node(f"a{i}", labels={"topology.kubernetes.io/zone": "za"}, images=[("img:1", 10)]))
    cache.add_node(node("b0", labels={"topology.kubernetes.io/zone": "zb"}))
    snap = Snapshot()
    cache.update_snapshot(snap)
    assert [n.name for n in snap.node_infos] == ["a0", "b0", "a1", "a2"]
    assert snap.image_num_nodes["img:1"] == 3
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": "kubernetes.io/hostname", "labelSelector": {}}]}}
    cache.add_pod(pi("p", node_name="a1", affinity=anti))
    cache.update_snapshot(snap)
    assert [n.name for n in snap.have_pods_with_required_anti_affinity] == ["a1"]
    cache.remove_pod("uid-default-p")
    cache.update_snapshot(snap)
    assert snap.have_pods_with_required_anti_affinity == []
