"""Container runtimes behind one CRI-shaped Protocol (``interface.Runtime``): ``process`` runs each
container as a host process group supervised by a small shim process, ``simulated`` runs nothing and is
cheap enough for thousands of nodes in one process. ``containerd`` (CRI over gRPC) comes later."""
