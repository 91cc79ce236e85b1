"""The node lifecycle controller: silent nodes become Unknown, tainted, and lose their pods.

Two parts, one owner each:

* ``background`` (the monitor) runs every ``monitor_period``: it records Lease renewals and Ready
  heartbeats in the :class:`HealthTracker`, writes Unknown conditions (through ``nodes/status``) for nodes
  silent longer than their grace period, recomputes the zone states, and enqueues every node whose taints
  or pods may need work.
* ``reconcile(node name)`` is level-based: it makes the managed ``node.kubernetes.io/*`` taints match the
  node's conditions (adding a NoExecute taint takes a token from the zone's rate limiter; swapping
  not-ready ↔ unreachable does not), sets Ready=False on the node's pods while the node is not Ready, and
  deletes the pods that do not tolerate the node's NoExecute taints for longer than they have been there
  (``tolerationSeconds`` counted from the taint's ``timeAdded``). It asks to run again when the next pod is
  due or the limiter frees a token.

When the kubelet renews its Lease and posts Ready=True again, the next reconcile removes the taints
(pods already deleted stay deleted; the kubelet marks surviving pods ready again).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from sampan._lib.clock import Clock, RealClock
from sampan.api import errors
from sampan.api.humanize import format_rfc3339, parse_rfc3339
from sampan.client import Client, EventHandlerFuncs, SharedIndexInformer, SharedInformerFactory
from sampan.client.record import EventRecorder
from sampan.controllers.nodelifecycle import taints as tz
from sampan.controllers.nodelifecycle.health import NODE_LEASE_NAMESPACE, HealthTracker, unknown_conditions
from sampan.controllers.nodelifecycle.zones import ZoneLimiters, ZoneState, zone_of, zone_states
from sampan.controllers.runner import Enqueuer, Result

log = logging.getLogger(__name__)

NODE_INDEX = "spec.nodeName"


def _node_index(pod: Any) -> list[str]:
    node = (pod.get("spec") or {}).get("nodeName")
    return [node] if node else []


def _pod_ready(pod: Mapping[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [] if isinstance(c, dict))


class NodeLifecycleController:
    """See the module docstring. Timings are the upstream flags, shrunk in tests."""

    name = "nodelifecycle"

    def __init__(self, client: Client, factory: SharedInformerFactory, *, monitor_period: float = 5.0,
                 grace_period: float = 40.0, startup_grace_period: float = 60.0, eviction_rate: float = 0.1,
                 secondary_eviction_rate: float = 0.01, large_cluster_threshold: int = 50,
                 unhealthy_zone_threshold: float = 0.55, clock: Clock | None = None,
                 recorder: EventRecorder | None = None) -> None:
        self._client = client
        self._clock = clock or RealClock()
        self._recorder = recorder
        self.monitor_period = monitor_period
        self.unhealthy_zone_threshold = unhealthy_zone_threshold
        self.health = HealthTracker(grace_period=grace_period, startup_grace_period=startup_grace_period)
        self.limiters = ZoneLimiters(rate=eviction_rate, secondary_rate=secondary_eviction_rate,
                                     large_cluster_threshold=large_cluster_threshold)
        self.all_zones_down = False
        self._tainted_at: dict[tuple[str, str], float] = {}
        """(node, NoExecute taint key) -> precise wall time we added it (``timeAdded`` has whole seconds)."""
        self._queue: Enqueuer | None = None
        self._node_informer = factory.informer("v1", "nodes")
        self._lease_informer = factory.informer("coordination.k8s.io/v1", "leases")
        self._pod_informer = factory.informer("v1", "pods", indexers={NODE_INDEX: _node_index})
        self.nodes = factory.lister("v1", "nodes")
        self.leases = factory.lister("coordination.k8s.io/v1", "leases")

    def informers(self) -> Sequence[SharedIndexInformer]:
        return (self._node_informer, self._lease_informer, self._pod_informer)

    def watch(self, queue: Enqueuer) -> None:
        self._queue = queue

        def pod_changed(old: Any, new: Any | None = None) -> None:
            pod = new if new is not None else old
            node = (pod.get("spec") or {}).get("nodeName")
            if node and (new is None or old.get("spec") != new.get("spec") or _pod_ready(old) != _pod_ready(new)):
                queue.add(node)

        self._node_informer.add_event_handler(EventHandlerFuncs(
            on_add_func=lambda n: queue.add(n["metadata"]["name"]),
            on_update_func=lambda _o, n: queue.add(n["metadata"]["name"])))
        self._pod_informer.add_event_handler(EventHandlerFuncs(on_add_func=lambda p: pod_changed(p),
                                                               on_update_func=pod_changed))

    # ---- monitor -------------------------------------------------------------------------------------

    async def background(self) -> None:
        while True:
            try:
                await self.monitor()
            except (errors.APIError, OSError) as exc:
                log.warning("node health monitor pass failed error=%s", exc)
            await self._clock.sleep(self.monitor_period)

    async def monitor(self) -> None:
        """One pass over every node (see the module docstring)."""
        now = self._clock.monotonic()
        nodes = self.nodes.list()
        self.health.forget_missing({n["metadata"]["name"] for n in nodes})
        nodes_api = await self._client.resource("v1", "nodes")
        current: list[dict[str, Any]] = []
        for node in nodes:
            name = node["metadata"]["name"]
            try:
                lease = self.leases.namespaced(NODE_LEASE_NAMESPACE).get(name)
            except errors.NotFound:
                lease = None
            self.health.observe(node, lease, now)
            if self.health.silent(node, now):
                conditions = unknown_conditions(node, now=format_rfc3339(self._clock.wall()))
                if conditions is not None:
                    try:
                        node = await nodes_api.update_status({**node, "status": {**(node.get("status") or {}),
                                                                                 "conditions": conditions}})
                        log.info("node status unknown node=%s silent_for=%.1fs", name,
                                 self.health.probe_age(name, now) or 0.0)
                        if self._recorder is not None:
                            self._recorder.event(node, "Normal", "NodeNotReady", f"Node {name} status is now: "
                                                 "NodeNotReady")
                    except (errors.Conflict, errors.NotFound):
                        continue  # changed under us: the next pass sees the new version
            current.append(node)
        self._update_zones(current)
        if self._queue is not None:
            for node in current:
                if self._needs_work(node):
                    self._queue.add(node["metadata"]["name"])

    def _update_zones(self, nodes: list[dict[str, Any]]) -> None:
        states = zone_states(nodes, unhealthy_threshold=self.unhealthy_zone_threshold)
        sizes: dict[str, int] = {}
        for node in nodes:
            sizes[zone_of(node)] = sizes.get(zone_of(node), 0) + 1
        for zone, state in states.items():
            self.limiters.set_state(zone, state, sizes[zone])
        down = bool(states) and all(s == ZoneState.FULL for s in states.values())
        if down != self.all_zones_down:
            log.warning("all zones fully disrupted=%s: NoExecute tainting %s", down, "stopped" if down else "resumed")
        self.all_zones_down = down

    def _needs_work(self, node: Mapping[str, Any]) -> bool:
        if tz.ready_status(node) != "True":
            return True
        return any(t.get("key") in tz.MANAGED_NO_SCHEDULE | tz.MANAGED_NO_EXECUTE or t.get("effect") == tz.NO_EXECUTE
                   for t in tz.taints(node)) or bool(tz.desired_no_schedule(node))

    # ---- reconcile -----------------------------------------------------------------------------------

    async def reconcile(self, key: str) -> Result | None:
        try:
            node = self.nodes.get(key)
        except errors.NotFound:
            return None
        node, retry = await self._sync_taints(node)
        if tz.ready_status(node) != "True":
            await self._mark_pods_not_ready(key)
        due = await self._evict(node)
        waits = [w for w in (retry, due) if w is not None]
        return Result(requeue_after=min(waits)) if waits else None

    async def _sync_taints(self, node: dict[str, Any]) -> tuple[dict[str, Any], float | None]:
        current = tz.taints(node)
        no_execute = None if self.all_zones_down else tz.desired_no_execute(node)
        retry: float | None = None
        has_managed_no_execute = any(t.get("effect") == tz.NO_EXECUTE and t.get("key") in tz.MANAGED_NO_EXECUTE
                                     for t in current)
        if no_execute is not None and not has_managed_no_execute:
            wait = self.limiters.take(zone_of(node), self._clock.monotonic())
            if wait > 0:
                no_execute = None
                retry = min(wait, self.monitor_period)
        wanted = tz.with_managed_taints(current, no_schedule=tz.desired_no_schedule(node), no_execute=no_execute,
                                        now=format_rfc3339(self._clock.wall()))
        if wanted == current:
            return node, retry
        spec = {**(node.get("spec") or {}), "taints": wanted}
        if not wanted:
            spec.pop("taints")
        nodes_api = await self._client.resource("v1", "nodes")
        updated = await nodes_api.update({**node, "spec": spec})
        name = node["metadata"]["name"]
        for key in [k for k in self._tainted_at if k[0] == name]:
            if not any(t["key"] == key[1] and t["effect"] == tz.NO_EXECUTE for t in wanted):
                del self._tainted_at[key]
        for t in wanted:
            if t["effect"] == tz.NO_EXECUTE and t.get("timeAdded") and (name, t["key"]) not in self._tainted_at \
                    and t not in current:
                self._tainted_at[(name, t["key"])] = self._clock.wall()
        log.info("node taints updated node=%s taints=%s", node["metadata"]["name"],
                 ",".join(f"{t['key']}:{t['effect']}" for t in wanted) or "-")
        return updated, retry

    def _pods_on(self, node_name: str) -> list[dict[str, Any]]:
        return list(self._pod_informer.indexer.by_index(NODE_INDEX, node_name))

    async def _mark_pods_not_ready(self, node_name: str) -> None:
        pods_api = await self._client.resource("v1", "pods")
        now = format_rfc3339(self._clock.wall())
        for pod in self._pods_on(node_name):
            if not _pod_ready(pod) or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            status = dict(pod.get("status") or {})
            status["conditions"] = [
                {**c, "status": "False", "lastTransitionTime": now} if c.get("type") == "Ready" else c
                for c in status.get("conditions") or []]
            try:
                await pods_api.update_status({**pod, "status": status})
                log.info("pod marked not ready pod=%s/%s node=%s", pod["metadata"]["namespace"],
                         pod["metadata"]["name"], node_name)
            except errors.NotFound:
                pass

    def _taint_time(self, node: str, taint: Mapping[str, Any], now: float) -> float:
        """When ``taint`` was added: our precise record, else its ``timeAdded`` rounded up (never early),
        else now."""
        precise = self._tainted_at.get((node, str(taint.get("key"))))
        if precise is not None:
            return precise
        added = parse_rfc3339(taint.get("timeAdded"))
        return now if added is None else added + 1.0

    async def _evict(self, node: Mapping[str, Any]) -> float | None:
        """Delete the pods whose tolerations of the NoExecute taints ran out; seconds until the next is due."""
        no_execute = [t for t in tz.taints(node) if t.get("effect") == tz.NO_EXECUTE]
        if not no_execute:
            return None
        now = self._clock.wall()
        since = min((self._taint_time(node["metadata"]["name"], t, now) for t in no_execute), default=now)
        pods_api = await self._client.resource("v1", "pods")
        next_due: float | None = None
        for pod in self._pods_on(node["metadata"]["name"]):
            if pod["metadata"].get("deletionTimestamp"):
                continue
            delay = tz.eviction_delay(pod, no_execute)
            if delay is None:
                continue
            due = since + delay
            if due > now:
                next_due = due - now if next_due is None else min(next_due, due - now)
                continue
            ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
            try:
                await pods_api.delete(name, namespace=ns, uid=pod["metadata"].get("uid"))
            except errors.NotFound:
                continue
            log.info("evicted pod pod=%s/%s node=%s", ns, name, node["metadata"]["name"])
            if self._recorder is not None:
                self._recorder.event(pod, "Normal", "TaintManagerEviction", f"Marking for deletion Pod {ns}/{name}")
        return None if next_due is None else max(next_due, 0.05)
