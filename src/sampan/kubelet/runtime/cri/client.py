"""An asyncio client for a CRI runtime's ``RuntimeService`` and ``ImageService`` (grpc.aio, unix socket).

Thin on purpose: each method is one RPC taking and returning the generated ``runtime.v1`` messages
(:data:`sampan.kubelet.runtime.cri.protos.pb`); :mod:`.runtime` and :mod:`.images` translate them to the
kubelet's dataclasses. gRPC failures become :class:`CRIError` (``NOT_FOUND`` → :class:`CRINotFound`),
carrying the runtime's own message, which the kubelet reports verbatim as upstream does.

Endpoints are written as upstream's flags take them: ``unix:///run/containerd/containerd.sock`` (a bare
path is accepted too). The image service may live at another endpoint (``--image-service-endpoint``);
by default it shares the runtime's channel.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import grpc
import grpc.aio

from sampan.kubelet.runtime.cri.protos import pb, pb_grpc

DEFAULT_TIMEOUT = 120.0
"""Seconds one RPC may take (upstream's kubelet: 2 min; pulls have no deadline)."""
_MAX_MESSAGE = 16 * 1024 * 1024


class CRIError(Exception):
    """A CRI call failed; ``code`` is the gRPC status code, ``message`` the runtime's words."""

    def __init__(self, method: str, code: grpc.StatusCode, message: str) -> None:
        super().__init__(f"{method}: {message}")
        self.method, self.code, self.message = method, code, message


class CRINotFound(CRIError):
    """The sandbox, container or image does not exist (gRPC ``NOT_FOUND``)."""


def grpc_target(endpoint: str) -> str:
    """``unix:///path`` / ``unix:/path`` / ``/path`` → grpc's ``unix:/path`` target."""
    if endpoint.startswith("unix://"):
        return "unix:" + endpoint[len("unix://"):]
    if endpoint.startswith("unix:"):
        return endpoint
    if endpoint.startswith("/"):
        return "unix:" + endpoint
    raise ValueError(f"unsupported CRI endpoint {endpoint!r} (want unix:///path/to/socket)")


def _channel(endpoint: str) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(grpc_target(endpoint), options=[
        ("grpc.max_receive_message_length", _MAX_MESSAGE), ("grpc.max_send_message_length", _MAX_MESSAGE)])


class CRIClient:
    """One channel per endpoint. Create inside a running event loop; :meth:`close` when done."""

    def __init__(self, endpoint: str, *, image_endpoint: str = "", timeout: float = DEFAULT_TIMEOUT) -> None:
        self.endpoint = endpoint
        self.image_endpoint = image_endpoint or endpoint
        self.timeout = timeout
        self._channel = _channel(endpoint)
        self._image_channel = self._channel if self.image_endpoint == endpoint else _channel(self.image_endpoint)
        self._rt: Any = pb_grpc.RuntimeServiceStub(self._channel)
        self._img: Any = pb_grpc.ImageServiceStub(self._image_channel)
        self.operations: Counter[str] = Counter()
        """RPCs made, by CRI method name (upstream's ``kubelet_runtime_operations_total``)."""

    async def close(self) -> None:
        await self._channel.close()
        if self._image_channel is not self._channel:
            await self._image_channel.close()

    async def _call(self, stub: Any, method: str, request: Any, timeout: float | None = -1.0) -> Any:
        self.operations[method] += 1
        try:
            return await getattr(stub, method)(request, timeout=self.timeout if timeout == -1.0 else timeout)
        except grpc.aio.AioRpcError as err:
            code = err.code()
            details = err.details() or str(code)
            cls = CRINotFound if code == grpc.StatusCode.NOT_FOUND else CRIError
            raise cls(method, code, details) from None

    # -- RuntimeService --------------------------------------------------------------------------

    async def version(self) -> Any:
        return await self._call(self._rt, "Version", pb.VersionRequest(version="v1"))

    async def status(self) -> Any:
        return await self._call(self._rt, "Status", pb.StatusRequest())

    async def update_pod_cidr(self, cidr: str) -> None:
        await self._call(self._rt, "UpdateRuntimeConfig", pb.UpdateRuntimeConfigRequest(
            runtime_config=pb.RuntimeConfig(network_config=pb.NetworkConfig(pod_cidr=cidr))))

    async def run_pod_sandbox(self, config: Any) -> str:
        resp = await self._call(self._rt, "RunPodSandbox", pb.RunPodSandboxRequest(config=config))
        return str(resp.pod_sandbox_id)

    async def stop_pod_sandbox(self, sandbox_id: str) -> None:
        await self._call(self._rt, "StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=sandbox_id))

    async def remove_pod_sandbox(self, sandbox_id: str) -> None:
        await self._call(self._rt, "RemovePodSandbox", pb.RemovePodSandboxRequest(pod_sandbox_id=sandbox_id))

    async def pod_sandbox_status(self, sandbox_id: str) -> Any:
        resp = await self._call(self._rt, "PodSandboxStatus", pb.PodSandboxStatusRequest(pod_sandbox_id=sandbox_id))
        return resp.status

    async def list_pod_sandboxes(self, labels: dict[str, str] | None = None) -> list[Any]:
        flt = pb.PodSandboxFilter(label_selector=labels or {})
        resp = await self._call(self._rt, "ListPodSandbox", pb.ListPodSandboxRequest(filter=flt))
        return list(resp.items)

    async def create_container(self, sandbox_id: str, config: Any, sandbox_config: Any) -> str:
        resp = await self._call(self._rt, "CreateContainer", pb.CreateContainerRequest(
            pod_sandbox_id=sandbox_id, config=config, sandbox_config=sandbox_config))
        return str(resp.container_id)

    async def start_container(self, container_id: str) -> None:
        await self._call(self._rt, "StartContainer", pb.StartContainerRequest(container_id=container_id))

    async def stop_container(self, container_id: str, timeout: float) -> None:
        """StopContainer with a grace of ``timeout`` seconds (CRI counts whole seconds: rounded up)."""
        grace = max(0, math.ceil(timeout))
        await self._call(self._rt, "StopContainer", pb.StopContainerRequest(container_id=container_id, timeout=grace),
                         timeout=self.timeout + grace)

    async def remove_container(self, container_id: str) -> None:
        await self._call(self._rt, "RemoveContainer", pb.RemoveContainerRequest(container_id=container_id))

    async def list_containers(self, *, sandbox_id: str = "", labels: dict[str, str] | None = None) -> list[Any]:
        flt = pb.ContainerFilter(pod_sandbox_id=sandbox_id, label_selector=labels or {})
        resp = await self._call(self._rt, "ListContainers", pb.ListContainersRequest(filter=flt))
        return list(resp.containers)

    async def container_status(self, container_id: str) -> Any:
        resp = await self._call(self._rt, "ContainerStatus", pb.ContainerStatusRequest(container_id=container_id))
        return resp.status

    async def container_info(self, container_id: str) -> dict[str, str]:
        """ContainerStatus with ``verbose``: the runtime's extra information (containerd: ``info`` is a JSON
        document with the container's host ``pid``, its OCI spec, its sandbox id)."""
        resp = await self._call(self._rt, "ContainerStatus",
                                pb.ContainerStatusRequest(container_id=container_id, verbose=True))
        return dict(resp.info)

    async def container_stats(self, container_id: str) -> Any:
        resp = await self._call(self._rt, "ContainerStats", pb.ContainerStatsRequest(container_id=container_id))
        return resp.stats

    async def exec_sync(self, container_id: str, cmd: list[str], timeout: float) -> Any:
        seconds = max(1, math.ceil(timeout)) if timeout > 0 else 0
        return await self._call(self._rt, "ExecSync", pb.ExecSyncRequest(container_id=container_id, cmd=cmd,
                                                                          timeout=seconds),
                                timeout=(seconds + self.timeout) if seconds else None)

    async def exec(self, container_id: str, cmd: list[str], *, stdin: bool, stdout: bool, stderr: bool,
                   tty: bool) -> str:
        """The one-time URL of the runtime's streaming server that runs ``cmd`` in the container."""
        resp = await self._call(self._rt, "Exec", pb.ExecRequest(container_id=container_id, cmd=cmd, tty=tty,
                                                                 stdin=stdin, stdout=stdout, stderr=stderr))
        return str(resp.url)

    async def attach(self, container_id: str, *, stdin: bool, stdout: bool, stderr: bool, tty: bool) -> str:
        resp = await self._call(self._rt, "Attach", pb.AttachRequest(container_id=container_id, stdin=stdin, tty=tty,
                                                                     stdout=stdout, stderr=stderr))
        return str(resp.url)

    async def port_forward(self, sandbox_id: str, ports: list[int]) -> str:
        resp = await self._call(self._rt, "PortForward", pb.PortForwardRequest(pod_sandbox_id=sandbox_id, port=ports))
        return str(resp.url)

    # -- ImageService ----------------------------------------------------------------------------

    async def pull_image(self, image: str, *, auth: Any = None, sandbox_config: Any = None) -> str:
        resp = await self._call(self._img, "PullImage", pb.PullImageRequest(
            image=pb.ImageSpec(image=image), auth=auth, sandbox_config=sandbox_config), timeout=None)
        return str(resp.image_ref)

    async def image_status(self, image: str) -> Any | None:
        resp = await self._call(self._img, "ImageStatus", pb.ImageStatusRequest(image=pb.ImageSpec(image=image)))
        return resp.image if resp.HasField("image") else None

    async def list_images(self) -> list[Any]:
        resp = await self._call(self._img, "ListImages", pb.ListImagesRequest())
        return list(resp.images)

    async def remove_image(self, image: str) -> None:
        await self._call(self._img, "RemoveImage", pb.RemoveImageRequest(image=pb.ImageSpec(image=image)))

    async def image_fs_info(self) -> Any:
        return await self._call(self._img, "ImageFsInfo", pb.ImageFsInfoRequest())
