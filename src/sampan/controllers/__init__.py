"""kube-controller-manager: one folder per reconciliation loop (issue 7; not built yet)."""
