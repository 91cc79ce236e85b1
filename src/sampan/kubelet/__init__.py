"""kubelet: the node agent. ``kubelet.py`` is the component (node registration and status in
``node_status.py``, the heartbeat Lease in ``node_lease.py``, pod status and final deletes in
``api_status.py``, informers in ``sources.py``, the log server in ``log_server.py``); underneath are the
container runtimes (``runtime/``), volumes and env (``volumes/``), probes, admission, CRI log reading, the
pod status computation, the restart back-off and the pod workers. See docs/kubelet.md."""
