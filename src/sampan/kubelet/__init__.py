"""kubelet: node registration, heartbeats and pod lifecycle through a runtime interface (issue 8; not
built yet)."""
