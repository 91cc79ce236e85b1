"""The static pods of one kubelet: read from files, run by the pod workers, mirrored into the API.

:class:`StaticPods` owns the desired set (``pods``, by uid) and one loop (:meth:`StaticPods.run`). Each pass:

1. re-reads the manifest directory (every ``file_check_frequency``, upstream's 20 s, or when woken): a new
   uid is handed to the pod workers, a vanished one is stopped (its grace period, then the mirror pod goes);
   a changed file is a new uid, so the old pod is stopped and the new one starts once it has terminated (one
   pod per ``namespace/name`` at a time, as upstream's pod workers guarantee for static pods);
2. once :meth:`connect` was called (the API server answered and the Node is registered), makes the mirror
   pods match: creates a missing one, deletes (grace 0) one that is stale, being deleted (a user's
   ``kubectl delete`` — the kubelet recreates it, as upstream) or has no static pod any more, and writes the
   latest status of each static pod to its mirror pod.

Static pods run before and without the API server: nothing in step 1 talks to it. The pod workers report a
static pod's status through :meth:`update_status` (via :class:`RoutingSink`); it is kept and written to the
mirror pod at once when there is one, else after the mirror pod is created.

States: *offline* (files only) --connect--> *online* (files + mirror pods). Mutators are synchronous or
run on the loop's task; the informer handlers only record what they saw and wake the loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sampan._lib.clock import Clock, RealClock
from sampan._lib.tasks import cancel_and_wait
from sampan.api import errors
from sampan.api.humanize import format_rfc3339_micro
from sampan.client.cache.store import Store
from sampan.client.dynamic import ResourceClient
from sampan.kubelet.api_status import APIStatusSink
from sampan.kubelet.pod_workers import PodWorkers
from sampan.kubelet.static_pods.manifests import (
    CONFIG_SEEN,
    full_name,
    is_mirror,
    is_static,
    read_directory,
)
from sampan.kubelet.static_pods.mirror import is_mirror_of, mirror_pod
from sampan.kubelet.status_manager import PodStatusSink

log = logging.getLogger(__name__)

DEFAULT_FILE_CHECK_FREQUENCY = 20.0


@dataclass(frozen=True, slots=True)
class StaticPodOptions:
    manifest_path: Path
    node_name: str
    file_check_frequency: float = DEFAULT_FILE_CHECK_FREQUENCY
    """Seconds between two reads of the manifest directory (upstream's ``--file-check-frequency``)."""


@dataclass(slots=True)
class MirrorAPI:
    """What the online state needs: the pods client, a status writer, the kubelet's own pod cache (it holds
    this node's mirror pods, keyed ``namespace/name``) and the Node's current uid."""

    pods: ResourceClient
    status: APIStatusSink
    cache: Store
    node_uid: Callable[[], str]


def _uid(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("uid", ""))


def _rv(obj: Mapping[str, Any]) -> int:
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


class StaticPods:
    """Invariants: ``pods`` is what the directory held at the last read; a uid in ``pods`` has a pod worker
    unless another worker of the same ``namespace/name`` still runs (it starts once that one terminated)."""

    def __init__(self, options: StaticPodOptions, workers: PodWorkers, *, clock: Clock | None = None) -> None:
        self.options = options
        self.workers = workers
        self.clock = clock or RealClock()
        self.pods: dict[str, dict[str, Any]] = {}
        self.statuses: dict[str, dict[str, Any]] = {}
        """Latest status of each static pod (by its uid), as the pod worker computed it."""
        self._seen: dict[str, str] = {}
        self._problems: tuple[str, ...] = ()
        self._waiting: set[str] = set()
        self._wake = asyncio.Event()
        self._api: MirrorAPI | None = None
        self._created: dict[str, dict[str, Any]] = {}
        """Mirror pods this kubelet created, by full name, until the cache catches up."""
        self._deleted: set[str] = set()
        """Uids of mirror pods this kubelet deleted that the cache may still hold."""
        self._written: dict[str, dict[str, Any]] = {}
        """Last status written per mirror pod uid."""
        self.mirror_creates = 0
        self.mirror_deletes = 0
        self.reads = 0

    # -- files -----------------------------------------------------------------------------------------

    def sync_files(self) -> None:
        """Read the directory once and bring the pod workers in line with it."""
        read = read_directory(self.options.manifest_path, node_name=self.options.node_name)
        self.reads += 1
        if read.errors != self._problems:
            for problem in read.errors:
                log.warning("static pod manifest skipped problem=%s", problem)
            self._problems = read.errors
        for uid in set(self.pods) - set(read.pods):
            log.info("static pod removed pod=%s uid=%s", full_name(self.pods[uid]), uid)
            self.workers.remove_pod(uid)
            self._seen.pop(uid, None)
        desired: dict[str, dict[str, Any]] = {}
        for uid, pod in read.pods.items():
            seen = self._seen.setdefault(uid, format_rfc3339_micro(self.clock.wall()))
            pod["metadata"]["annotations"][CONFIG_SEEN] = seen
            desired[uid] = self.pods.get(uid) or pod
            if uid not in self.pods:
                log.info("static pod added pod=%s uid=%s", full_name(pod), uid)
        self.pods = desired
        self._start_ready()

    def _start_ready(self) -> None:
        """Start the desired pods that no other worker of the same full name blocks."""
        self._waiting.clear()
        for uid, pod in self.pods.items():
            worker = self.workers.workers.get(uid)
            if worker is not None and worker.terminating is None:
                continue
            name = full_name(pod)
            blocked = [w for w in self.workers.workers.values()
                       if full_name(w.pod) == name and (w.uid != uid or w.terminating is not None)]
            if blocked:
                self._waiting.add(uid)
                continue
            self.workers.update_pod(pod)

    def is_known(self, uid: str) -> bool:
        return uid in self.pods

    def by_full_name(self, namespace: str, name: str) -> dict[str, Any] | None:
        key = f"{namespace}/{name}"
        return next((p for p in self.pods.values() if full_name(p) == key), None)

    # -- status (called by the pod workers through RoutingSink) -------------------------------------------

    async def update_status(self, pod: Mapping[str, Any], status: dict[str, Any]) -> None:
        uid = _uid(pod)
        self.statuses[uid] = status
        if self._api is not None:
            await self._write_status(uid)

    async def terminated(self, pod: Mapping[str, Any]) -> None:
        self.statuses.pop(_uid(pod), None)
        self._wake.set()

    # -- API ----------------------------------------------------------------------------------------------

    def connect(self, api: MirrorAPI) -> None:
        """The API server is reachable and the Node registered: keep mirror pods from now on."""
        self._api = api
        self._wake.set()

    def mirror_changed(self, pod: Mapping[str, Any]) -> None:
        """A mirror pod of this node was added, updated or deleted in the API (informer handler)."""
        name = full_name(pod)
        created = self._created.get(name)
        if created is not None and _uid(created) == _uid(pod) and _rv(pod) >= _rv(created):
            del self._created[name]
        self._wake.set()

    def _mirror(self, name: str) -> dict[str, Any] | None:
        """The newest live-or-deleting mirror pod known for ``name`` (ignoring ones this kubelet deleted)."""
        assert self._api is not None
        found = [p for p in (self._api.cache.get_by_key(name), self._created.get(name))
                 if p is not None and is_mirror(p) and _uid(p) not in self._deleted]
        return max(found, key=_rv) if found else None

    async def _write_status(self, uid: str) -> None:
        assert self._api is not None
        pod, status = self.pods.get(uid), self.statuses.get(uid)
        if pod is None or status is None:
            return
        mirror = self._mirror(full_name(pod))
        if mirror is None or not is_mirror_of(mirror, pod) or self._written.get(_uid(mirror)) == status:
            return
        self._written[_uid(mirror)] = status
        writes = self._api.status.writes
        await self._api.status.update_status(mirror, status)
        if self._api.status.writes == writes:  # not written (API server down?): the next pass retries
            self._written.pop(_uid(mirror), None)

    async def _delete_mirror(self, mirror: Mapping[str, Any]) -> None:
        assert self._api is not None
        md = mirror.get("metadata") or {}
        uid = _uid(mirror)
        try:
            await self._api.pods.delete(str(md.get("name", "")), namespace=md.get("namespace"),
                                        grace_period_seconds=0, uid=uid)
        except (errors.NotFound, errors.Conflict):
            pass
        self._deleted.add(uid)
        self._written.pop(uid, None)
        if _uid(self._created.get(full_name(mirror)) or {}) == uid:
            del self._created[full_name(mirror)]
        self.mirror_deletes += 1
        log.info("mirror pod deleted pod=%s uid=%s", full_name(mirror), uid)

    async def _create_mirror(self, static: Mapping[str, Any]) -> None:
        assert self._api is not None
        node_uid = self._api.node_uid()
        if not node_uid:
            return
        body = mirror_pod(static, node_name=self.options.node_name, node_uid=node_uid)
        try:
            created = await self._api.pods.create(body, namespace=body["metadata"]["namespace"])
        except errors.AlreadyExists:
            md = body["metadata"]
            existing = await self._api.pods.get(md["name"], namespace=md["namespace"])
            if not is_mirror(existing):
                log.warning("cannot create mirror pod: a pod of that name exists pod=%s", full_name(static))
                return
            created = existing
        else:
            self.mirror_creates += 1
            log.info("mirror pod created pod=%s", full_name(static))
        self._created[full_name(static)] = created

    async def sync_mirrors(self) -> None:
        """One pass over the mirror pods (online only)."""
        api = self._api
        if api is None:
            return
        cached = {_uid(p) for p in api.cache.list()}
        self._deleted &= cached
        by_name = {full_name(p): p for uid, p in self.pods.items() if uid in self.workers.workers}
        names = {full_name(p) for p in api.cache.list() if is_mirror(p)} | set(self._created) | set(by_name)
        for name in sorted(names):
            mirror, static = self._mirror(name), by_name.get(name)
            if mirror is not None and (static is None or not is_mirror_of(mirror, static)):
                await self._delete_mirror(mirror)
                mirror = None
            if static is None:
                continue
            if mirror is None:
                await self._create_mirror(static)
            await self._write_status(_uid(static))

    # -- loop -----------------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Read files and keep mirror pods until cancelled (static pods keep running when it is)."""
        while True:
            self._wake.clear()
            self.sync_files()
            try:
                await self.sync_mirrors()
            except errors.APIError as err:
                log.warning("mirror pod sync failed node=%s err=%s", self.options.node_name, err)
            await self._idle()

    async def _idle(self) -> None:
        waits: set[asyncio.Future[Any]] = {asyncio.ensure_future(self._wake.wait()),
                                           asyncio.ensure_future(self.clock.sleep(self.options.file_check_frequency))}
        for uid in self._waiting:  # a replaced pod's predecessor terminating
            for worker_uid, worker in list(self.workers.workers.items()):
                if full_name(worker.pod) == full_name(self.pods[uid]):
                    waits.add(asyncio.ensure_future(self.workers.wait_terminated(worker_uid)))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await cancel_and_wait(waits)


class RoutingSink:
    """The pod workers' status sink: static pods go to :class:`StaticPods`, the rest to the API sink (set
    once the API server answered; no pod from the API exists before that)."""

    def __init__(self, static: StaticPods | None) -> None:
        self.static = static
        self.api: PodStatusSink | None = None

    async def update_status(self, pod: Mapping[str, Any], status: dict[str, Any]) -> None:
        if self.static is not None and is_static(pod):
            await self.static.update_status(pod, status)
        elif self.api is not None:
            await self.api.update_status(pod, status)

    async def terminated(self, pod: Mapping[str, Any]) -> None:
        if self.static is not None and is_static(pod):
            await self.static.terminated(pod)
        elif self.api is not None:
            await self.api.terminated(pod)
