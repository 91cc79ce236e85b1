"""The API-backed :class:`~sampan.kubelet.status_manager.PodStatusSink`: writes ``pods/status`` and issues
the final delete of a gracefully deleted pod.

* ``update_status`` is called by a pod worker only when its computed status changed. It sends a JSON
  merge patch of ``status`` to ``pods/<name>/status`` with ``metadata.uid`` as a precondition (a pod
  recreated under the same name is never written with another pod's status). Top-level status keys the
  server has but the new status lacks are sent as ``null`` so they are removed; lists (conditions,
  containerStatuses) are replaced whole by a merge patch, which is what we want. A 404 (pod gone) or a
  409 (uid changed) drops the write; other failures are logged (the worker re-reports on the next change,
  and the pod informer's next update carries the server's view).
* ``terminated`` deletes the pod with ``gracePeriodSeconds=0`` and a uid precondition — the step that
  actually removes a gracefully deleted pod — only when the pod has a ``deletionTimestamp`` (a pod that
  merely vanished from the API needs nothing).
* Events: container transitions seen between two statuses become upstream's kubelet events
  (``Created``, ``Started``, ``Failed``), recorded through the event recorder (never blocks), with the
  container's ``involvedObject.fieldPath`` (``spec.containers{NAME}``) as upstream's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from sampan.api import errors
from sampan.client.dynamic import PatchType, ResourceClient
from sampan.kubelet.pod_log import POD_LOG
from sampan.kubelet.status_manager import pod_key

log = logging.getLogger(__name__)


class EventSink(Protocol):
    def event(self, obj: dict[str, Any], type_: str, reason: str, message: str, *, field_path: str = "") -> None: ...


_SPEC_LISTS = (("initContainers", "initContainerStatuses"), ("containers", "containerStatuses"),
               ("ephemeralContainers", "ephemeralContainerStatuses"))


def container_field_path(pod: Mapping[str, Any], name: str) -> str:
    """Upstream's ``involvedObject.fieldPath`` of a container's events: ``spec.containers{NAME}``,
    ``spec.initContainers{NAME}`` or ``spec.ephemeralContainers{NAME}`` ("" when the pod has no such one)."""
    spec = pod.get("spec") or {}
    for key, _ in _SPEC_LISTS:
        if any((c or {}).get("name") == name for c in spec.get(key) or []):
            return f"spec.{key}{{{name}}}"
    return ""


_FAILED_WAITING = frozenset({"CreateContainerConfigError", "CreateContainerError", "StartError",
                             "RunContainerError"})
"""Image waiting reasons are absent: the image manager records their events itself, as upstream's does."""


