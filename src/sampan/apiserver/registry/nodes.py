"""core/v1 nodes: cluster-scoped; unlike most kinds a node may carry its status on create (the
kubelet registers with it); afterwards status changes only through the status subresource.
``spec.podCIDR(s)`` and ``spec.providerID`` are immutable once set; taints are validated;
``spec.unschedulable`` is a field selector; the table shows the Ready condition and roles."""

from __future__ import annotations

import copy
from typing import Any, ClassVar

from sampan.api import meta, validation
from sampan.api.errors import Cause, duplicate, forbidden, invalid, not_supported, required
from sampan.api.resources import ResourceInfo
from sampan.apiserver.registry.base import AGE_COLUMN, NAME_COLUMN, BaseStrategy, age_cell, as_dict, as_list
from sampan.apiserver.registry.pod_validation import TAINT_EFFECTS
from sampan.apiserver.registry.strategy import Object, TableColumn

ROLE_LABEL_PREFIX = "node-role.kubernetes.io/"
LEGACY_ROLE_LABEL = "kubernetes.io/role"


class NodeStrategy(BaseStrategy):
    info = ResourceInfo(
        group="", version="v1", resource="nodes", kind="Node", singular="node", namespaced=False,
        short_names=("no",), subresources=("proxy", "status"),
    )
    has_status = True
    selectable_fields = (("spec.unschedulable", "spec.unschedulable"),)
    columns: ClassVar[tuple[TableColumn, ...]] = (
        NAME_COLUMN,
        TableColumn("Status", description="The status of the node"),
        TableColumn("Roles", description="The roles of the node"),
        AGE_COLUMN,
        TableColumn("Version", description="Kubelet Version reported by the node."),
        TableColumn("Internal-IP", priority=1, description="List of addresses reachable to the node."),
        TableColumn("External-IP", priority=1, description="List of addresses reachable to the node."),
        TableColumn("OS-Image", priority=1, description="OS Image reported by the node from /etc/os-release "
                    "(e.g. Debian GNU/Linux 7 (wheezy))."),
        TableColumn("Kernel-Version", priority=1, description="Kernel Version reported by the node from "
                    "'uname -r' (e.g. 3.16.0-0.bpo.4-amd64)."),
        TableColumn("Container-Runtime", priority=1, description="ContainerRuntime Version reported by the node "
                    "through runtime remote API (e.g. containerd://1.4.2)."),
    )

    def prepare_for_create(self, obj: Object) -> None:
        # Nodes may set status on create (upstream nodeStrategy.PrepareForCreate keeps it).
        self.apply_defaults(obj)

    def default(self, obj: Object) -> None:
        status = obj.get("status")
        if isinstance(status, dict) and isinstance(status.get("capacity"), dict) and "allocatable" not in status:
            status["allocatable"] = copy.deepcopy(status["capacity"])

    def field_values(self, obj: Object) -> dict[str, str]:
        values = dict(super().field_values(obj))
        values["spec.unschedulable"] = "true" if as_dict(obj.get("spec")).get("unschedulable") is True else "false"
        return values

    def validate_spec(self, obj: Object) -> list[Cause]:
        spec = as_dict(obj.get("spec"))
        causes: list[Cause] = []
        seen: set[tuple[str, str]] = set()
        for i, taint in enumerate(as_list(spec.get("taints"))):
            path = f"spec.taints[{i}]"
            taint = as_dict(taint)
            key, effect = taint.get("key"), taint.get("effect")
            if not key:
                causes.append(required(f"{path}.key"))
            else:
                causes += [invalid(f"{path}.key", key, m) for m in validation.qualified_name(str(key))]
            value = taint.get("value")
            if value:
                causes += [invalid(f"{path}.value", value, m) for m in validation.label_value(str(value))]
            if not effect:
                causes.append(required(f"{path}.effect"))
            elif effect not in TAINT_EFFECTS:
                causes.append(not_supported(f"{path}.effect", effect, TAINT_EFFECTS))
            pair = (str(key), str(effect))
            if pair in seen:
                causes.append(duplicate(path, f"{key}:{effect}"))
            seen.add(pair)
        return causes

    def validate_spec_update(self, obj: Object, old: Object) -> list[Cause]:
        new, prev = as_dict(obj.get("spec")), as_dict(old.get("spec"))
        causes: list[Cause] = []
        for key in ("podCIDR", "providerID", "podCIDRs"):
            if prev.get(key) and new.get(key) != prev.get(key):
                name = "podCIDR" if key == "podCIDRs" else key
                causes.append(forbidden(f"spec.{key}", f'node updates may not change {name} except from "" to valid'))
        return causes

    def spec_changed(self, obj: Object, old: Object) -> bool:
        return False  # upstream nodes keep generation 0

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        status = as_dict(obj.get("status"))
        info = as_dict(status.get("nodeInfo"))
        return [
            node_status(obj), ",".join(node_roles(obj)) or "<none>", age_cell(obj, now),
            str(info.get("kubeletVersion") or ""),
            node_address(obj, "InternalIP"), node_address(obj, "ExternalIP"),
            info.get("osImage") or "<unknown>", info.get("kernelVersion") or "<unknown>",
            info.get("containerRuntimeVersion") or "<unknown>",
        ]


def node_status(obj: Object) -> str:
    """``Ready``, ``NotReady`` or ``Unknown``, plus ``SchedulingDisabled`` when cordoned."""
    parts = []
    for cond in as_list(as_dict(obj.get("status")).get("conditions")):
        cond = as_dict(cond)
        if cond.get("type") == "Ready":
            parts = ["Ready" if cond.get("status") == "True" else "NotReady"]
    if not parts:
        parts = ["Unknown"]
    if as_dict(obj.get("spec")).get("unschedulable") is True:
        parts.append("SchedulingDisabled")
    return ",".join(parts)


def node_roles(obj: Object) -> list[str]:
    roles = set()
    for key, value in meta.labels(obj).items():
        if key.startswith(ROLE_LABEL_PREFIX) and key[len(ROLE_LABEL_PREFIX):]:
            roles.add(key[len(ROLE_LABEL_PREFIX):])
        elif key == LEGACY_ROLE_LABEL and value:
            roles.add(value)
    return sorted(roles)


def node_address(obj: Object, kind: str) -> str:
    for addr in as_list(as_dict(obj.get("status")).get("addresses")):
        if as_dict(addr).get("type") == kind:
            return str(as_dict(addr).get("address") or "")
    return "<none>"
