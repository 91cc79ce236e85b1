"""kube-scheduler as a component: the in-process :class:`~sampan.scheduler.scheduler.Scheduler` wired to
the API server and nothing else.

::

    SchedulerApp.run()
      ├─ metrics server (/metrics, /healthz)          always, leader or not (as upstream)
      ├─ loop-stall monitor (sampan_event_loop_stall_seconds*)
      └─ leader election on Lease kube-system/kube-scheduler  (or straight to "lead" with leader_elect off),
         on its own thread, loop and client (docs/liveness.md), so no scheduling work delays a renewal
           └─ lead: informers (pods with the phase selector; nodes; namespaces; PVCs, PVs, classes; services,
                    RCs, RSs, StatefulSets) → EventHandlers
                    wait until every handler has seen its initial list
                    event recorder task + Scheduler.run (binds through pods/binding, writes pods/status,
                    deletes preemption victims, records events)

Losing leadership cancels the scheduling work at once (no binding is sent after that) and ends
:meth:`SchedulerApp.run` with :class:`LeadershipLost` (upstream exits the process so a restart starts from
clean caches; ``sampan scheduler`` exits 1 and its supervisor restarts it). A loop stalled for longer than
the renew deadline counts as lost too. Cancelling ``run`` stops everything and releases the lease.

States for tests and probes: :attr:`ready` is set once the caches have synced and scheduling began;
:attr:`scheduler` is built in ``__init__`` (no I/O), so its queue and stats can be read at any time.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from dataclasses import dataclass, field

from sampan._lib.backoff import Backoff
from sampan._lib.clock import Clock, RealClock
from sampan._lib.loopstall import LoopStallMonitor
from sampan._lib.metrics_server import RegistryServer
from sampan.api import errors
from sampan.client import Client, RESTConfig, SharedInformerFactory
from sampan.client import metrics as client_metrics
from sampan.client.cache.reflector import ReflectorOptions
from sampan.client.cache.shared_informer import HandlerRegistration
from sampan.client.cache.transforms import component_transform
from sampan.client.leaderelection import IsolatedLeaderElector, LeaderCallbacks, LeaderElectionConfig
from sampan.client.record import EventRecorder as ClientEventRecorder
from sampan.scheduler.api_seams import APIBinder, APIEventRecorder, APIEvictor, APIPodStatusWriter, APIVolumeWriter
from sampan.scheduler.informers import POD_FIELD_SELECTOR, connect
from sampan.scheduler.metrics import SchedulerMetrics
from sampan.scheduler.scheduler import Scheduler, SchedulerOptions

log = logging.getLogger(__name__)


class LeadershipLost(RuntimeError):
    """This replica stopped being the leader; the process should exit (and be restarted)."""


def default_identity() -> str:
    """``<hostname>_<random>``, as upstream's scheduler names itself in the lease."""
    return f"{socket.gethostname()}_{uuid.uuid4()}"


@dataclass(frozen=True)
class SchedulerAppOptions:
    """How to run the scheduler. Defaults are upstream's.

    ``metrics_port``: where ``/metrics`` is served (upstream's secure port is 10259; None disables it,
    0 picks a free port). ``sync_timeout``: how long to wait for the first LIST of each informer before
    giving up (the run fails, and a supervisor restarts it)."""

    rest: RESTConfig
    scheduler: SchedulerOptions = field(default_factory=SchedulerOptions)
    leader_elect: bool = True
    lease_namespace: str = "kube-system"
    lease_name: str = "kube-scheduler"
    identity: str = ""
    leader_election: LeaderElectionConfig = field(default_factory=LeaderElectionConfig)
    metrics_bind_address: str = "127.0.0.1"
    metrics_port: int | None = 10259
    sync_timeout: float = 120.0


