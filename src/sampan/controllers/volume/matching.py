"""Which PersistentVolume a claim may bind to (upstream ``FindMatchingVolume``), and the objects'
small predicates. Pure functions over wire dicts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sampan.api.volumes import BIND_COMPLETED as BIND_COMPLETED
from sampan.api.volumes import BOUND_BY_CONTROLLER as BOUND_BY_CONTROLLER
from sampan.api.volumes import SELECTED_NODE as SELECTED_NODE
from sampan.api.volumes import class_of as class_of
from sampan.api.volumes import storage as storage
from sampan.api.volumes import volume_fits_claim, volume_node_affinity_matches

DEFAULT_CLASS_ANNOTATIONS = ("storageclass.kubernetes.io/is-default-class",
                             "storageclass.beta.kubernetes.io/is-default-class")
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
STORAGE_PROVISIONER = "volume.kubernetes.io/storage-provisioner"
HOSTNAME_LABEL = "kubernetes.io/hostname"


def is_default_class(sc: Mapping[str, Any]) -> bool:
    annotations = (sc.get("metadata") or {}).get("annotations") or {}
    return any(annotations.get(a) == "true" for a in DEFAULT_CLASS_ANNOTATIONS)


def default_class(classes: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The newest default class (upstream picks the most recently created one when several are)."""
    defaults = sorted((c for c in classes if is_default_class(c)),
                      key=lambda c: (str(c["metadata"].get("creationTimestamp", "")), c["metadata"]["name"]))
    return defaults[-1] if defaults else None


def node_affinity_allows(pv: Mapping[str, Any], node: Mapping[str, Any] | None) -> bool:
    """Whether a PV's required node affinity admits ``node`` (True without affinity or without a node)."""
    if node is None:
        return True
    md = node.get("metadata") or {}
    return volume_node_affinity_matches(pv, md.get("labels") or {}, str(md.get("name") or ""))


def volume_fits(pv: Mapping[str, Any], claim: Mapping[str, Any], *, node: Mapping[str, Any] | None = None) -> bool:
    """Class, volume mode, access modes (a superset), size, selector and (with a node) node affinity."""
    return volume_fits_claim(pv, claim) and node_affinity_allows(pv, node)


def find_matching_volume(claim: Mapping[str, Any], volumes: Iterable[Mapping[str, Any]], *,
                         node: Mapping[str, Any] | None = None) -> Mapping[str, Any] | None:
    """A volume pre-bound to the claim if one fits, else the smallest available volume that fits."""
    uid = (claim.get("metadata") or {}).get("uid")
    name, ns = claim["metadata"]["name"], claim["metadata"].get("namespace")
    best: Mapping[str, Any] | None = None
    for pv in volumes:
        if (pv.get("metadata") or {}).get("deletionTimestamp"):
            continue
        ref = (pv.get("spec") or {}).get("claimRef")
        if ref:
            if (ref.get("name") == name and ref.get("namespace") == ns and ref.get("uid") in (None, "", uid)
                    and volume_fits(pv, claim, node=node)):
                return pv
            continue
        if (pv.get("status") or {}).get("phase") not in (None, "Available", "Pending"):
            continue
        if volume_fits(pv, claim, node=node) and (
                best is None or storage(pv["spec"].get("capacity")) < storage(best["spec"].get("capacity"))):
            best = pv
    return best