def _statuses(status: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    out = {}
    for key in ("initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"):
        for cs in status.get(key) or []:
            out[str(cs.get("name", ""))] = cs
    return out


def _field_paths(status: Mapping[str, Any]) -> dict[str, str]:
    """Container name -> its events' ``fieldPath``, from which status list it is in."""
    return {str(cs.get("name", "")): f"spec.{spec_key}{{{cs.get('name', '')}}}"
            for spec_key, status_key in _SPEC_LISTS for cs in status.get(status_key) or []}


def pod_ref(pod: Mapping[str, Any]) -> str:
    """Upstream's ``format.Pod``: ``<name>_<namespace>(<uid>)``, as kubelet messages name a pod."""
    md = pod.get("metadata") or {}
    return f"{md.get('name', '')}_{md.get('namespace', '')}({md.get('uid', '')})"


def container_events(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """``(type, reason, message, fieldPath)`` for each container transition from ``old`` to ``new`` status.
    ``BackOff`` is not among them: the pod worker records it on every sync in back-off, as upstream."""
    before = _statuses(old or {})
    paths = _field_paths(new)
    events: list[tuple[str, str, str, str]] = []
    for name, cs in _statuses(new).items():
        prev = before.get(name) or {}
        state, prev_state = cs.get("state") or {}, prev.get("state") or {}
        path = paths.get(name, "")
        if "running" in state and ("running" not in prev_state or cs.get("containerID") != prev.get("containerID")):
            events.append(("Normal", "Created", f"Created container {name}", path))
            events.append(("Normal", "Started", f"Started container {name}", path))
        waiting = state.get("waiting") or {}
        prev_waiting = prev_state.get("waiting") or {}
        reason = waiting.get("reason")
        if reason and reason != prev_waiting.get("reason") and reason in _FAILED_WAITING:
            events.append(("Warning", "Failed", f"Error: {waiting.get('message') or reason}", path))
    return events


class APIStatusSink:
    """Pod status writer for one kubelet. ``writes`` counts successful status writes."""

    def __init__(self, pods: ResourceClient, *, events: EventSink | None = None,
                 field_manager: str = "kubelet",
                 on_written: Callable[[str, Mapping[str, Any]], None] | None = None) -> None:
        self._pods = pods
        self._on_written = on_written
        """Called with (uid, status) after each successful status write (the kubelet's metrics)."""
        self._events = events
        self._field_manager = field_manager
        self.writes = 0
        self.deletes = 0
        self._reported: dict[str, dict[str, Any]] = {}
        """Last status written per pod uid (the base for events and for null-ing removed keys)."""

    async def update_status(self, pod: Mapping[str, Any], status: dict[str, Any]) -> None:
        md = pod.get("metadata") or {}
        uid = str(md.get("uid", ""))
        base = self._reported.get(uid) or pod.get("status") or {}
        body_status: dict[str, Any] = {k: None for k in base if k not in status}
        body_status.update(status)
        patch = {"metadata": {"uid": uid}, "status": body_status}
        try:
            await self._pods.patch(str(md.get("name", "")), patch, patch_type=PatchType.MERGE,
                                   namespace=md.get("namespace"), subresource="status",
                                   field_manager=self._field_manager)
        except (errors.NotFound, errors.Conflict) as err:
            log.debug("pod status not written pod=%s err=%s", pod_key(pod), err)
            return
        except errors.APIError as err:
            log.warning("pod status write failed pod=%s err=%s", pod_key(pod), err)
            return
        self.writes += 1
        self._record_events(pod, base, status)
        self._reported[uid] = status
        if self._on_written is not None:
            self._on_written(uid, status)

    def reported(self) -> Mapping[str, Mapping[str, Any]]:
        """The last status written per pod uid (read-only)."""
        return self._reported

    def _record_events(self, pod: Mapping[str, Any], old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        if self._events is None:
            return
        for type_, reason, message, path in container_events(old, new):
            self._events.event(dict(pod), type_, reason, message, field_path=path)

    def killing(self, pod: Mapping[str, Any]) -> None:
        """Record ``Killing`` for each running container of a pod that starts terminating."""
        if self._events is None:
            return
        reported = self._reported.get(str((pod.get("metadata") or {}).get("uid", ""))) or {}
        paths = _field_paths(reported)
        for name, cs in _statuses(reported).items():
            if "running" in (cs.get("state") or {}):
                self._events.event(dict(pod), "Normal", "Killing", f"Stopping container {name}",
                                   field_path=paths.get(name, ""))

    async def terminated(self, pod: Mapping[str, Any]) -> None:
        md = pod.get("metadata") or {}
        uid = str(md.get("uid", ""))
        self._reported.pop(uid, None)
        if not md.get("deletionTimestamp"):
            return
        try:
            await self._pods.delete(str(md.get("name", "")), namespace=md.get("namespace"),
                                    grace_period_seconds=0, uid=uid)
        except (errors.NotFound, errors.Conflict):
            return
        except errors.APIError as err:
            log.warning("final pod delete failed pod=%s err=%s", pod_key(pod), err)
            return
        self.deletes += 1
        POD_LOG.info("pod deleted pod=%s", pod_key(pod))
