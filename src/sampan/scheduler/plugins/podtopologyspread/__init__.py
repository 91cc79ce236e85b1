"""PodTopologySpread: keep matching pods spread across topology domains. DoNotSchedule constraints
filter (skew = matching pods in the node's domain + self - global minimum must stay <= maxSkew, with
minDomains); ScheduleAnyway constraints score (fewer matching pods in the domain, higher score).
nodeAffinityPolicy / nodeTaintsPolicy decide which nodes' domains count."""

from sampan.scheduler.plugins.podtopologyspread.plugin import (
    ERR_CONSTRAINTS,
    ERR_NODE_LABEL,
    NAME,
    PodTopologySpread,
    new,
)

__all__ = ["ERR_CONSTRAINTS", "ERR_NODE_LABEL", "NAME", "PodTopologySpread", "new"]
