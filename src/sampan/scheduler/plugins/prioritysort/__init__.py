"""PrioritySort: the QueueSort plugin. Higher ``spec.priority`` first; equal priority, earlier queue time."""

from sampan.scheduler.plugins.prioritysort.plugin import NAME, PrioritySort, new

__all__ = ["NAME", "PrioritySort", "new"]
