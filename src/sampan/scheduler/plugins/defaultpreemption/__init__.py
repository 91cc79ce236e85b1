"""DefaultPreemption: the PostFilter that, when no node fits, looks for a node where evicting pods of
lower priority makes the pod fit, picks the best such node and names the victims. The scheduler then
deletes the victims and sets ``status.nominatedNodeName`` through the API (done by its outer loop)."""

from sampan.scheduler.plugins.defaultpreemption.plugin import NAME, DefaultPreemption, new
from sampan.scheduler.plugins.defaultpreemption.preemption import pick_one_node, select_victims_on_node

__all__ = ["NAME", "DefaultPreemption", "new", "pick_one_node", "select_victims_on_node"]
