"""The scheduling framework: one Protocol per extension point (``interface``), ``Status`` codes that
steer the cycle, ``CycleState``, the plugin ``Registry``, profiles from a KubeSchedulerConfiguration
(``config``), the runtime that runs a profile (``runtime.Framework``), and the typed internal views
parsed once from wire dicts (``PodInfo``, ``NodeInfo``, ``Snapshot``, resources, taints, selectors)."""
