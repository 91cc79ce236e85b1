"""The Deployment controller, split as upstream: ``controller`` (handlers, reconcile), ``sync`` (new/old
ReplicaSets, scaling, cleanup, status), ``rolling`` and ``recreate`` (the strategies), ``progress``
(Progressing/Available conditions and deadlines), ``revisions`` (pod-template-hash, revision annotations,
rollback to an older template)."""
