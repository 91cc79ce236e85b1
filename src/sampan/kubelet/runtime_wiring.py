"""Which container runtime the kubelet runs (process, simulated, containerd over CRI, or a static-pod split
of two) and what it offers beyond the Runtime Protocol: a CRI client, an ImageService, a CRI endpoint."""

from __future__ import annotations

from typing import Any

from sampan._lib.clock import Clock
from sampan.kubelet.network.pod_network import make_pod_network
from sampan.kubelet.options import KubeletOptions
from sampan.kubelet.runtime.cri.runtime import CRIRuntime, CRIRuntimeOptions
from sampan.kubelet.runtime.images import ImageService
from sampan.kubelet.runtime.interface import Runtime
from sampan.kubelet.runtime.process import ProcessRuntime, ProcessRuntimeOptions
from sampan.kubelet.runtime.simulated import SimulatedRuntime, SimulatedRuntimeOptions
from sampan.kubelet.static_pods.runtime import StaticPodRuntime


def make_runtime(options: KubeletOptions, clock: Clock) -> Runtime:
    """The configured runtime; when static pods use another one, a :class:`StaticPodRuntime` over both.
    Without ``pod_cidr`` a process runtime starts with no pod network (host-network pods, such as the static
    control plane, still run); the kubelet gives it one once its Node has a pod CIDR."""
    def one(name: str, *, manager_pulls: bool = True) -> Runtime:
        if name == "simulated":
            return SimulatedRuntime(SimulatedRuntimeOptions(pod_ip=options.address), clock=clock)
        if name == "containerd":
            return CRIRuntime(CRIRuntimeOptions(
                endpoint=options.container_runtime_endpoint, image_endpoint=options.image_service_endpoint,
                node_name=options.node_name, log_root=options.root_dir / "logs", host_ip=options.address,
                serialize_image_pulls=False,  # the image manager serializes pulls (--serialize-image-pulls)
                # the image manager has made sure of the image before every CreateContainer (one ImageStatus
                # per container start, not two); static pods of a split runtime bypass it, so pull there
                pull_if_absent=not manager_pulls,
                relist_period=min(options.sync_period, 1.0)))
        network = make_pod_network(options.pod_network, options.pod_cidr) if options.pod_cidr else None
        return ProcessRuntime(ProcessRuntimeOptions(root_dir=options.root_dir / "runtime", pod_ip=options.address,
                                                    network=network))

    static = options.static_pod_runtime
    if options.pod_manifest_path is not None and static and static != options.runtime:
        return StaticPodRuntime(one(options.runtime), one(static, manager_pulls=False))
    return one(options.runtime)


def cri_runtime(runtime: Runtime) -> CRIRuntime | None:
    """The CRI runtime behind ``runtime`` (itself, or the default of a static-pod split), if any."""
    if isinstance(runtime, StaticPodRuntime):
        runtime = runtime.default
    return runtime if isinstance(runtime, CRIRuntime) else None


def _runtimes(runtime: Runtime) -> list[Any]:
    """``runtime``, then the default runtime behind a static-pod split."""
    return [runtime, *([runtime.default] if isinstance(runtime, StaticPodRuntime) else [])]


def image_service_of(runtime: Runtime) -> ImageService | None:
    """The runtime's CRI ImageService (its ``image_service`` attribute), or None for runtimes without
    images (process, simulated)."""
    for candidate in _runtimes(runtime):
        service: ImageService | None = getattr(candidate, "image_service", None)
        if service is not None:
            return service
    return None


def cri_endpoint_of(runtime: Runtime) -> str:
    """The runtime's CRI endpoint (``unix:///…``: its ``endpoint`` or ``options.endpoint``), "" if none."""
    for candidate in _runtimes(runtime):
        endpoint = getattr(candidate, "endpoint", "") or getattr(getattr(candidate, "options", None), "endpoint", "")
        if isinstance(endpoint, str) and endpoint:
            return endpoint
    return ""
