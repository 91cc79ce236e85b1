"""InterPodAffinity: required pod affinity / anti-affinity (Filter) and preferred terms (Score), counted
per topology domain (``topologyKey`` label value), in both directions: the incoming pod's terms against
existing pods, and existing pods' anti-affinity (required) and affinity/anti-affinity (preferred) against
the incoming pod."""

from sampan.scheduler.plugins.interpodaffinity.plugin import (
    ERR_AFFINITY,
    ERR_ANTI_AFFINITY,
    ERR_EXISTING_ANTI_AFFINITY,
    NAME,
    InterPodAffinity,
    new,
)

__all__ = ["ERR_AFFINITY", "ERR_ANTI_AFFINITY", "ERR_EXISTING_ANTI_AFFINITY", "NAME", "InterPodAffinity", "new"]
