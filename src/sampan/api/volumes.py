"""What the PV binder (controller-manager) and the scheduler's VolumeBinding plugin must agree on: the
annotations of the binding protocol and whether a PersistentVolume can satisfy a claim."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sampan.api.nodeselectors import compile_node_selector
from sampan.api.quantity import Quantity, parse_or_none
from sampan.api.selectors import LabelSelector

SELECTED_NODE = "volume.kubernetes.io/selected-node"
BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
#: The finalizers that keep a claim in use by a pod, and a volume bound to a claim, from going away.
PVC_PROTECTION = "kubernetes.io/pvc-protection"
PV_PROTECTION = "kubernetes.io/pv-protection"


def storage(resources: Mapping[str, Any] | None) -> Quantity:
    """The ``storage`` quantity of a capacity or requests map (0 when absent or malformed)."""
    return parse_or_none((resources or {}).get("storage")) or Quantity(0)


def class_of(obj: Mapping[str, Any]) -> str:
    """A PV's or PVC's ``spec.storageClassName`` ("" for none)."""
    return str((obj.get("spec") or {}).get("storageClassName") or "")


def volume_fits_claim(pv: Mapping[str, Any], claim: Mapping[str, Any]) -> bool:
    """Upstream's claim-to-volume match, node aside: same class and volume mode, the volume's access modes a
    superset of the claim's, enough capacity, and the claim's selector matching the volume's labels."""
    pspec, cspec = pv.get("spec") or {}, claim.get("spec") or {}
    if class_of(pv) != class_of(claim):
        return False
    if (pspec.get("volumeMode") or "Filesystem") != (cspec.get("volumeMode") or "Filesystem"):
        return False
    if not set(cspec.get("accessModes") or []) <= set(pspec.get("accessModes") or []):
        return False
    if storage(pspec.get("capacity")) < storage((cspec.get("resources") or {}).get("requests")):
        return False
    if cspec.get("selector") is not None:
        try:
            selector = LabelSelector.from_dict(cspec["selector"])
        except ValueError:
            return False
        if not selector.matches((pv.get("metadata") or {}).get("labels") or {}):
            return False
    return True


def volume_node_affinity_matches(pv: Mapping[str, Any], labels: Mapping[str, str], node_name: str) -> bool:
    """Whether the volume's required node affinity admits the node (True without affinity; False when the
    affinity cannot be parsed)."""
    required = ((pv.get("spec") or {}).get("nodeAffinity") or {}).get("required")
    if required is None:
        return True
    try:
        return compile_node_selector(required, where="spec.nodeAffinity.required").matches(labels, node_name)
    except ValueError:
        return False
