"""NodeName: a pod with ``spec.nodeName`` fits only that node (PreFilter narrows the candidates to it)."""

from sampan.scheduler.plugins.nodename.plugin import ERR_REASON, NAME, NodeName, new

__all__ = ["ERR_REASON", "NAME", "NodeName", "new"]
