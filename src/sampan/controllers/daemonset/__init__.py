"""The DaemonSet controller (upstream ``daemonset-controller``)."""
