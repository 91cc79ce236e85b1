"""The kubelet's streaming server: ``/exec``, ``/attach`` and ``/portForward`` over WebSocket and SPDY
(:mod:`.server`, :mod:`.remotecommand`, :mod:`.portforward`), in front of a runtime-neutral
:class:`~.interface.StreamingRuntime`: :mod:`.process` for the process runtime, :mod:`.cri` for a CRI
runtime (a SPDY client of the runtime's streaming server), chosen per runtime in :mod:`.runtimes`."""
