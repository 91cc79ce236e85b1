"""The kubelet's Node object: registration or adoption, status posts (the heartbeat thread calls
``post_status``, which compares with the node informer's copy of the Node, as upstream's kubelet does with
its node lister), and the condition events recorded on the kubelet's loop."""

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
from sampan.kubelet.sources import NodeCache
from sampan.kubelet.volumes.localpath import LOCAL_PATH_DIR_ANNOTATION

log = logging.getLogger(__name__)


def _revision(node: Mapping[str, Any]) -> int:
    """A Node's resourceVersion as a number (sampan's are the store's revision); -1 when absent or opaque."""
    rv = str((node.get("metadata") or {}).get("resourceVersion") or "")
    try:
        return int(rv)
    except (TypeError, ValueError):
        return -1


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
    node_cache: NodeCache
    """This Node as the server has it (the node informer's indexer; :mod:`sampan.kubelet.sources`)."""
    _last_status_post: float
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
        """One status tick, as upstream's ``tryUpdateNodeStatus``: the status is computed from the newest copy
        of the Node known (:meth:`_newest_node`: the node informer's, i.e. the server's, or the one this
        kubelet last wrote), and PUT to ``nodes/status`` with that copy's resourceVersion unless it equals that
        copy's apart from heartbeat times and ``node_status_report_frequency`` has not passed since the last
        post. Comparing with the server's copy, not with what this kubelet posted last, is what corrects
        another writer at once: after the node lifecycle controller marked the node ``Unknown`` (a Lease that
        came late under load), the next tick reports Ready again. No GET on the way: only a Conflict (the
        copy was stale) reads the Node from the API server and tries again, up to three attempts."""
        for _attempt in range(3):
            base = self._newest_node()
            node = dict(base)
            node["status"] = node_status(self.identity(), base.get("status"), now=self.clock.wall(),
                                         images=self.image_gc.node_images() if self.image_gc is not None else None)
            report = self.options.node_status_report_frequency
            if (report and self.clock.monotonic() - self._last_status_post < report
                    and same_apart_from_heartbeats(node["status"], base.get("status"))):
                self.node = base
                return
            try:
                self.node = await nodes.update(node, subresource="status")
                self._last_status_post = self.clock.monotonic()
                self.status_posts += 1
                self._node_events(base, self.node)
                return
            except errors.Conflict:
                self.node = await nodes.get(self.options.node_name)
            except errors.NotFound:  # deleted under us: register again
                await self.register(nodes)

    def _newest_node(self) -> dict[str, Any]:
        """The node informer's copy of this Node or ``self.node`` (the last one written or read), whichever
        has the higher resourceVersion: the informer sees other writers; ``self.node`` is ahead of it for the
        moment this kubelet's own write takes to come back through the watch (a stale base would only cost
        a Conflict and a GET). The informer's copy is shared with its store: never changed here."""
        cached = self.node_cache.get_by_key(self.options.node_name)
        if cached is None or _revision(cached) < _revision(self.node):
            return self.node
        return dict(cached)

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
