"""Leader election over coordination.k8s.io/v1 Leases: one active replica of a component at a time.

:class:`LeaderElector` is client-go's elector on the caller's loop and client; components use
:class:`IsolatedLeaderElector`, which runs it on its own thread, loop and client so that no work can delay a
renewal (docs/liveness.md)."""

from sampan.client.leaderelection.elector import LeaderCallbacks, LeaderElectionConfig, LeaderElector
from sampan.client.leaderelection.isolated import IsolatedLeaderElector
from sampan.client.leaderelection.lease_lock import LeaderElectionRecord, LeaseLock

__all__ = ["IsolatedLeaderElector", "LeaderCallbacks", "LeaderElectionConfig", "LeaderElectionRecord",
           "LeaderElector", "LeaseLock"]
