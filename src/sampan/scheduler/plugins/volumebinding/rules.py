"""VolumeBinding's rules as pure functions over wire dicts: which claims a pod uses, which volume a claim
may take on a node, whether a class can provision on a node."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sampan.api.volumes import BIND_COMPLETED
from sampan.api.volumes import BOUND_BY_CONTROLLER as BOUND_BY_CONTROLLER
from sampan.api.volumes import SELECTED_NODE as SELECTED_NODE
from sampan.api.volumes import class_of as class_of
from sampan.api.volumes import storage as _storage
from sampan.api.volumes import volume_fits_claim as volume_fits_claim
from sampan.api.volumes import volume_node_affinity_matches as volume_node_affinity_matches

WAIT_FOR_FIRST_CONSUMER = "WaitForFirstConsumer"
NO_PROVISIONER = "kubernetes.io/no-provisioner"
LOCAL_PATH_PROVISIONER = "sampan.io/local-path"
LOCAL_PATH_DIR_ANNOTATION = "sampan.io/local-path-dir"


def pod_claim_names(pod: Mapping[str, Any]) -> list[str]:
    """The claims a pod's volumes name: ``persistentVolumeClaim.claimName``, and ``<pod>-<volume>`` for a
    generic ephemeral volume (the claim the ephemeral-volume controller creates)."""
    out: list[str] = []
    pod_name = str((pod.get("metadata") or {}).get("name") or "")
    for vol in (pod.get("spec") or {}).get("volumes") or []:
        if not isinstance(vol, dict):
            continue
        name = (vol.get("persistentVolumeClaim") or {}).get("claimName")
        if name:
            out.append(str(name))
        elif vol.get("ephemeral") is not None:
            out.append(f"{pod_name}-{vol.get('name', '')}")
    return out


def find_volume_for_claim(claim: Mapping[str, Any], volumes: Iterable[Mapping[str, Any]], *,
                          labels: Mapping[str, str], node_name: str, taken: set[str]) -> Mapping[str, Any] | None:
    """A volume pre-bound to the claim, else the smallest available one that fits it and admits the node;
    volumes in ``taken`` (chosen for another claim of the same pod) are skipped."""
    md = claim.get("metadata") or {}
    best: Mapping[str, Any] | None = None
    for pv in volumes:
        pmd = pv.get("metadata") or {}
        if pmd.get("deletionTimestamp") or pmd.get("name") in taken:
            continue
        ref = (pv.get("spec") or {}).get("claimRef")
        if ref:
            if (ref.get("name") == md.get("name") and ref.get("namespace") == md.get("namespace")
                    and ref.get("uid") in (None, "", md.get("uid")) and volume_fits_claim(pv, claim)
                    and volume_node_affinity_matches(pv, labels, node_name)):
                return pv
            continue
        if (pv.get("status") or {}).get("phase") not in (None, "", "Available"):
            continue
        if volume_fits_claim(pv, claim) and volume_node_affinity_matches(pv, labels, node_name) and (
                best is None or _storage(pv["spec"].get("capacity")) < _storage(best["spec"].get("capacity"))):
            best = pv
    return best


def can_provision_on(sc: Mapping[str, Any], node: Mapping[str, Any] | None, *, labels: Mapping[str, str]) -> bool:
    """Whether the class's provisioner can make a volume the node can use: not ``no-provisioner``, the
    node's labels in the class's ``allowedTopologies``, and, for the built-in local-path provisioner, a node
    that publishes its local-path directory."""
    provisioner = sc.get("provisioner")
    if not provisioner or provisioner == NO_PROVISIONER:
        return False
    topologies = sc.get("allowedTopologies") or []
    if topologies and not any(
            all(labels.get(req.get("key", "")) in (req.get("values") or [])
                for req in term.get("matchLabelExpressions") or [])
            for term in topologies):
        return False
    if provisioner == LOCAL_PATH_PROVISIONER:
        annotations = ((node or {}).get("metadata") or {}).get("annotations") or {}
        return bool(annotations.get(LOCAL_PATH_DIR_ANNOTATION))
    return True


def claim_fully_bound(claim: Mapping[str, Any] | None) -> bool:
    """The PV controller finished binding the claim (``volumeName`` and the bind-completed annotation)."""
    if claim is None:
        return False
    annotations = (claim.get("metadata") or {}).get("annotations") or {}
    return bool((claim.get("spec") or {}).get("volumeName")) and annotations.get(BIND_COMPLETED) == "yes"
