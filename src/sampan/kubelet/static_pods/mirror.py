"""Mirror pods: how a static pod shows in the API (upstream's ``pkg/kubelet/pod/mirror_client.go``).

A mirror pod is the static pod as the kubelet runs it, plus the annotation ``kubernetes.io/config.mirror``
(= the static pod's config hash) and an ownerReference to the Node (``controller: true``), so it goes away
with the Node. The API server gives it its own uid; the kubelet finds it by ``namespace/name``. A mirror pod
is *the mirror of* a static pod while its ``config.mirror`` equals the static pod's hash and it is not being
deleted; otherwise the kubelet deletes it (grace 0) and creates it again. Status flows one way: the kubelet
writes the static pod's status to its mirror pod.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from sampan.kubelet.static_pods.manifests import CONFIG_HASH, CONFIG_MIRROR


def mirror_pod(static: Mapping[str, Any], *, node_name: str, node_uid: str) -> dict[str, Any]:
    """The mirror pod to create for ``static`` on the Node ``node_name``/``node_uid``."""
    out: dict[str, Any] = copy.deepcopy(dict(static))
    md = out["metadata"]
    md.pop("uid", None)
    md.pop("resourceVersion", None)
    annotations = dict(md.get("annotations") or {})
    annotations[CONFIG_MIRROR] = annotations.get(CONFIG_HASH, "")
    md["annotations"] = annotations
    md["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": node_name, "uid": node_uid,
                              "controller": True}]
    out.pop("status", None)
    return out


def is_mirror_of(mirror: Mapping[str, Any], static: Mapping[str, Any]) -> bool:
    """Whether ``mirror`` is the current, live mirror of ``static``."""
    md = mirror.get("metadata") or {}
    if md.get("deletionTimestamp"):
        return False
    return bool((md.get("annotations") or {}).get(CONFIG_MIRROR) == (static.get("metadata") or {}).get("uid"))
