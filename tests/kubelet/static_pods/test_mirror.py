"""Mirror pods: upstream's annotation and owner, and when a mirror pod still mirrors its static pod."""

from __future__ import annotations

from sampan.kubelet.static_pods.manifests import CONFIG_MIRROR, apply_defaults, decode, is_mirror, is_static
from sampan.kubelet.static_pods.mirror import is_mirror_of, mirror_pod

POD = "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec: {containers: [{name: c, image: i}]}\n"


def static() -> dict:  # type: ignore[type-arg]
    return apply_defaults(decode(POD, source="/m/web.yaml"), node_name="n1", source="/m/web.yaml")


def test_mirror_pod_carries_the_hash_and_the_node_as_controller_owner() -> None:
    s = static()
    m = mirror_pod(s, node_name="n1", node_uid="node-uid")
    assert "uid" not in m["metadata"]
    assert m["metadata"]["annotations"][CONFIG_MIRROR] == s["metadata"]["uid"]
    assert m["metadata"]["ownerReferences"] == [{"apiVersion": "v1", "kind": "Node", "name": "n1",
                                                 "uid": "node-uid", "controller": True}]
    assert m["metadata"]["name"] == "web-n1"
    assert m["spec"] == s["spec"]
    assert is_mirror(m)
    assert not is_static(m)
    assert CONFIG_MIRROR not in s["metadata"]["annotations"]  # the static pod is not changed


def test_is_mirror_of_needs_the_same_hash_and_no_deletion() -> None:
    s = static()
    m = {**mirror_pod(s, node_name="n1", node_uid="u"), "status": {}}
    m["metadata"]["uid"] = "api-uid"
    assert is_mirror_of(m, s)
    other = static()
    other["metadata"]["uid"] = "changed"
    assert not is_mirror_of(m, other)
    m["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert not is_mirror_of(m, s)
