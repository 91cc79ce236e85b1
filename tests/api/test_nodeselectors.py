"""The one node-selector matcher (sampan.api.nodeselectors) and the users that share it: the PV binder's
``node_affinity_allows``, the scheduler's volume rule and the DaemonSet controller's ``should_run``."""

from __future__ import annotations

from typing import Any

import pytest

from sampan.api.nodeselectors import compile_node_selector
from sampan.api.volumes import volume_node_affinity_matches
from sampan.controllers.daemonset.placement import should_run
from sampan.controllers.volume.matching import node_affinity_allows

NODE = {"metadata": {"name": "n1", "labels": {"zone": "a", "cpus": "8"}}}


def _pv(*terms: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"nodeAffinity": {"required": {"nodeSelectorTerms": list(terms)}}}}


@pytest.mark.parametrize(("term", "admits"), [
    ({"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}, True),
    ({"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]}, False),
    ({"matchExpressions": [{"key": "cpus", "operator": "Gt", "values": ["4"]}]}, True),
    ({"matchExpressions": [{"key": "cpus", "operator": "Lt", "values": ["4"]}]}, False),
    ({"matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"}]}, True),
    ({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}, True),
    ({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]}, False),
    ({}, False),  # a term without requirements matches nothing (upstream)
    ({"matchExpressions": [{"key": "zone", "operator": "In", "values": []}]}, False),  # invalid: admits none
])
def test_every_user_agrees(term: dict[str, Any], admits: bool) -> None:
    labels, name = NODE["metadata"]["labels"], NODE["metadata"]["name"]
    assert volume_node_affinity_matches(_pv(term), labels, name) is admits
    assert node_affinity_allows(_pv(term), NODE) is admits
    spec = {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [term]}}}}
    assert should_run(spec, NODE)[0] is admits


def test_terms_are_ored_and_absent_affinity_admits() -> None:
    miss = {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]}
    hit = {"matchExpressions": [{"key": "zone", "operator": "Exists"}]}
    assert node_affinity_allows(_pv(miss, hit), NODE)
    assert not node_affinity_allows(_pv(miss), NODE)
    assert node_affinity_allows({"spec": {}}, NODE)
    assert node_affinity_allows(_pv(miss), None)  # no node yet: nothing to check


def test_invalid_selector_names_the_field() -> None:
    with pytest.raises(ValueError, match=r"nodeSelectorTerms\[0\]\.matchExpressions\[0\]\.operator"):
        compile_node_selector({"nodeSelectorTerms": [{"matchExpressions": [{"key": "k", "operator": "Is"}]}]},
                              where="x")