class SchedulerApp:
    def __init__(self, options: SchedulerAppOptions, *, clock: Clock | None = None) -> None:
        self.options = options
        self.clock = clock or RealClock()
        self.identity = options.identity or default_identity()
        self.metrics = SchedulerMetrics(pending=self._pending)
        self.stall_monitor = LoopStallMonitor("kube-scheduler")
        self.stall_monitor.register(self.metrics.registry)
        client_metrics.expose(self.metrics.registry)  # rest_client_*, leader_election_master_status
        self.scheduler: Scheduler | None = None
        self.metrics_server: RegistryServer | None = None
        self.ready = asyncio.Event()
        self.elector: IsolatedLeaderElector | None = None

    def _pending(self) -> dict[str, int]:
        return self.scheduler.queue.pending() if self.scheduler is not None else {}

    async def run(self) -> None:
        """Run until cancelled (or until leadership is lost: :class:`LeadershipLost`)."""
        if self.options.metrics_port is not None:
            self.metrics_server = RegistryServer(self.metrics.registry, name="scheduler",
                                                 bind_address=self.options.metrics_bind_address,
                                                 port=self.options.metrics_port)
            await self.metrics_server.start()
        monitor = asyncio.create_task(self.stall_monitor.run(), name="scheduler-loop-stall")
        try:
            # events get a client of their own, as upstream's (``createClients``: a second clientset, so its
            # own QPS/burst): sharing one budget, every Scheduled event took a binding's token and halved the
            # rate pods are bound at the configured --kube-api-qps
            async with Client(self.options.rest, clock=self.clock) as client, \
                    Client(self.options.rest, clock=self.clock) as event_client:
                await self._wait_for_api(client)
                if not self.options.leader_elect:
                    await self._lead(client, event_client)
                    return
                failure: list[BaseException] = []

                async def lead() -> None:
                    try:
                        await self._lead(client, event_client)
                    except Exception as e:  # reported below, not as a lost lease
                        failure.append(e)
                        raise

                self.elector = elector = IsolatedLeaderElector(
                    self.options.rest, LeaderCallbacks(on_started_leading=lead), self.options.leader_election,
                    namespace=self.options.lease_namespace, name=self.options.lease_name, identity=self.identity,
                    healthy=self._loop_health, own_thread=isinstance(self.clock, RealClock), clock=self.clock)
                await elector.run()
                if failure:
                    raise failure[0]
                raise LeadershipLost(f"lost the lease {elector.describe()} identity={self.identity}")
        finally:
            monitor.cancel()
            await asyncio.gather(monitor, return_exceptions=True)
            if self.metrics_server is not None:
                await self.metrics_server.stop()

    def _loop_health(self) -> str | None:
        """Called on the election thread: a loop stuck for longer than the renew deadline is not alive."""
        stall = self.stall_monitor.current_stall()
        if stall > self.options.leader_election.renew_deadline:
            return f"event loop stalled for {stall:.1f}s"
        return None

    async def _wait_for_api(self, client: Client) -> None:
        """Wait (with back-off, 0.8 s doubling to 30 s) until the API server answers ``/version``, so a
        scheduler started together with its API server does not crash-loop."""
        backoff = Backoff(clock=self.clock)
        while True:
            try:
                await client.version()
                return
            except errors.APIError as e:  # ConnectionFailed included
                log.info("waiting for the API server error=%s", e)
            await backoff.wait()

    async def _lead(self, client: Client, event_client: Client) -> None:
        pods = await client.resource("v1", "pods")
        events = await event_client.resource("v1", "events")
        first_profile = self.options.scheduler.config.profiles[0].scheduler_name
        # Upstream's events recorder reports as ``<schedulerName>-<hostname>``, not the lease identity.
        client_recorder = ClientEventRecorder(events, component=first_profile,
                                              reporting_instance=f"{first_profile}-{socket.gethostname()}",
                                              clock=self.clock)
        self.scheduler = sched = Scheduler(
            self.options.scheduler, clock=self.clock, binder=APIBinder(pods),
            status_writer=APIPodStatusWriter(pods, clock=self.clock),
            evictor=APIEvictor(pods, recorder=client_recorder, clock=self.clock),
            recorder=APIEventRecorder(client_recorder), metrics=self.metrics,
            volume_writer=APIVolumeWriter(await client.resource("v1", "persistentvolumes"),
                                          await client.resource("v1", "persistentvolumeclaims")),
        )
        # cached objects without managedFields (upstream's scheduler: WithTransform(TransformStripManagedFields))
        # and with shared strings; one interner for both factories (node names in pods and Nodes)
        transform = component_transform()
        paged = ReflectorOptions(paged_initial_list=True)  # never one whole-list body of every pod
        pod_factory = SharedInformerFactory(client, field_selector=POD_FIELD_SELECTOR, clock=self.clock,
                                            transform=transform, reflector_options=paged)
        factory = SharedInformerFactory(client, clock=self.clock, transform=transform, reflector_options=paged)
        regs = connect(sched.handlers, pods=pod_factory.informer("v1", "pods"),
                       nodes=factory.informer("v1", "nodes"), namespaces=factory.informer("v1", "namespaces"),
                       claims=factory.informer("v1", "persistentvolumeclaims"),
                       volumes=factory.informer("v1", "persistentvolumes"),
                       classes=factory.informer("storage.k8s.io/v1", "storageclasses"),
                       workloads={"Service": factory.informer("v1", "services"),
                                  "ReplicationController": factory.informer("v1", "replicationcontrollers"),
                                  "ReplicaSet": factory.informer("apps/v1", "replicasets"),
                                  "StatefulSet": factory.informer("apps/v1", "statefulsets")})
        pod_factory.start()
        factory.start()
        try:
            await self._wait_synced(regs)
            log.info("scheduler caches synced identity=%s nodes=%d", self.identity, sched.cache.node_count)
            self.ready.set()
            recording = asyncio.create_task(client_recorder.run(), name="scheduler-events")
            try:
                await sched.run()
            finally:
                recording.cancel()
                await asyncio.gather(recording, return_exceptions=True)
        finally:
            self.ready.clear()
            await asyncio.gather(pod_factory.shutdown(), factory.shutdown())

    async def _wait_synced(self, regs: list[HandlerRegistration]) -> None:
        """Wait until every handler has handled its informer's initial list (a local check, 10 ms apart;
        the deadline is on the event loop's clock, so a fake component clock cannot stall it)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.sync_timeout
        while not all(r.has_synced() for r in regs):
            if loop.time() > deadline:
                raise TimeoutError(f"informer caches did not sync within {self.options.sync_timeout}s")
            await asyncio.sleep(0.01)
