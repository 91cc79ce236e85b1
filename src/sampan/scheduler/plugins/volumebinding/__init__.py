"""VolumeBinding: pods with PersistentVolumeClaims go where their volumes are, or can be, as upstream's plugin.

- **PreFilter** sorts the pod's claims (``persistentVolumeClaim`` and generic ephemeral volumes): a missing
  or terminating claim, a missing class, or an unbound claim of an ``Immediate`` class (the PV controller
  binds those, not the scheduler) make the pod UnschedulableAndUnresolvable ("pod has unbound immediate
  PersistentVolumeClaims"); a pod without claims is skipped.
- **Filter**: a bound claim's volume must admit the node by its node affinity ("node(s) had volume node
  affinity conflict"); each unbound ``WaitForFirstConsumer`` claim needs an available volume that fits it
  and admits the node, or a class whose provisioner can provision there (``allowedTopologies``; the
  built-in local-path provisioner needs the node's ``sampan.io/local-path-dir``) — else "node(s) didn't find
  available persistent volumes to bind". The per-node choice is kept in the cycle state.
- **Reserve** assumes the choice in the scheduler's volume cache (a volume given the claim's ``claimRef``,
  a claim given ``volume.kubernetes.io/selected-node``) so later pods do not take the same volume;
  **Unreserve** drops the assumptions.
- **PreBind** writes them (the volume's ``claimRef``; the claim's selected-node annotation, which makes the
  provisioner act on that node) and waits, up to ``bindTimeoutSeconds`` (600), until the PV controller has
  bound every claim; only then is the pod bound. A provisioner that gives up removes the annotation, and
  the pod is retried.
"""

from sampan.scheduler.plugins.volumebinding.plugin import NAME, VolumeBinding, new

__all__ = ["NAME", "VolumeBinding", "new"]
