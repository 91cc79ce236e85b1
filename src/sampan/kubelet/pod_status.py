"""The pod status the kubelet reports, computed from the runtime's view (upstream
``generateAPIPodStatus`` + ``getPhase``): a pure function, no I/O, no clock except the ``now`` passed in.

Per container: ``state`` is ``running``, ``terminated`` (exit code, reason ``Completed``/``Error``/
``OOMKilled``), or ``waiting`` (``ContainerCreating``, ``PodInitializing``, ``CrashLoopBackOff``,
``CreateContainerConfigError``... from the pod worker); ``lastState`` is the previous attempt's
termination; ``restartCount`` is the latest attempt number. Phase rules as upstream (a waiting container
that has run before counts as stopped; ``Always`` keeps a pod with stopped containers Running).
Conditions keep their ``lastTransitionTime`` while their status does not change. ``qosClass`` is the
previous status's when it has one (upstream's ``GetPodQOS``), else computed from the spec.
Ephemeral containers (``kubectl debug``) get ``ephemeralContainerStatuses`` and count for neither the phase
nor the conditions. Init containers run to completion in order; sidecars (``restartPolicy: Always`` init containers) are
treated as ordinary init containers for now.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sampan.api.humanize import format_rfc3339
from sampan.api.podstatus import qos_class
from sampan.kubelet.runtime.interface import ContainerState, ContainerStatus

CONTAINER_ID_SCHEME = "sampan"
"""The ``containerID`` scheme of a record that names no runtime (upstream: ``<runtime name>://<id>``)."""


def container_id(c: ContainerStatus) -> str:
    """The API's ``containerID``: ``containerd://<id>``, ``process://<id>``…"""
    return f"{c.runtime_name or CONTAINER_ID_SCHEME}://{c.id}"


@dataclass(slots=True)
class PodRuntimeView:
    """What the pod worker knows about one pod: runtime records and its own decisions.

    ``containers`` maps a container name to its runtime records, newest attempt first. ``waiting``
    holds (reason, message) for containers the worker is holding back. ``ready``/``started`` are the
    readiness/startup probe verdicts by container id (absent: no such probe).
    """

    containers: dict[str, list[ContainerStatus]] = field(default_factory=dict)
    waiting: dict[str, tuple[str, str]] = field(default_factory=dict)
    ready: dict[str, bool] = field(default_factory=dict)
    started: dict[str, bool] = field(default_factory=dict)
    pod_ip: str = ""
    host_ip: str = ""
    start_time: float | None = None
    images: dict[str, tuple[str, str]] = field(default_factory=dict)
    """(image, imageID) by container name, from the image manager (runtimes with images only)."""


def _ts(t: float) -> str:
    return format_rfc3339(t) if t else ""


def _terminated(c: ContainerStatus) -> dict[str, Any]:
    reason = c.reason or ("Completed" if c.exit_code == 0 else "Error")
    out: dict[str, Any] = {"exitCode": c.exit_code, "reason": reason,
                           "startedAt": _ts(c.started_at) or None, "finishedAt": _ts(c.finished_at) or None,
                           "containerID": container_id(c)}
    if c.message:
        out["message"] = c.message
    return out


def container_status(
    spec: Mapping[str, Any], view: PodRuntimeView, *, default_waiting: str, init: bool = False,
) -> dict[str, Any]:
    """One entry of ``containerStatuses`` / ``initContainerStatuses``. As upstream's prober manager, an
    init container (``init``, not a sidecar) is ready exactly when it has exited with code 0; a running
    one is not ready."""
    run_to_completion = init and spec.get("restartPolicy") != "Always"
    name = spec.get("name", "")
    records = view.containers.get(name) or []
    latest = records[0] if records else None
    out: dict[str, Any] = {"name": name, "image": spec.get("image", ""), "imageID": "", "ready": False,
                           "restartCount": latest.attempt if latest else 0, "started": False, "lastState": {}}
    if latest is not None and name in view.images:
        out["image"], out["imageID"] = view.images[name]
    previous = next((r for r in records[1:] if r.state is ContainerState.EXITED), None)
    waiting = view.waiting.get(name)
    if latest is not None and latest.state is ContainerState.RUNNING and waiting is None:
        started = view.started.get(latest.id, True)
        out["state"] = {"running": {"startedAt": _ts(latest.started_at)}}
        out["started"] = started
        out["ready"] = not run_to_completion and started and view.ready.get(latest.id, "readinessProbe" not in spec)
        out["containerID"] = container_id(latest)
    elif latest is not None and latest.state is ContainerState.EXITED and waiting is None:
        out["state"] = {"terminated": _terminated(latest)}
        out["ready"] = run_to_completion and out["state"]["terminated"]["exitCode"] == 0
        out["containerID"] = container_id(latest)
    else:
        reason, message = waiting or (default_waiting, "")
        out["state"] = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
        if latest is not None and latest.state is ContainerState.EXITED:
            previous = latest
    if previous is not None:
        out["lastState"] = {"terminated": _terminated(previous)}
    return out


def ephemeral_container_status(spec: Mapping[str, Any], view: PodRuntimeView) -> dict[str, Any]:
    """One entry of ``ephemeralContainerStatuses``: as a container's, but never ready, without ``started``
    (the prober manager never sees ephemeral containers upstream) and never restarted."""
    out = container_status(spec, view, default_waiting="ContainerCreating")
    out["ready"] = False
    out.pop("started", None)
    return out


def _phase(spec: Mapping[str, Any], init: list[dict[str, Any]], regular: list[dict[str, Any]]) -> str:
    policy = spec.get("restartPolicy") or "Always"
    pending_init = failed_init = 0
    for cs in init:
        st = cs["state"]
        if "terminated" in st:
            if st["terminated"]["exitCode"] != 0:
                failed_init += 1
        elif "waiting" in st and cs["lastState"].get("terminated", {}).get("exitCode", 0) != 0:
            failed_init += 1
        else:
            pending_init += 1
    if failed_init and policy == "Never":
        return "Failed"
    if pending_init or failed_init:
        return "Pending"
    running = waiting = stopped = succeeded = 0
    for cs in regular:
        st = cs["state"]
        if "running" in st:
            running += 1
        elif "terminated" in st:
            stopped += 1
            succeeded += st["terminated"]["exitCode"] == 0
        elif cs["lastState"].get("terminated"):
            stopped += 1
        else:
            waiting += 1
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if stopped:
        if policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        return "Failed" if policy == "Never" else "Running"
    return "Pending"


def _condition(
    ctype: str, ok: bool, *, reason: str, message: str, previous: Mapping[str, Any], now: float
) -> dict[str, Any]:
    status = "True" if ok else "False"
    old = next((c for c in previous.get("conditions") or [] if c.get("type") == ctype), None)
    since = old.get("lastTransitionTime") if old and old.get("status") == status else None
    cond: dict[str, Any] = {"type": ctype, "status": status, "lastProbeTime": None,
                            "lastTransitionTime": since or format_rfc3339(now)}
    if not ok:
        cond["reason"], cond["message"] = reason, message
    return cond


def compute_pod_status(
    pod: Mapping[str, Any], view: PodRuntimeView, *, now: float, terminal: bool = False,
) -> dict[str, Any]:
    """The pod's ``status``. ``pod['status']`` (the last reported one) supplies transition times."""
    spec = pod.get("spec") or {}
    previous = pod.get("status") or {}
    init_specs = spec.get("initContainers") or []
    init = [container_status(c, view, default_waiting="PodInitializing", init=True) for c in init_specs]
    initialized = all("terminated" in s["state"] and s["state"]["terminated"]["exitCode"] == 0 for s in init)
    regular = [container_status(c, view, default_waiting="ContainerCreating" if initialized else "PodInitializing")
               for c in spec.get("containers") or []]
    phase = _phase(spec, init, regular)
    if terminal and phase not in ("Succeeded", "Failed"):
        phase = "Failed" if any(s["state"].get("terminated", {}).get("exitCode", 0) for s in regular) else "Succeeded"
    unready = [s["name"] for s in regular if not s["ready"]]
    incomplete = [s["name"] for s in init if not ("terminated" in s["state"]
                                                 and s["state"]["terminated"]["exitCode"] == 0)]
    gates = [g.get("conditionType") for g in spec.get("readinessGates") or []]
    gate_ok = all(any(c.get("type") == g and c.get("status") == "True" for c in previous.get("conditions") or [])
                  for g in gates)
    done = phase in ("Succeeded", "Failed")
    ready_reason = "PodCompleted" if done else "ContainersNotReady"
    names = " ".join(unready)
    conditions = [
        _condition("Initialized", not incomplete, reason="PodCompleted" if done else "ContainersNotInitialized",
                   message=f"containers with incomplete status: [{' '.join(incomplete)}]", previous=previous, now=now),
        _condition("Ready", not unready and gate_ok and not done, reason=ready_reason,
                   message=f"containers with unready status: [{names}]" if unready else "", previous=previous,
                   now=now),
        _condition("ContainersReady", not unready and not done, reason=ready_reason,
                   message=f"containers with unready status: [{names}]" if unready else "", previous=previous,
                   now=now),
        _condition("PodScheduled", True, reason="", message="", previous=previous, now=now),
    ]
    kept = [c for c in previous.get("conditions") or []
            if c.get("type") not in ("Initialized", "Ready", "ContainersReady", "PodScheduled")]
    # upstream's GetPodQOS: the class persisted in the status wins (a pod's QoS class never changes, not even
    # on an in-place resize); computing it parses every request and limit (~70% of this function's time,
    # once per pod per resync: 2,500 a second at 150,000 pods)
    status: dict[str, Any] = {"phase": phase, "conditions": conditions + kept,
                              "qosClass": previous.get("qosClass") or qos_class(spec)}
    if view.host_ip:
        status["hostIP"], status["hostIPs"] = view.host_ip, [{"ip": view.host_ip}]
    if view.pod_ip:
        status["podIP"], status["podIPs"] = view.pod_ip, [{"ip": view.pod_ip}]
    start = previous.get("startTime") or (format_rfc3339(view.start_time) if view.start_time else None)
    if start:
        status["startTime"] = start
    if init:
        status["initContainerStatuses"] = init
    status["containerStatuses"] = regular
    ephemeral = spec.get("ephemeralContainers") or []
    if ephemeral:
        status["ephemeralContainerStatuses"] = [ephemeral_container_status(c, view) for c in ephemeral]
    return status
