"""kubelet: the node agent. Today: the container runtimes (``runtime/``), volumes and env (``volumes/``),
probes, admission, CRI log reading, the pod status computation, the restart back-off and the pod workers,
all usable without an API server; node registration, heartbeats and the API wiring come with the client
library (issue 8). See docs/kubelet.md."""
