"""kube-scheduler: binds unscheduled pods to nodes through a plugin framework (issue 6; not built yet)."""
