"""Leader election over coordination.k8s.io/v1 Leases: one active replica of a component at a time."""

from sampan.client.leaderelection.elector import LeaderCallbacks, LeaderElectionConfig, LeaderElector
from sampan.client.leaderelection.lease_lock import LeaderElectionRecord, LeaseLock

__all__ = ["LeaderCallbacks", "LeaderElectionConfig", "LeaderElectionRecord", "LeaderElector", "LeaseLock"]
