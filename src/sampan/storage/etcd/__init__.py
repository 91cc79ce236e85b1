"""The ``etcd`` backend: the storage contract on a real etcd v3 cluster over gRPC.

``connection`` turns client URLs into one gRPC channel that spreads calls over every member and maps
gRPC failures to storage errors; ``store`` implements reads, compare-and-swap writes and compaction
with etcd transactions; ``watch`` turns one etcd watch stream into a bounded storage watch.
"""

from sampan.storage.etcd.connection import EtcdTLS
from sampan.storage.etcd.store import EtcdStorage

__all__ = ["EtcdStorage", "EtcdTLS"]
