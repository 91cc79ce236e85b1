"""One worker per pod: drives the pod's containers through the runtime and reports its status.

A :class:`PodWorker` repeatedly *syncs* its pod (level-based, idempotent, like upstream's ``SyncPod``):

1. find or create the pod's sandbox (an existing one is re-adopted, so a restarted kubelet never
   duplicates containers);
2. set up (or refresh) volumes;
3. run init containers one at a time, in order, each to successful completion;
4. start each ephemeral container (``kubectl debug``) once, before the init containers as upstream (so a
   pod stuck initialising can be debugged): never restarted, never probed, and joined to its target's
   process namespace when it names one;
5. then start every regular container; restart exited ones per ``restartPolicy`` (Always / OnFailure /
   Never) behind the CrashLoopBackOff back-off; run liveness/readiness/startup probe workers for
   running containers and restart a container whose liveness (or startup) probe fails;
6. compute the status and hand it to the :class:`PodStatusSink` when it changed.

It syncs again after ``sync_period`` (the PLEG relist period), when the pod spec changes, or when a
probe result flips. Worker states::

    syncing <-> idle --(deletion / remove)--> terminating (SIGTERM, grace, SIGKILL) --> terminated

:class:`~sampan.kubelet.pod_workers.PodWorkers` owns the workers.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sampan._lib import tracing
from sampan._lib.clock import Clock
from sampan._lib.slicing import TurnBudget
from sampan.kubelet import probes
from sampan.kubelet.api_status import EventSink, container_field_path, pod_ref
from sampan.kubelet.backoff import DEFAULT_POLICY, RestartBackoff
from sampan.kubelet.containers import (
    CONTAINER_HASH,
    container_config,
    group_by_name,
    sandbox_config,
    spec_hash,
)
from sampan.kubelet.images.manager import ImageError, ImageManager
from sampan.kubelet.network.pod_files import PodNetworkFiles
from sampan.kubelet.pod_log import POD_LOG
from sampan.kubelet.pod_status import PodRuntimeView, compute_pod_status
from sampan.kubelet.runtime.interface import (
    ContainerState,
    ContainerStatus,
    NotFoundError,
    Runtime,
    RuntimeFailure,
    SandboxState,
)
from sampan.kubelet.static_pods.manifests import CONFIG_SOURCE, SOURCE_FILE
from sampan.kubelet.static_pods.runtime import StaticPodRuntime
from sampan.kubelet.status_manager import PodStatusSink, pod_key
from sampan.kubelet.volumes.manager import VolumeManager
from sampan.kubelet.volumes.objects import VolumeError

log = logging.getLogger(__name__)

DEFAULT_GRACE = 30.0
_PROBES = (("startupProbe", probes.STARTUP), ("livenessProbe", probes.LIVENESS), ("readinessProbe", probes.READINESS))


@dataclass(frozen=True, slots=True)
class PodWorkerOptions:
    sync_period: float = 1.0
    """Seconds between syncs of an idle pod (upstream's PLEG relist period)."""
    host_ip: str = "127.0.0.1"
    node_allocatable: Mapping[str, str] = field(default_factory=dict)
    pids_limit: int | None = None
    backoff_policy: Any = DEFAULT_POLICY
    pod_files: PodNetworkFiles | None = None
    """/etc/hosts, /etc/resolv.conf and service variables for each container (None: neither)."""
    backoff_event_period: float = 10.0
    """While a container waits in CrashLoopBackOff, its ``BackOff`` event is recorded again this often
    (upstream re-syncs a pod in back-off every 10 s and records it each time; the recorder counts them)."""


def grace_period(pod: Mapping[str, Any]) -> float:
    md, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    for v in (md.get("deletionGracePeriodSeconds"), spec.get("terminationGracePeriodSeconds")):
        if isinstance(v, int | float) and not isinstance(v, bool):
            return float(max(0, v))
    return DEFAULT_GRACE


@dataclass(slots=True)
class WorkerShared:
    runtime: Runtime
    volumes: VolumeManager
    sink: PodStatusSink
    backoff: RestartBackoff
    clock: Clock
    options: PodWorkerOptions
    images: ImageManager | None = None
    """Pulls images before containers start (runtimes with an ImageService); None: images are labels."""
    events: EventSink | None = None
    """Where probe events go (``Unhealthy``, ``Killing``); None: not recorded."""
    turns: TurnBudget = field(default_factory=TurnBudget)
    """Bounds the loop turn of all workers together: 110 workers starting at once run their syncs over
    several turns of ≤ ~10 ms, not one of ~55 ms (docs/liveness.md)."""


class PodWorker:
    """Drives one pod. ``pod`` is the latest spec seen; ``terminating`` the grace to stop with, once set."""

    def __init__(self, pod: Mapping[str, Any], shared: WorkerShared) -> None:
        self.pod = pod
        self.s = shared
        self.uid = (pod.get("metadata") or {}).get("uid", "")
        self.terminating: float | None = None
        self.done = False
        self.view = PodRuntimeView(host_ip=shared.options.host_ip)
        self.sandbox_id = ""
        self.last_status: dict[str, Any] | None = (pod.get("status") or None) and dict(pod["status"])
        self._wake = asyncio.Event()
        self._probes: dict[tuple[str, str], tuple[probes.ProbeWorker, asyncio.Task[None]]] = {}
        self._next: float = shared.options.sync_period
        self._backoff_event_at: dict[str, float] = {}
        """Container name -> monotonic time its last ``BackOff`` event was recorded."""
        self.syncs = 0
        """How many syncs have completed (observability, and tests waiting for a quiet period)."""

    def update(self, pod: Mapping[str, Any]) -> None:
        self.pod = pod
        if (pod.get("metadata") or {}).get("deletionTimestamp") and self.terminating is None:
            self.terminate(grace_period(pod))
        self._wake.set()

    def terminate(self, grace: float) -> None:
        self.terminating = grace if self.terminating is None else min(grace, self.terminating)
        self._wake.set()

    async def run(self) -> None:
        try:
            while self.terminating is None:
                self._next = self.s.options.sync_period
                await self.s.turns.checkpoint()
                try:
                    if tracing.STATE.on and self.syncs == 0:  # the pod's start; later syncs trace their actions
                        with tracing.span("kubelet.sync", self._span_attributes()):
                            await self.sync()
                    else:
                        await self.sync()
                except RuntimeFailure as err:
                    log.warning("pod sync failed pod=%s err=%s", pod_key(self.pod), err.message)
                except (OSError, TimeoutError, ValueError) as err:  # a sick runtime: retry next period
                    log.warning("pod sync failed pod=%s err=%r", pod_key(self.pod), err)
                self.syncs += 1
                await self._idle(self._next)
            await self._terminate(self.terminating)
        finally:
            self._stop_probes(keep=set())
            self.done = True

    def _span_attributes(self, **extra: tracing.AttrValue) -> dict[str, tracing.AttrValue]:
        md = self.pod.get("metadata") or {}
        return {tracing.UID: self.uid, tracing.NAMESPACE: md.get("namespace", ""), tracing.NAME: md.get("name", ""),
                tracing.KIND: "pods", **extra}

    async def _idle(self, seconds: float) -> None:
        if self._wake.is_set():
            self._wake.clear()
            return
        waiter = asyncio.ensure_future(self._wake.wait())
        sleeper = asyncio.ensure_future(self.s.clock.sleep(seconds))
        try:
            await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            sleeper.cancel()
        self._wake.clear()

    # -- sync ----------------------------------------------------------------------------------------

    async def _ensure_sandbox(self) -> None:
        if self.sandbox_id:  # known from an earlier sync; forgotten when the runtime no longer has it
            return
        sandboxes = await self.s.runtime.list_pod_sandboxes(self.uid)
        ready = [sb for sb in sandboxes if sb.state is SandboxState.READY]
        if ready:
            self.sandbox_id, self.view.pod_ip = ready[0].id, ready[0].ip
            return
        with tracing.span("kubelet.sandbox", self._span_attributes() if tracing.STATE.on else None):
            self.sandbox_id = await self.s.runtime.run_pod_sandbox(sandbox_config(self.pod, len(sandboxes)))
        self.view.pod_ip = next((sb.ip for sb in await self.s.runtime.list_pod_sandboxes(self.uid)
                                 if sb.id == self.sandbox_id), "")
        POD_LOG.info("pod sandbox started pod=%s", pod_key(self.pod))

    async def sync(self) -> None:
        await self._ensure_sandbox()
        if self.view.start_time is None:
            self.view.start_time = self.s.clock.wall()
        spec = self.pod.get("spec") or {}
        records = group_by_name(await self.s.runtime.list_containers(self.sandbox_id))
        self.view.containers = records
        await self._learn_images(spec, records)
        try:
            await self.s.volumes.refresh_tokens(self.pod)
            volumes = self.s.volumes.setup(self.pod)
        except VolumeError as err:
            for c in _all_containers(spec):
                if c.get("name") not in records:
                    self.view.waiting[c.get("name", "")] = ("ContainerCreating", f"MountVolume.SetUp failed: {err}")
            await self._report()
            return
        policy = spec.get("restartPolicy") or "Always"
        await self._sync_ephemeral(spec.get("ephemeralContainers") or [], records, volumes)
        if await self._sync_init(spec.get("initContainers") or [], records, volumes, policy):
            running = set()
            for c in spec.get("containers") or []:
                cid = await self._sync_container(c, records.get(c.get("name", ""), []), volumes, policy)
                if cid:
                    running.add(cid)
            self._stop_probes(keep=running)
        self.view.containers = group_by_name(await self.s.runtime.list_containers(self.sandbox_id))
        await self._report()

    def _images(self) -> ImageManager | None:
        """The image manager, except for static pods that a static-pod split runs on an image-less runtime
        (the control plane on the process runtime under a containerd node): their image is a label."""
        if self.s.images is not None and isinstance(self.s.runtime, StaticPodRuntime) and (
                (self.pod.get("metadata") or {}).get("annotations") or {}).get(CONFIG_SOURCE) == SOURCE_FILE:
            return None
        return self.s.images

    async def _learn_images(self, spec: Mapping[str, Any], records: dict[str, list[ContainerStatus]]) -> None:
        """image/imageID of containers this worker did not start (re-adopted after a kubelet restart)."""
        if self._images() is None:
            return
        for c in _all_containers(spec):
            name = c.get("name", "")
            if name in records and name not in self.view.images:
                pulled = await self.s.images.describe(str(c.get("image") or ""))  # type: ignore[union-attr]
                if pulled is not None:
                    self.view.images[name] = (pulled.image, pulled.image_id)

    async def _sync_init(self, inits: list[Any], records: dict[str, list[ContainerStatus]],
                         volumes: Mapping[str, str], policy: str) -> bool:
        """Advance init containers; True once all have succeeded."""
        for c in inits:
            name = c.get("name", "")
            rs = records.get(name, [])
            latest = rs[0] if rs else None
            if latest is not None and latest.state is ContainerState.EXITED and latest.exit_code == 0:
                continue
            if latest is None:
                await self._start(c, 0, volumes)
            elif latest.state is ContainerState.EXITED and policy != "Never":
                await self._restart_after_backoff(c, rs, volumes)
            return False
        return True

    async def _sync_ephemeral(self, ephemeral: list[Any], records: dict[str, list[ContainerStatus]],
                              volumes: Mapping[str, str]) -> None:
        """Start each ephemeral container that has no runtime record yet (a failed create is tried again next
        sync); one that ran is never started again, whatever its exit (upstream's ``computePodActions``)."""
        for c in ephemeral:
            name = str(c.get("name", ""))
            if records.get(name):
                continue
            target, target_id = c.get("targetContainerName"), ""
            if target:
                running = [r for r in records.get(str(target), []) if r.state is ContainerState.RUNNING]
                if not running:
                    self.view.waiting[name] = ("CreateContainerConfigError",
                                               f"unable to find target container {target}")
                    continue
                target_id = running[0].id
            await self._start(c, 0, volumes, target_id=target_id)

    async def _sync_container(self, c: Mapping[str, Any], rs: list[ContainerStatus],
                              volumes: Mapping[str, str], policy: str) -> str | None:
        """Bring one regular container to its desired state; returns its id when it is running."""
        latest = rs[0] if rs else None
        if latest is None:
            await self._start(c, 0, volumes)
            return None
        if latest.state is ContainerState.CREATED:
            await self.s.runtime.start_container(latest.id)
            return None
        if latest.state is ContainerState.RUNNING and CONTAINER_HASH in latest.labels \
                and latest.labels[CONTAINER_HASH] != spec_hash(c):  # one hash a sync (JSON + sha256), was two
            log.info("container spec changed, will be restarted pod=%s container=%s", pod_key(self.pod), c.get("name"))
            self._stop_probes(keep=set(), only=latest.id)
            await self.s.runtime.stop_container(latest.id, grace_period(self.pod))
            for old in rs[1:]:
                await self.s.runtime.remove_container(old.id)
            await self._start(c, latest.attempt + 1, volumes)
            return None
        if latest.state is ContainerState.RUNNING:
            self.view.waiting.pop(c.get("name", ""), None)
            failed = self._ensure_probes(c, latest)
            if failed is not None:
                log.info("container failed %s probe, will be restarted pod=%s container=%s",
                         failed, pod_key(self.pod), c.get("name"))
                self._event("Normal", "Killing", f"Container {c.get('name', '')} failed {failed} probe, "
                                                 "will be restarted", container=str(c.get("name", "")))
                self._stop_probes(keep=set(), only=latest.id)
                await self.s.runtime.stop_container(latest.id, grace_period(self.pod))
                return None
            return latest.id
        restart = policy == "Always" or (policy == "OnFailure" and latest.exit_code != 0)
        if restart:
            await self._restart_after_backoff(c, rs, volumes)
        return None

    async def _restart_after_backoff(self, c: Mapping[str, Any], rs: list[ContainerStatus],
                                     volumes: Mapping[str, str]) -> None:
        name, latest = c.get("name", ""), rs[0]
        left = self.s.backoff.remaining(f"{self.uid}/{name}", latest.finished_at)
        if left > 0:
            md = self.pod.get("metadata") or {}
            delay = self.s.backoff.delay(f"{self.uid}/{name}")
            self.view.waiting[name] = ("CrashLoopBackOff", f"back-off {_dur(delay)} restarting failed container={name} "
                                       f"pod={md.get('name')}_{md.get('namespace')}({self.uid})")
            self._backoff_event(name)
            self._next = min(self._next, left, self.s.options.backoff_event_period)
            return
        self._backoff_event_at.pop(name, None)
        for old in rs[1:]:  # keep the newest exited record for lastState and --previous logs
            await self.s.runtime.remove_container(old.id)
        await self._start(c, latest.attempt + 1, volumes)

    async def _start(self, c: Mapping[str, Any], attempt: int, volumes: Mapping[str, str], *,
                     target_id: str = "") -> None:
        if tracing.STATE.on:
            with tracing.span("kubelet.container_start", self._span_attributes(
                    container=str(c.get("name", "")), image=str(c.get("image", "")), attempt=attempt)):
                await self._start_container(c, attempt, volumes, target_id=target_id)
            return
        await self._start_container(c, attempt, volumes, target_id=target_id)

    async def _start_container(self, c: Mapping[str, Any], attempt: int, volumes: Mapping[str, str], *,
                               target_id: str = "") -> None:
        name = c.get("name", "")
        try:
            images = self._images()
            if images is not None:
                pulled = await images.ensure_image(self.pod, c)
                self.view.images[name] = (pulled.image, pulled.image_id)
            files = self.s.options.pod_files
            # the pod's hosts/resolv.conf files are read and written on a worker thread (docs/liveness.md)
            extra_mounts = await asyncio.to_thread(files.mounts, self.pod, c, self.view.pod_ip) if files else ()
            cfg = container_config(self.pod, c, attempt=attempt, volumes=volumes, objects=self.s.volumes.objects,
                                   node_allocatable=self.s.options.node_allocatable,
                                   pids_limit=self.s.options.pids_limit,
                                   service_env=files.env(self.pod) if files else None,
                                   extra_mounts=extra_mounts, target_id=target_id)
            cid = await self.s.runtime.create_container(self.sandbox_id, cfg)
        except RuntimeFailure as err:
            log.info("container not created pod=%s container=%s reason=%s message=%s",
                     pod_key(self.pod), name, err.reason, err.message)
            if isinstance(err, NotFoundError):  # the sandbox is gone: make a new one next sync
                self.sandbox_id = ""
            if isinstance(err, ImageError) and err.retry_after > 0:  # try the pull again when back-off ends
                self._next = min(self._next, err.retry_after)
            self.view.waiting[name] = (err.reason, err.message)
            return
        self.view.waiting.pop(name, None)
        await self.s.runtime.start_container(cid)
        log.debug("container started pod=%s container=%s attempt=%d", pod_key(self.pod), name, attempt)

    # -- probes --------------------------------------------------------------------------------------

    def _ensure_probes(self, c: Mapping[str, Any], st: ContainerStatus) -> str | None:
        """Start the probe workers of a running container; returns the probe kind that failed, if any."""
        for field_name, kind in _PROBES:
            spec = c.get(field_name)
            key = (st.id, kind)
            if not spec or key in self._probes:
                continue
            handler = probes.make_handler(spec, container=c, container_id=st.id, pod_ip=self.view.pod_ip,
                                          runtime=self.s.runtime)
            gate = functools.partial(self._startup_ok, st.id) if kind != probes.STARTUP else _always
            worker = probes.ProbeWorker(kind, probes.ProbeTiming.from_spec(spec), handler, started_at=st.started_at,
                                        clock=self.s.clock, on_change=self._wake.set, gate=gate,
                                        on_failure=functools.partial(self._probe_failed, kind,
                                                                     str(c.get("name", ""))))
            task = asyncio.create_task(guarded(worker.run, f"{pod_key(self.pod)} {c.get('name')} {kind}"))
            self._probes[key] = (worker, task)
        for (cid, kind), (worker, _) in self._probes.items():
            if cid != st.id:
                continue
            if kind == probes.READINESS:
                self.view.ready[cid] = worker.result
            elif kind == probes.STARTUP:
                self.view.started[cid] = worker.result
            if kind == probes.LIVENESS and not worker.result:
                return kind
            if kind == probes.STARTUP and not worker.result and worker.probes >= worker.timing.failure_threshold:
                return kind
        return None

    def _probe_failed(self, kind: str, container: str, message: str) -> None:
        self._event("Warning", "Unhealthy", f"{kind.capitalize()} probe failed: {message}", container=container)

    def _backoff_event(self, name: str) -> None:
        """``BackOff`` on entering back-off and again every ``backoff_event_period`` while it lasts (the
        recorder folds the repeats into one Event's ``count``)."""
        now = self.s.clock.monotonic()
        last = self._backoff_event_at.get(name)
        if last is not None and now - last < self.s.options.backoff_event_period:
            return
        self._backoff_event_at[name] = now
        self._event("Warning", "BackOff", f"Back-off restarting failed container {name} in pod {pod_ref(self.pod)}",
                    container=name)

    def _event(self, type_: str, reason: str, message: str, *, container: str = "") -> None:
        if self.s.events is not None:
            path = container_field_path(self.pod, container) if container else ""
            self.s.events.event(dict(self.pod), type_, reason, message, field_path=path)

    def _startup_ok(self, cid: str) -> bool:
        entry = self._probes.get((cid, probes.STARTUP))
        return entry is None or entry[0].result

    def _stop_probes(self, *, keep: set[str], only: str | None = None) -> None:
        for key in list(self._probes):
            cid = key[0]
            if (only is not None and cid == only) or (only is None and cid not in keep):
                self._probes.pop(key)[1].cancel()
                self.view.ready.pop(cid, None)
                self.view.started.pop(cid, None)

    # -- status and termination ------------------------------------------------------------------------

    async def _report(self, *, terminal: bool = False) -> None:
        status = compute_pod_status({**self.pod, "status": self.last_status or {}}, self.view,
                                    now=self.s.clock.wall(), terminal=terminal)
        if status != self.last_status:
            self.last_status = status
            if tracing.STATE.on:
                with tracing.span("kubelet.status_write", self._span_attributes(phase=str(status.get("phase", "")))):
                    await self.s.sink.update_status(self.pod, status)
                return
            await self.s.sink.update_status(self.pod, status)

    async def _terminate(self, grace: float) -> None:
        POD_LOG.info("pod terminating pod=%s grace=%.0fs", pod_key(self.pod), grace)
        self._stop_probes(keep=set())
        if not self.sandbox_id:
            for sb in await self.s.runtime.list_pod_sandboxes(self.uid):
                self.sandbox_id = sb.id
        if self.sandbox_id:
            running = [c for c in await self.s.runtime.list_containers(self.sandbox_id)
                       if c.state is ContainerState.RUNNING]
            await asyncio.gather(*(self.s.runtime.stop_container(c.id, grace) for c in running))
            await self.s.runtime.stop_pod_sandbox(self.sandbox_id)
            self.view.containers = group_by_name(await self.s.runtime.list_containers(self.sandbox_id))
        self.view.waiting.clear()
        await self._report(terminal=True)
        await self.s.sink.terminated(self.pod)
        if self.sandbox_id:
            await self.s.runtime.remove_pod_sandbox(self.sandbox_id)
        self.s.volumes.teardown(self.uid)
        self.s.backoff.forget_pod(self.uid)
        if self.s.images is not None:
            self.s.images.forget_pod(self.uid)
        POD_LOG.info("pod terminated pod=%s", pod_key(self.pod))


def _all_containers(spec: Mapping[str, Any]) -> list[Any]:
    """Init, regular and ephemeral containers of a pod spec."""
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or []),
            *(spec.get("ephemeralContainers") or [])]


def _always() -> bool:
    return True


def _dur(seconds: float) -> str:
    whole = int(seconds)
    m, s = divmod(whole, 60)
    return f"{m}m{s}s" if m else f"{s}s"


async def guarded(run: Callable[[], Awaitable[None]], what: str) -> None:
    """Run a background coroutine; log (never propagate) its failure."""
    try:
        await run()
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("background task failed task=%s", what)
