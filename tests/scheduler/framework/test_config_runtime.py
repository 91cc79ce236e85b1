"""Profiles from YAML, the framework's per-point plugin lists and weights, and Status basics."""

from __future__ import annotations

import pytest

from sampan.scheduler.framework.config import ConfigError, load_config
from sampan.scheduler.framework.runtime import Framework
from sampan.scheduler.framework.status import Code, Status, is_success
from sampan.scheduler.plugins import in_tree_registry


def names(fwk: Framework, point: str) -> list[str]:
    return [p.name for p in fwk.points[point]]


def test_default_profile_matches_upstream_order_and_weights() -> None:
    cfg = load_config("")
    fwk = Framework(cfg.profiles[0], in_tree_registry())
    assert names(fwk, "filter") == [
        "NodeUnschedulable", "NodeName", "TaintToleration", "NodeAffinity", "NodePorts", "NodeResourcesFit",
        "VolumeBinding", "PodTopologySpread", "InterPodAffinity"]
    assert names(fwk, "reserve") == ["VolumeBinding"]
    assert names(fwk, "preBind") == ["VolumeBinding"]
    assert names(fwk, "postFilter") == ["DefaultPreemption"]
    assert names(fwk, "bind") == ["DefaultBinder"]
    assert fwk.score_weights == {
        "TaintToleration": 3, "NodeAffinity": 2, "NodeResourcesFit": 1, "PodTopologySpread": 2,
        "InterPodAffinity": 2, "NodeResourcesBalancedAllocation": 1, "ImageLocality": 1}
    assert cfg.pod_initial_backoff_seconds == 1
    assert cfg.pod_max_backoff_seconds == 10


YAML = """
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
percentageOfNodesToScore: 40
podMaxBackoffSeconds: 20
profiles:
- schedulerName: default-scheduler
- schedulerName: packer
  percentageOfNodesToScore: 100
  plugins:
    score:
      disabled: [{name: NodeResourcesBalancedAllocation}, {name: ImageLocality}]
      enabled: [{name: NodeResourcesFit, weight: 5}]
    filter:
      disabled: [{name: NodePorts}]
  pluginConfig:
  - name: NodeResourcesFit
    args: {scoringStrategy: {type: MostAllocated}}
"""


def test_profiles_enable_disable_weights_args() -> None:
    cfg = load_config(YAML)
    assert cfg.percentage_of_nodes_to_score == 40
    assert cfg.pod_max_backoff_seconds == 20
    assert [p.scheduler_name for p in cfg.profiles] == ["default-scheduler", "packer"]
    packer = Framework(cfg.profiles[1], in_tree_registry())
    assert packer.profile.percentage_of_nodes_to_score == 100
    assert "NodePorts" not in names(packer, "filter")
    assert "NodePorts" in names(packer, "preFilter")  # disabled only at filter
    assert "ImageLocality" not in names(packer, "score")
    assert packer.score_weights["NodeResourcesFit"] == 5
    assert packer.plugin("NodeResourcesFit").strategy == "MostAllocated"  # type: ignore[union-attr]


def test_multipoint_star_disables_defaults() -> None:
    cfg = load_config("""
profiles:
- plugins:
    multiPoint:
      disabled: [{name: "*"}]
      enabled: [{name: PrioritySort}, {name: NodeResourcesFit, weight: 3}, {name: DefaultBinder}]
""")
    fwk = Framework(cfg.profiles[0], in_tree_registry())
    assert names(fwk, "filter") == ["NodeResourcesFit"]
    assert fwk.score_weights == {"NodeResourcesFit": 3}


@pytest.mark.parametrize(("text", "message"), [
    ("kind: Pod", "kind: Unsupported value"),
    ("bogus: 1", "unknown field 'bogus'"),
    ("profiles: [{schedulerName: a}, {schedulerName: a}]", "profiles[1].schedulerName: Duplicate value"),
    ("percentageOfNodesToScore: 101", "percentageOfNodesToScore: must be an integer in [0, 100]"),
    ("profiles: [{plugins: {filtr: {}}}]", "unknown extension point 'filtr'"),
    ("profiles: [{plugins: {score: {enabled: [{name: X, weight: 500}]}}}]", "weight: must be an integer in [0, 100]"),
    ("podInitialBackoffSeconds: 5\npodMaxBackoffSeconds: 1", "podMaxBackoffSeconds"),
    ("a: [", "invalid YAML"),
])
def test_bad_config_gives_clear_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(text)
    assert message in str(info.value)


def test_unknown_plugin_is_named() -> None:
    cfg = load_config("profiles: [{plugins: {filter: {enabled: [{name: Nope}]}}}]")
    with pytest.raises(ValueError, match="plugin 'Nope' does not exist"):
        Framework(cfg.profiles[0], in_tree_registry())


def test_plugin_enabled_at_a_point_it_does_not_implement() -> None:
    cfg = load_config("profiles: [{plugins: {bind: {enabled: [{name: NodeName}]}}}]")
    with pytest.raises(ValueError, match="does not extend bind"):
        Framework(cfg.profiles[0], in_tree_registry())


def test_status() -> None:
    st = Status(Code.UNSCHEDULABLE, "a", "b")
    assert st.message == "a, b"
    assert st.is_rejected()
    assert not st.is_success()
    assert st.with_plugin("P").plugin == "P"
    assert st.plugin == ""
    assert is_success(None)
    assert is_success(Status(Code.SUCCESS))
    assert not is_success(st)
