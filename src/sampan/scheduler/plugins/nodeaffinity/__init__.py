"""NodeAffinity: ``spec.nodeSelector`` and required node affinity filter nodes (all operators, label and
``metadata.name`` field terms); preferred terms score by summed weight (normalized to 0..100)."""

from sampan.scheduler.plugins.nodeaffinity.plugin import ERR_REASON, NAME, NodeAffinity, matches_required, new

__all__ = ["ERR_REASON", "NAME", "NodeAffinity", "matches_required", "new"]
