"""NodePorts: a pod's host ports must be free on the node (0.0.0.0 conflicts with every address)."""

from sampan.scheduler.plugins.nodeports.plugin import ERR_REASON, NAME, NodePorts, new

__all__ = ["ERR_REASON", "NAME", "NodePorts", "new"]
