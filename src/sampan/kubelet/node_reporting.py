"""The kubelet's Node object: registration or adoption, status posts (the heartbeat thread calls
``post_status``), and the condition events recorded on the kubelet's loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sampan._lib.clock import Clock
from sampan.api import errors
from sampan.client.dynamic import ResourceClient
from sampan.client.record import EventRecorder
from sampan.kubelet.images.gc import ImageGC
from sampan.kubelet.log_server import LogServer
from sampan.kubelet.node_status import (
    CRI_SOCKET_ANNOTATION,
    NodeIdentity,
    condition_events,
    default_hostname,
    node_labels,
    node_status,
    registration,
    same_apart_from_heartbeats,
)
from sampan.kubelet.options import KubeletOptions
from sampan.kubelet.runtime.interface import Runtime
from sampan.kubelet.runtime_wiring import cri_endpoint_of
from sampan.kubelet.volumes.localpath import LOCAL_PATH_DIR_ANNOTATION

log = logging.getLogger(__name__)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None



class NodeReporting:
    """The kubelet's Node: registration (or adoption), status posts and condition events. A part of
    :class:`~sampan.kubelet.kubelet.Kubelet`, which owns the attributes declared here."""

    options: KubeletOptions
    clock: Clock
    node: dict[str, Any]
    runtime: Runtime
    allocatable: dict[str, str]
    local_path_dir: Path
    log_server: LogServer
    image_gc: ImageGC | None
    recorder: EventRecorder | None
    status_posts: int
    _last_status_post: float
    _last_server_check: float
    _loop: asyncio.AbstractEventLoop | None

    def identity(self) -> NodeIdentity:
        """The Hostname address follows the node's ``kubernetes.io/hostname`` label (upstream: the
        overridden hostname), so the second node of one machine does not report the first one's name."""
        labels = node_labels(self.options.node_name, self.options.labels)
        return NodeIdentity(name=self.options.node_name, address=self.options.address,
                            hostname=labels.get("kubernetes.io/hostname") or default_hostname(),
                            port=self.log_server.port, capacity=self.allocatable,
                            runtime=self.runtime.info(), labels=labels, cri_endpoint=cri_endpoint_of(self.runtime))


    async def register(self, nodes: ResourceClient) -> None:
        """Create the Node, or adopt an existing one (its status is refreshed by the status loop)."""
        try:
            body = registration(self.identity(), now=self.clock.wall())
            body["metadata"]["annotations"][LOCAL_PATH_DIR_ANNOTATION] = str(self.local_path_dir)
            self.node = await nodes.create(body)
            log.info("node registered node=%s", self.options.node_name)
            self._node_events(None, self.node)
        except errors.AlreadyExists:
            self.node = await nodes.get(self.options.node_name)
            log.info("node already registered, adopting it node=%s", self.options.node_name)
            await self._publish_cri_endpoint(nodes)

    async def _publish_cri_endpoint(self, nodes: ResourceClient) -> None:
        """An adopted Node gets this kubelet's CRI endpoint annotation (a new one is registered with it)."""
        endpoint = self.identity().cri_endpoint
        if endpoint and ((self.node.get("metadata") or {}).get("annotations") or {}).get(
                CRI_SOCKET_ANNOTATION) != endpoint:
            self.node = await nodes.patch(self.options.node_name,
                                          {"metadata": {"annotations": {CRI_SOCKET_ANNOTATION: endpoint}}})

    async def post_status(self, nodes: ResourceClient) -> None:
        """One node status update (PUT ``nodes/status`` with the resourceVersion last seen)."""
        for _attempt in range(3):
            node = dict(self.node)
            node["status"] = node_status(self.identity(), node.get("status"), now=self.clock.wall(),
                                         images=self.image_gc.node_images() if self.image_gc is not None else None)
            report = self.options.node_status_report_frequency
            if (report and self.clock.monotonic() - self._last_status_post < report
                    and same_apart_from_heartbeats(node["status"], self.node.get("status"))):
                now = self.clock.monotonic()
                if now - self._last_server_check < self.options.node_status_recheck_period:
                    return
                self._last_server_check = now
                if not await self._server_copy_changed(nodes):
                    return
                continue  # someone else wrote the status: compute it again from the server's copy
            try:
                before = self.node
                self.node = await nodes.update(node, subresource="status")
                self._last_status_post = self.clock.monotonic()
                self.status_posts += 1
                self._node_events(before, self.node)
                return
            except errors.Conflict:
                self.node = await nodes.get(self.options.node_name)
            except errors.NotFound:  # deleted under us: register again
                await self.register(nodes)

    async def _server_copy_changed(self, nodes: ResourceClient) -> bool:
        """Whether the server's Node differs from the one this kubelet last wrote or read (then it becomes
        ``self.node``). Upstream's ``tryUpdateNodeStatus`` compares the fresh status with the server's node
        (from its cache), not with what it posted last: after the node lifecycle controller marked the node
        ``Unknown`` (a Lease that came late under load), a kubelet comparing with its own last post saw
        nothing to report and left the node NotReady until the next report period (5 minutes; issue 21).
        Read with ``resourceVersion=0``: from the API server's watch cache."""
        current = await nodes.get(self.options.node_name, resource_version="0")
        seen = (self.node.get("metadata") or {}).get("resourceVersion")
        if (current.get("metadata") or {}).get("resourceVersion") == seen:
            return False
        before, self.node = self.node, current
        return not same_apart_from_heartbeats(current.get("status"), before.get("status"))

    def _node_events(self, before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> None:
        """Record node condition events; from the heartbeat thread, hand them to the kubelet's loop."""
        if self.recorder is None:
            return
        loop = self._loop
        if loop is not None and _running_loop() is not loop:
            loop.call_soon_threadsafe(self._node_events, before, after)
            return
        name = self.options.node_name
        for reason in condition_events(((before or {}).get("status") or {}).get("conditions"),
                                       (after.get("status") or {}).get("conditions")):
            self.recorder.event(self._node_ref(), "Normal", reason, f"Node {name} status is now: {reason}")

    def _node_ref(self) -> dict[str, Any]:
        """Upstream's reference for node events: kind Node, uid = the node's name."""
        return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": self.options.node_name,
                                                                 "uid": self.options.node_name}}
