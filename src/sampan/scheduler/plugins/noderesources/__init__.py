"""Node resources: NodeResourcesFit (Filter: requests fit the node's free allocatable; Score:
LeastAllocated or MostAllocated) and NodeResourcesBalancedAllocation (Score: prefer nodes whose
cpu and memory utilisation stay balanced)."""

from sampan.scheduler.plugins.noderesources.balanced_allocation import BALANCED_NAME, BalancedAllocation, new_balanced
from sampan.scheduler.plugins.noderesources.fit import FIT_NAME, Fit, fits_request, new_fit

__all__ = ["BALANCED_NAME", "FIT_NAME", "BalancedAllocation", "Fit", "fits_request", "new_balanced", "new_fit"]
