"""Real clusters and real processes for tests and benchmarks.

- :class:`Cluster` (``sampan.testing.cluster``): a throw-away cluster (API server, and on request
  controllers, scheduler and simulated nodes) in a child process that dies with its caller; a sync and
  async context manager, for any Python program.
- ``sampan.testing.plugin``: the pytest plugin over it (fixtures ``k8s``, ``k8s_namespace``, marker
  ``sampan``), loaded through the ``pytest11`` entry point whenever sampan is installed.
- ``sampan.testing.etcd``: real etcd members (one, or an N-member cluster) on free loopback ports.

Importing this package is cheap (no API server, no client library): the pytest plugin loads it in every
session, including ones that never start a cluster.
"""

from sampan.testing.cluster import AsyncHelpers, Cluster
from sampan.testing.process import ClusterError

__all__ = ["AsyncHelpers", "Cluster", "ClusterError"]
