"""The node lifecycle controller (lease-based, as upstream since 1.17).

``health`` decides from Lease renewals and the kubelet's Ready heartbeat when a node has gone silent for
longer than its grace period and builds the Unknown conditions; ``taints`` maps node conditions to the
``node.kubernetes.io/*`` NoSchedule/NoExecute taints and matches pod tolerations; ``zones`` classifies
zones (Normal, PartialDisruption, FullDisruption) and rate-limits NoExecute tainting per zone;
``controller`` ties them together: a monitor loop every ``--node-monitor-period`` and a per-node
reconcile that writes taints, marks pods not ready and evicts pods whose tolerations ran out.
"""
