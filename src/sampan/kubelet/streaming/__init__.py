"""The kubelet's streaming server: ``/exec``, ``/attach`` and ``/portForward`` over WebSocket and SPDY
(:mod:`.server`, :mod:`.remotecommand`, :mod:`.portforward`), in front of a runtime-neutral
:class:`~.interface.StreamingRuntime` (:mod:`.process` for the process runtime; a CRI runtime will
implement it through CRI Exec/Attach/PortForward)."""
