"""TaintToleration: Filter rejects nodes with an untolerated NoSchedule/NoExecute taint; Score prefers
nodes with fewer untolerated PreferNoSchedule taints (normalized in reverse)."""

from sampan.scheduler.plugins.tainttoleration.plugin import NAME, TaintToleration, new

__all__ = ["NAME", "TaintToleration", "new"]
