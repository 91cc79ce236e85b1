"""The controller manager: every chosen controller in one process, on one shared informer factory.

``ControllerManager.run`` optionally wins leader election first (a Lease ``kube-system/kube-controller-
manager``), then :meth:`ControllerManager.run_controllers` builds a :class:`ControllerContext`, asks each
enabled controller's factory in :data:`CONTROLLERS` for its :class:`~sampan.controllers.runner.Controller`,
wraps each in a :class:`~sampan.controllers.runner.Runner`, starts the informers, and runs the runners and
the event recorders in one TaskGroup. Losing leadership cancels them all and ``run`` raises
:class:`LeadershipLost` (upstream exits the process; so does ``sampan controller-manager``).

Liveness (docs/liveness.md): leader election runs on its own thread, loop and client
(:class:`~sampan.client.leaderelection.IsolatedLeaderElector`), so no burst of creates queued on the
work client's rate limiter and no long reconcile delays a renewal; a loop-stall monitor measures the
longest turn (``sampan_event_loop_stall_seconds_max`` in :attr:`ControllerManager.registry`), and a loop
stalled longer than the renew deadline gives the lease up.

Adding a controller: write a factory ``def _mine(ctx: ControllerContext) -> Controller`` that imports its
module lazily, and add it to :data:`CONTROLLERS` under its upstream name (also listed in
:data:`~sampan.controllers.options.KNOWN_CONTROLLERS`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import logging
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry

from sampan._lib.clock import Clock, RealClock
from sampan._lib.loopstall import LoopStallMonitor
from sampan.client import Client, ResourceClient, SharedInformerFactory
from sampan.client import metrics as client_metrics
from sampan.client.cache.reflector import ReflectorOptions
from sampan.client.cache.transforms import component_transform
from sampan.client.leaderelection import IsolatedLeaderElector, LeaderCallbacks, LeaderElectionConfig
from sampan.client.record import EventRecorder
from sampan.controllers.options import KNOWN_CONTROLLERS, ControllerManagerOptions
from sampan.controllers.runner import Controller, Runner

log = logging.getLogger(__name__)

__all__ = ["CONTROLLERS", "ControllerContext", "ControllerManager", "ControllerManagerOptions", "LeadershipLost"]


class LeadershipLost(RuntimeError):
    """The manager stopped leading; its controllers were stopped."""


@dataclass
class ControllerContext:
    """What a controller factory gets: the shared client and informer factory, the options, the clock, and
    event recorders (one per component name, run by the manager)."""

    client: Client
    informers: SharedInformerFactory
    options: ControllerManagerOptions
    clock: Clock
    events: ResourceClient
    """core/v1 events, for the recorders."""
    _recorders: dict[str, EventRecorder] = field(default_factory=dict)

    def recorder(self, component: str) -> EventRecorder:
        """The event recorder for ``component`` (e.g. ``replicaset-controller``); created on first ask."""
        rec = self._recorders.get(component)
        if rec is None:
            rec = EventRecorder(self.events, component=component, clock=self.clock)
            self._recorders[component] = rec
        return rec

    def recorders(self) -> list[EventRecorder]:
        return list(self._recorders.values())


ControllerFactory = Callable[[ControllerContext], Controller]


def _replicaset(ctx: ControllerContext) -> Controller:
    from sampan.controllers.replicaset.controller import ReplicaSetController

    return ReplicaSetController(ctx)


def _replicationcontroller(ctx: ControllerContext) -> Controller:
    from sampan.controllers.replicaset.controller import REPLICATION_CONTROLLER, ReplicaSetController

    return ReplicaSetController(ctx, REPLICATION_CONTROLLER)


def _deployment(ctx: ControllerContext) -> Controller:
    from sampan.controllers.deployment.controller import DeploymentController

    return DeploymentController(ctx)


def _job(ctx: ControllerContext) -> Controller:
    from sampan.controllers.job.controller import JobController

    return JobController(ctx)


def _ttl_after_finished(ctx: ControllerContext) -> Controller:
    from sampan.controllers.job.ttl import TTLAfterFinishedController

    return TTLAfterFinishedController(ctx)


def _nodelifecycle(ctx: ControllerContext) -> Controller:
    from sampan.controllers.nodelifecycle.controller import NodeLifecycleController

    o = ctx.options
    return NodeLifecycleController(
        ctx.client, ctx.informers, monitor_period=o.node_monitor_period, grace_period=o.node_monitor_grace_period,
        startup_grace_period=o.node_startup_grace_period, eviction_rate=o.node_eviction_rate,
        secondary_eviction_rate=o.secondary_node_eviction_rate,
        large_cluster_threshold=o.large_cluster_size_threshold, unhealthy_zone_threshold=o.unhealthy_zone_threshold,
        clock=ctx.clock, recorder=ctx.recorder("node-controller"))


def _statefulset(ctx: ControllerContext) -> Controller:
    from sampan.controllers.statefulset.controller import StatefulSetController

    return StatefulSetController(ctx)


def _pv_binder(ctx: ControllerContext) -> Controller:
    from sampan.controllers.volume.binder import PersistentVolumeBinder

    return PersistentVolumeBinder(ctx, create_default_class=ctx.options.create_default_storage_class)


def _pvc_protection(ctx: ControllerContext) -> Controller:
    from sampan.controllers.volume.protection import PVCProtectionController

    return PVCProtectionController(ctx)


def _pv_protection(ctx: ControllerContext) -> Controller:
    from sampan.controllers.volume.protection import PVProtectionController

    return PVProtectionController(ctx)


def _endpoint(ctx: ControllerContext) -> Controller:
    from sampan.controllers.endpoints.controller import EndpointsController

    return EndpointsController(ctx.client, ctx.informers)


def _endpointslice(ctx: ControllerContext) -> Controller:
    from sampan.controllers.endpointslice.controller import EndpointSliceController

    return EndpointSliceController(ctx.client, ctx.informers)


def _garbagecollector(ctx: ControllerContext) -> Controller:
    from sampan.controllers.garbagecollector.controller import GarbageCollector

    return GarbageCollector(ctx.client, ctx.informers, clock=ctx.clock,
                            discovery_period=ctx.options.garbage_collector_discovery_period)


def _namespace(ctx: ControllerContext) -> Controller:
    from sampan.controllers.namespace.controller import NamespaceController

    return NamespaceController(ctx.client, ctx.informers, resync_period=ctx.options.namespace_sync_period,
                               clock=ctx.clock)


def _serviceaccount(ctx: ControllerContext) -> Controller:
    from sampan.controllers.serviceaccount.controller import ServiceAccountController

    return ServiceAccountController(ctx.client, ctx.informers)


def _root_ca_cert_publisher(ctx: ControllerContext) -> Controller:
    from sampan.controllers.rootcacertpublisher.controller import RootCACertPublisher, read_root_ca

    config = ctx.client.config
    root_ca = read_root_ca(ctx.options.root_ca_file, kubeconfig_ca_data=config.ca_data,
                           kubeconfig_ca_file=config.ca_file)
    return RootCACertPublisher(ctx.client, ctx.informers, root_ca=root_ca)


def _csrsigning(ctx: ControllerContext) -> Controller:
    from pathlib import Path

    from sampan._lib.pki import CertificateAuthority, load_cert, load_key
    from sampan.controllers.certificates.signer import CSRSigningController

    o = ctx.options
    ca = CertificateAuthority(load_cert(Path(o.cluster_signing_cert_file)), load_key(Path(o.cluster_signing_key_file)))
    return CSRSigningController(ctx.client, ctx.informers, ca=ca, signing_duration=o.cluster_signing_duration,
                                clock=ctx.clock)


def _csrapproving(ctx: ControllerContext) -> Controller:
    from sampan.controllers.certificates.approver import CSRApprovingController

    return CSRApprovingController(ctx.client, ctx.informers, clock=ctx.clock)


def _csrcleaner(ctx: ControllerContext) -> Controller:
    from sampan.controllers.certificates.cleaner import CSRCleaner

    return CSRCleaner(ctx.client, ctx.informers, clock=ctx.clock)


def _nodeipam(ctx: ControllerContext) -> Controller:
    from sampan.controllers.nodeipam.cidrs import CIDRSet
    from sampan.controllers.nodeipam.controller import NodeIPAMController

    o = ctx.options
    return NodeIPAMController(ctx.client, ctx.informers, cidrs=CIDRSet.parse(o.cluster_cidr, o.node_cidr_mask_size),
                              recorder=ctx.recorder("node-controller"))


def _resourcequota(ctx: ControllerContext) -> Controller:
    from sampan.controllers.resourcequota.controller import ResourceQuotaController

    return ResourceQuotaController(ctx.client, ctx.informers, sync_period=ctx.options.resource_quota_sync_period,
                                   clock=ctx.clock)


def _disruption(ctx: ControllerContext) -> Controller:
    from sampan.controllers.disruption.controller import DisruptionController

    return DisruptionController(ctx.client, ctx.informers, clock=ctx.clock, recorder=ctx.recorder("controllermanager"))


def _service_lb(ctx: ControllerContext) -> Controller:
    from sampan.controllers.servicelb.controller import ServiceLBController
    from sampan.controllers.servicelb.pool import parse_pool

    return ServiceLBController(ctx.client, ctx.informers, pool=parse_pool(ctx.options.load_balancer_ip_range),
                               recorder=ctx.recorder("service-lb-controller"))


def _cronjob(ctx: ControllerContext) -> Controller:
    from sampan.controllers.cronjob.controller import CronJobController

    return CronJobController(ctx)


def _daemonset(ctx: ControllerContext) -> Controller:
    from sampan.controllers.daemonset.controller import DaemonSetController

    return DaemonSetController(ctx)


def _hpa(ctx: ControllerContext) -> Controller:
    from sampan.controllers.podautoscaler.controller import HorizontalPodAutoscalerController

    return HorizontalPodAutoscalerController(ctx)


def _clusterrole_aggregation(ctx: ControllerContext) -> Controller:
    from sampan.controllers.clusterroleaggregation.controller import ClusterRoleAggregationController

    return ClusterRoleAggregationController(ctx.client, ctx.informers)


def _validatingadmissionpolicy_status(ctx: ControllerContext) -> Controller:
    from sampan.controllers.validatingadmissionpolicystatus.controller import (
        ValidatingAdmissionPolicyStatusController,
    )

    return ValidatingAdmissionPolicyStatusController(ctx.client, ctx.informers)


CONTROLLERS: dict[str, ControllerFactory] = {
    "replicaset": _replicaset,
    "replicationcontroller": _replicationcontroller,
    "deployment": _deployment,
    "job": _job,
    "ttl-after-finished": _ttl_after_finished,
    "nodelifecycle": _nodelifecycle,
    "endpoint": _endpoint,
    "endpointslice": _endpointslice,
    "garbagecollector": _garbagecollector,
    "namespace": _namespace,
    "serviceaccount": _serviceaccount,
    "root-ca-cert-publisher": _root_ca_cert_publisher,
    "resourcequota": _resourcequota,
    "disruption": _disruption,
    "service-lb-controller": _service_lb,
    "nodeipam": _nodeipam,
    "csrsigning": _csrsigning,
    "csrapproving": _csrapproving,
    "csrcleaner": _csrcleaner,
    "cronjob": _cronjob,
    "daemonset": _daemonset,
    "statefulset": _statefulset,
    "persistentvolume-binder": _pv_binder,
    "pvc-protection": _pvc_protection,
    "pv-protection": _pv_protection,
    "horizontalpodautoscaling": _hpa,
    "clusterrole-aggregation": _clusterrole_aggregation,
    "validatingadmissionpolicy-status-controller": _validatingadmissionpolicy_status,
}
"""Upstream controller name -> factory. Names in KNOWN_CONTROLLERS without a factory are skipped with a
warning (not built yet)."""

CONTROLLER_MODULES: dict[str, str] = {
    "replicaset": "sampan.controllers.replicaset.controller",
    "replicationcontroller": "sampan.controllers.replicaset.controller",
    "deployment": "sampan.controllers.deployment.controller",
    "job": "sampan.controllers.job.controller",
    "ttl-after-finished": "sampan.controllers.job.ttl",
    "nodelifecycle": "sampan.controllers.nodelifecycle.controller",
    "endpoint": "sampan.controllers.endpoints.controller",
    "endpointslice": "sampan.controllers.endpointslice.controller",
    "garbagecollector": "sampan.controllers.garbagecollector.controller",
    "namespace": "sampan.controllers.namespace.controller",
    "serviceaccount": "sampan.controllers.serviceaccount.controller",
    "root-ca-cert-publisher": "sampan.controllers.rootcacertpublisher.controller",
    "resourcequota": "sampan.controllers.resourcequota.controller",
    "disruption": "sampan.controllers.disruption.controller",
    "service-lb-controller": "sampan.controllers.servicelb.controller",
    "nodeipam": "sampan.controllers.nodeipam.controller",
    "cronjob": "sampan.controllers.cronjob.controller",
    "daemonset": "sampan.controllers.daemonset.controller",
    "statefulset": "sampan.controllers.statefulset.controller",
    "persistentvolume-binder": "sampan.controllers.volume.binder",
    "pvc-protection": "sampan.controllers.volume.protection",
    "pv-protection": "sampan.controllers.volume.protection",
    "horizontalpodautoscaling": "sampan.controllers.podautoscaler.controller",
    "clusterrole-aggregation": "sampan.controllers.clusterroleaggregation.controller",
    "validatingadmissionpolicy-status-controller": "sampan.controllers.validatingadmissionpolicystatus.controller",
    "csrsigning": "sampan.controllers.certificates.signer",
    "csrapproving": "sampan.controllers.certificates.approver",
    "csrcleaner": "sampan.controllers.certificates.cleaner",
}
"""The module each factory imports: loaded on a worker thread before the factories run, so importing
(CPU-bound, ~0.2 s for all of them) never stalls the event loop (docs/liveness.md)."""


def _import_modules(names: list[str]) -> None:
    for name in names:
        module = CONTROLLER_MODULES.get(name)
        if module is not None:
            importlib.import_module(module)


def default_identity() -> str:
    return f"{socket.gethostname()}_{uuid.uuid4()}"


class ControllerManager:
    """Runs the enabled controllers (see the module docstring). ``started`` is set once every runner's
    informers synced; ``runners`` maps controller names to their runners while they run."""

    def __init__(self, client: Client, options: ControllerManagerOptions | None = None, *,
                 clock: Clock | None = None, factories: dict[str, ControllerFactory] | None = None) -> None:
        self.client = client
        self.options = options or ControllerManagerOptions()
        self.clock = clock or RealClock()
        self.factories = CONTROLLERS if factories is None else factories
        self.identity = self.options.identity or default_identity()
        self.runners: dict[str, Runner] = {}
        self.started = asyncio.Event()
        self.elector: IsolatedLeaderElector | None = None
        self.registry = CollectorRegistry()
        self.stall_monitor = LoopStallMonitor("kube-controller-manager")
        self.stall_monitor.register(self.registry)
        client_metrics.expose(self.registry)  # workqueue_*, rest_client_*, leader_election_master_status

    async def run(self) -> None:
        """Run until cancelled; with leader election, only while leading (raises LeadershipLost after)."""
        monitor = asyncio.create_task(self.stall_monitor.run(), name="controller-manager-loop-stall")
        try:
            await self._run()
        finally:
            monitor.cancel()
            await asyncio.gather(monitor, return_exceptions=True)

    async def _run(self) -> None:
        opts = self.options
        if not opts.leader_elect:
            await self.run_controllers()
            return
        config = LeaderElectionConfig(lease_duration=opts.leader_elect_lease_duration,
                                      renew_deadline=opts.leader_elect_renew_deadline,
                                      retry_period=opts.leader_elect_retry_period)
        self.elector = elector = IsolatedLeaderElector(
            self.client.config, LeaderCallbacks(on_started_leading=self.run_controllers), config,
            namespace=opts.leader_elect_resource_namespace, name=opts.leader_elect_resource_name,
            identity=self.identity, healthy=self._loop_health, own_thread=isinstance(self.clock, RealClock),
            clock=self.clock)
        log.info("attempting to acquire leader lease lock=%s identity=%s", elector.describe(), self.identity)
        await elector.run()
        raise LeadershipLost(f"leader election lost identity={self.identity}")

    def _loop_health(self) -> str | None:
        """Called on the election thread: a loop stuck for longer than the renew deadline is not alive."""
        stall = self.stall_monitor.current_stall()
        if stall > self.options.leader_elect_renew_deadline:
            return f"event loop stalled for {stall:.1f}s"
        return None

    def is_leader(self) -> bool:
        return self.elector.is_leader() if self.elector is not None else True

    def _build(self, ctx: ControllerContext) -> dict[str, Runner]:
        runners: dict[str, Runner] = {}
        for name in self.options.enabled():
            factory = self.factories.get(name)
            if factory is None:
                if name in KNOWN_CONTROLLERS:
                    log.warning("controller not available yet, skipping controller=%s", name)
                continue
            # one client per controller, each with its own QPS/burst budget over the shared connections, as
            # upstream's ClientBuilder gives every controller its own clientset (and token bucket)
            controller = factory(dataclasses.replace(ctx, client=ctx.client.with_own_rate_limit()))
            runners[name] = Runner(controller, workers=self.options.workers(name), clock=self.clock)
            log.info("controller configured controller=%s workers=%d", name, self.options.workers(name))
        return runners

    async def run_controllers(self) -> None:
        """Build and run the controllers until cancelled."""
        # cached objects without managedFields and with shared strings, as upstream's controller-manager
        # (WithTransform(TransformStripManagedFields)): half a cached pod's memory
        factory = SharedInformerFactory(self.client, default_resync=self.options.min_resync_period, clock=self.clock,
                                        transform=component_transform(),
                                        reflector_options=ReflectorOptions(paged_initial_list=True))
        events = await self.client.resource("v1", "events")
        await asyncio.to_thread(_import_modules, list(self.options.enabled()))
        ctx = ControllerContext(self.client, factory, self.options, self.clock, events)
        self.runners = self._build(ctx)
        factory.start()
        try:
            async with asyncio.TaskGroup() as tg:
                for name, runner in self.runners.items():
                    tg.create_task(runner.run(), name=f"controller-{name}")
                for rec in ctx.recorders():
                    tg.create_task(rec.run(), name=f"recorder-{rec.component}")
                for runner in self.runners.values():
                    await runner.synced.wait()
                self.started.set()
                log.info("controllers started count=%d", len(self.runners))
        finally:
            self.started.clear()
            await factory.shutdown()
