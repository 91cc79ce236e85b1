"""PodDisruptionBudget status (upstream's ``disruption`` controller).

Keys are ``namespace/name`` of budgets, queued when a budget changes and when a pod it selects is added,
changed or deleted (old and new labels both count), and again when an entry of ``status.disruptedPods``
expires. ``reconcile`` computes, from the informer caches:

* pods: the namespace's pods the selector selects (nil selector: none; ``{}``: all);
* ``expectedPods`` and ``desiredHealthy``: for an integer ``minAvailable``, the pod count and that
  integer; for a percentage ``minAvailable`` or any ``maxUnavailable``, the summed scale of the pods'
  controllers (:mod:`.expected`) and the value scaled to it (rounded up; ``expected - maxUnavailable``
  floored at 0);
* ``disruptedPods``: the eviction subresource's entries for pods still present, not being deleted and
  younger than 2 minutes (:data:`~sampan.api.disruption.DELETION_TIMEOUT`);
* ``currentHealthy``: pods Ready, not being deleted and not in ``disruptedPods``;
* ``disruptionsAllowed`` = ``currentHealthy - desiredHealthy`` (0 when negative or no pod is expected),
  ``observedGeneration``, and the ``DisruptionAllowed`` condition (SufficientPods / InsufficientPods).

Pods marked ``DisruptionTarget`` by an eviction that were not deleted get the mark cleared after two
minutes (:mod:`.stale`; keys ``stale:<ns>/<name>``).

When the expected count cannot be computed (a pod without a controller), the status fails safe:
``disruptionsAllowed: 0`` and the condition False with reason ``SyncFailed`` and the error as message.
The status is written only when it changed, with the cached resourceVersion (a Conflict — e.g. an
eviction decremented the budget meanwhile — is retried by the runner).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sampan._lib.clock import Clock, RealClock
from sampan.api import disruption as pdbs
from sampan.api import errors
from sampan.api.humanize import format_rfc3339, parse_rfc3339
from sampan.client import (
    Client,
    DeletedFinalStateUnknown,
    EventHandlerFuncs,
    SharedIndexInformer,
    SharedInformerFactory,
)
from sampan.client.record import EventRecorder
from sampan.controllers.disruption import stale
from sampan.controllers.disruption.expected import ExpectedScaleError, ScaleFinder
from sampan.controllers.runner import Enqueuer, Result

log = logging.getLogger(__name__)


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


rfc3339 = format_rfc3339
parse_time = parse_rfc3339


class DisruptionController:
    name = "disruption"

    def __init__(self, client: Client, factory: SharedInformerFactory, *, clock: Clock | None = None,
                 recorder: EventRecorder | None = None, stale_timeout: float = stale.STALE_TIMEOUT) -> None:
        self._client = client
        self._stale_timeout = stale_timeout
        self._clock = clock or RealClock()
        self._recorder = recorder
        self._pdb_informer = factory.informer("policy/v1", "poddisruptionbudgets")
        self._pod_informer = factory.informer("v1", "pods")
        self._others = [factory.informer("apps/v1", "replicasets"), factory.informer("apps/v1", "deployments"),
                        factory.informer("v1", "replicationcontrollers")]
        self.budgets = factory.lister("policy/v1", "poddisruptionbudgets")
        self.pods = factory.lister("v1", "pods")
        self._finder = ScaleFinder(client, replicasets=factory.lister("apps/v1", "replicasets"),
                                   deployments=factory.lister("apps/v1", "deployments"),
                                   rcs=factory.lister("v1", "replicationcontrollers"))

    def informers(self) -> Sequence[SharedIndexInformer]:
        return (self._pdb_informer, self._pod_informer, *self._others)

    def watch(self, queue: Enqueuer) -> None:
        def key_of(obj: Any) -> str:
            if isinstance(obj, DeletedFinalStateUnknown):
                return obj.key
            md = obj["metadata"]
            return f"{md.get('namespace', '')}/{md['name']}"

        def pod_marked(pod: dict[str, Any]) -> None:
            at = stale.stale_at(pod, timeout=self._stale_timeout)
            if at is not None:
                md = pod["metadata"]
                queue.add_after(f"{stale.KEY_PREFIX}{md.get('namespace', '')}/{md['name']}",
                                max(at - self._clock.wall(), 0.0))

        def pod_added(pod: dict[str, Any]) -> None:
            pod_changed(pod)
            pod_marked(pod)

        def pod_changed(obj: Any) -> None:
            if isinstance(obj, DeletedFinalStateUnknown):
                obj = obj.obj
            if not isinstance(obj, dict):
                return
            namespace = str(_d(obj.get("metadata")).get("namespace") or "")
            for pdb in self.budgets.namespaced(namespace).list():
                if pdbs.selects(pdb, obj):
                    queue.add(key_of(pdb))

        def pod_updated(old: dict[str, Any], new: dict[str, Any]) -> None:
            pod_changed(new)
            pod_marked(new)
            if _d(old.get("metadata")).get("labels") != _d(new.get("metadata")).get("labels"):
                pod_changed(old)

        self._pdb_informer.add_event_handler(EventHandlerFuncs(
            on_add_func=lambda p: queue.add(key_of(p)), on_update_func=lambda _o, p: queue.add(key_of(p)),
            on_delete_func=lambda p: queue.add(key_of(p))))
        self._pod_informer.add_event_handler(EventHandlerFuncs(
            on_add_func=pod_added, on_update_func=pod_updated, on_delete_func=pod_changed))

    def _event(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
        if self._recorder is not None:
            self._recorder.event(obj, type_, reason, message)

    async def reconcile(self, key: str) -> Result | None:
        if key.startswith(stale.KEY_PREFIX):
            return await self._reconcile_stale(key[len(stale.KEY_PREFIX):])
        namespace, _, name = key.partition("/")
        try:
            pdb: dict[str, Any] = self.budgets.namespaced(namespace).get(name)
        except errors.NotFound:
            return None
        pods = [p for p in self.pods.namespaced(namespace).list() if pdbs.selects(pdb, p)]
        if not pods:
            self._event(pdb, "Normal", "NoPods", "No matching pods found")
        now = self._clock.wall()
        try:
            expected, desired = await self._expected_and_desired(pdb, pods)
        except (ExpectedScaleError, ValueError) as exc:
            self._event(pdb, "Warning", "CalculateExpectedPodCountFailed",
                        f"Failed to calculate the number of expected pods: {exc}")
            await self._fail_safe(pdb, str(exc), now=now)
            return None
        disrupted, recheck = self._disrupted(pdb, pods, now=now)
        healthy = sum(1 for p in pods if not _d(p.get("metadata")).get("deletionTimestamp")
                      and _d(p.get("metadata")).get("name") not in disrupted and pdbs.pod_ready(p))
        allowed = healthy - desired if expected > 0 else 0
        status = {
            **_d(pdb.get("status")),
            "currentHealthy": healthy, "desiredHealthy": desired, "expectedPods": expected,
            "disruptionsAllowed": max(allowed, 0), "disruptedPods": disrupted or None,
            "observedGeneration": int(_d(pdb.get("metadata")).get("generation") or 0),
        }
        if status["disruptedPods"] is None:
            del status["disruptedPods"]
        pdbs.set_disruption_allowed_condition(status, now=rfc3339(now))
        await self._write(pdb, status)
        return Result(requeue_after=max(recheck - now, 0.05)) if recheck is not None else None

    async def _reconcile_stale(self, pod_key: str) -> Result | None:
        namespace, _, name = pod_key.partition("/")
        try:
            pod: dict[str, Any] = self.pods.namespaced(namespace).get(name)
        except errors.NotFound:
            return None
        at = stale.stale_at(pod, timeout=self._stale_timeout)
        if at is None:
            return None
        now = self._clock.wall()
        if at > now:
            return Result(requeue_after=at - now)
        await stale.clear(self._client, pod, now=now)
        log.info("stale disruption target cleared pod=%s/%s", namespace, name)
        return None

    async def _expected_and_desired(self, pdb: dict[str, Any], pods: list[dict[str, Any]]) -> tuple[int, int]:
        spec = _d(pdb.get("spec"))
        max_unavailable, min_available = spec.get("maxUnavailable"), spec.get("minAvailable")
        if max_unavailable is not None:
            expected = await self._finder.expected(pods)
            return expected, max(expected - pdbs.scaled_value(max_unavailable, expected), 0)
        if isinstance(min_available, int) and not isinstance(min_available, bool):
            return len(pods), min_available
        if isinstance(min_available, str):
            expected = await self._finder.expected(pods)
            return expected, pdbs.scaled_value(min_available, expected)
        return len(pods), 0

    def _disrupted(self, pdb: dict[str, Any], pods: list[dict[str, Any]], *,
                   now: float) -> tuple[dict[str, str], float | None]:
        """The still-valid ``disruptedPods`` entries and when the first of them expires."""
        entries = _d(_d(pdb.get("status")).get("disruptedPods"))
        kept: dict[str, str] = {}
        recheck: float | None = None
        for pod in pods:
            md = _d(pod.get("metadata"))
            stamp = entries.get(str(md.get("name")))
            if md.get("deletionTimestamp") or stamp is None:
                continue
            at = parse_time(stamp)
            if at is None:
                continue
            expires = at + pdbs.DELETION_TIMEOUT
            if expires < now:
                self._event(pod, "Warning", "NotDeleted",
                            f"Pod was expected by PDB {md.get('namespace')}/{_d(pdb.get('metadata')).get('name')} "
                            "to be deleted but it wasn't")
                continue
            kept[str(md.get("name"))] = stamp
            recheck = expires if recheck is None else min(recheck, expires)
        return kept, recheck

    async def _fail_safe(self, pdb: dict[str, Any], message: str, *, now: float) -> None:
        status = {**_d(pdb.get("status")), "disruptionsAllowed": 0}
        pdbs.set_condition(status, {"type": pdbs.DISRUPTION_ALLOWED, "status": "False", "reason": pdbs.SYNC_FAILED,
                                    "message": message,
                                    "observedGeneration": int(status.get("observedGeneration") or 0)},
                           now=rfc3339(now))
        await self._write(pdb, status)

    async def _write(self, pdb: dict[str, Any], status: dict[str, Any]) -> None:
        old = _d(pdb.get("status"))
        if _same_status(old, status):
            return
        body = {**pdb, "status": status}
        budgets = await self._client.resource("policy/v1", "poddisruptionbudgets")
        md = pdb["metadata"]
        await budgets.update_status(body, namespace=md.get("namespace"))
        log.debug("pdb status updated pdb=%s/%s allowed=%s healthy=%s desired=%s", md.get("namespace"),
                  md.get("name"), status.get("disruptionsAllowed"), status.get("currentHealthy"),
                  status.get("desiredHealthy"))


def _same_status(old: dict[str, Any], new: dict[str, Any]) -> bool:
    def strip(status: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in status.items() if k != "conditions" and v not in (None, {}, 0)}
        out["conditions"] = sorted(((c.get("type"), c.get("status"), c.get("reason"), c.get("message"))
                                    for c in status.get("conditions") or [] if isinstance(c, dict)), key=str)
        return out

    return strip(old) == strip(new)
