"""NodeUnschedulable: nodes with ``spec.unschedulable`` reject pods that do not tolerate the
``node.kubernetes.io/unschedulable:NoSchedule`` taint."""

from sampan.scheduler.plugins.nodeunschedulable.plugin import ERR_REASON, NAME, NodeUnschedulable, new

__all__ = ["ERR_REASON", "NAME", "NodeUnschedulable", "new"]
