"""kube-scheduler: picks a node for each pending pod through a plugin framework (issue 6).

``scheduler.Scheduler`` is the outer loop (queue -> scheduling cycle -> binding cycle);
``algorithm`` filters with adaptive sampling, scores and selects a host; ``framework/`` holds the
extension-point Protocols, Status, CycleState, the plugin registry, profiles (KubeSchedulerConfiguration)
and the typed views (PodInfo, NodeInfo, Snapshot); ``plugins/`` the in-tree plugins; ``queue/`` the
active/back-off/unschedulable queue; ``cache/`` node infos and the assumed-pod state machine;
``eventhandlers`` turns informer notifications into cache/queue updates; ``interfaces`` are the seams to
the API (binder, status writer, evictor, event recorder).
"""
