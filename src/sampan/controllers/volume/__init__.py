"""Persistent volume controllers: the PV binder with the local-path provisioner, and the protection finalizers."""
