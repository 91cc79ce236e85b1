"""Cluster events: what changed in the cluster, and which changes a plugin says may help a pod it
rejected.

A plugin's ``events_to_register()`` lists ``ClusterEvent``s; when an unschedulable pod was rejected by
plugins P1..Pn, only an event matching one of their registrations moves it back to the active or back-off
queue. ``event.matches(registered)``: same resource (or the registration is ``*``) and the action bits
overlap.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ActionType(enum.IntFlag):
    ADD = 1
    DELETE = 2
    UPDATE_NODE_ALLOCATABLE = 4
    UPDATE_NODE_LABEL = 8
    UPDATE_NODE_TAINT = 16
    UPDATE_NODE_CONDITION = 32
    UPDATE_NODE_ANNOTATION = 64
    UPDATE_POD_LABEL = 128
    UPDATE_POD_SCALE_DOWN = 256
    UPDATE_POD_OTHER = 512
    UPDATE = (
        UPDATE_NODE_ALLOCATABLE | UPDATE_NODE_LABEL | UPDATE_NODE_TAINT | UPDATE_NODE_CONDITION
        | UPDATE_NODE_ANNOTATION | UPDATE_POD_LABEL | UPDATE_POD_SCALE_DOWN | UPDATE_POD_OTHER
    )
    ALL = ADD | DELETE | UPDATE


POD = "Pod"
ASSIGNED_POD = "AssignedPod"
NODE = "Node"
PERSISTENT_VOLUME_CLAIM = "PersistentVolumeClaim"
PERSISTENT_VOLUME = "PersistentVolume"
STORAGE_CLASS = "StorageClass"
WILDCARD = "*"


@dataclass(frozen=True, slots=True)
class ClusterEvent:
    resource: str
    action: ActionType
    label: str = ""

    def matches(self, registered: ClusterEvent) -> bool:
        if registered.resource != WILDCARD and registered.resource != self.resource:
            return False
        return bool(self.action & registered.action)


NODE_ADD = ClusterEvent(NODE, ActionType.ADD, "NodeAdd")
ASSIGNED_POD_DELETE = ClusterEvent(ASSIGNED_POD, ActionType.DELETE, "AssignedPodDelete")
ASSIGNED_POD_ADD = ClusterEvent(ASSIGNED_POD, ActionType.ADD, "AssignedPodAdd")
UNSCHEDULABLE_TIMEOUT = ClusterEvent(WILDCARD, ActionType.ALL, "UnschedulableTimeout")
FORCE_ACTIVATE = ClusterEvent(WILDCARD, ActionType.ALL, "ForceActivate")


def _part(obj: dict[str, object], name: str) -> dict[str, object]:
    v = obj.get(name)
    return v if isinstance(v, dict) else {}


def node_update_actions(old: dict[str, object], new: dict[str, object]) -> ActionType:
    """Which kinds of node update happened between two node objects (for event filtering)."""
    action = ActionType(0)
    o_meta, n_meta = _part(old, "metadata"), _part(new, "metadata")
    o_spec, n_spec = _part(old, "spec"), _part(new, "spec")
    o_st, n_st = _part(old, "status"), _part(new, "status")
    if o_st.get("allocatable") != n_st.get("allocatable"):
        action |= ActionType.UPDATE_NODE_ALLOCATABLE
    if o_meta.get("labels") != n_meta.get("labels"):
        action |= ActionType.UPDATE_NODE_LABEL
    if o_spec.get("taints") != n_spec.get("taints") or o_spec.get("unschedulable") != n_spec.get("unschedulable"):
        action |= ActionType.UPDATE_NODE_TAINT
    if o_st.get("conditions") != n_st.get("conditions"):
        action |= ActionType.UPDATE_NODE_CONDITION
    if o_meta.get("annotations") != n_meta.get("annotations"):
        action |= ActionType.UPDATE_NODE_ANNOTATION
    return action
