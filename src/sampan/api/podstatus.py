"""What ``kubectl get pods`` shows: the READY, STATUS and RESTARTS cells, computed as upstream's
printer does (``printPod`` in kube-apiserver's internal printers), and the pod's QoS class.

STATUS is, in order of precedence: the pod phase (or ``status.reason``); ``SchedulingGated``;
an init container's trouble (``Init:ExitCode:1``, ``Init:CrashLoopBackOff``, ``Init:0/2``); then the
last main container's waiting reason (``ContainerCreating``, ``CrashLoopBackOff``, ``ErrImagePull``)
or terminated reason (``Completed``, ``Error``, ``OOMKilled``, ``ExitCode:N``); ``Running`` again
(or ``NotReady``) when a ``Completed`` container sits beside a running one; finally ``Terminating``
(or ``Unknown`` for a pod on an unreachable node) once a deletion timestamp is set.
"""

from __future__ import annotations

from typing import Any

from sampan.api import humanize, meta
from sampan.api.quantity import parse_or_none

NODE_UNREACHABLE_REASON = "NodeLost"


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _l(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _i(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def is_restartable_init_container(container: dict[str, Any] | None) -> bool:
    """A sidecar: an init container with ``restartPolicy: Always``."""
    return bool(container) and _d(container).get("restartPolicy") == "Always"


def _condition_true(status: dict[str, Any], ctype: str) -> bool:
    return any(_d(c).get("type") == ctype and _d(c).get("status") == "True" for c in _l(status.get("conditions")))


def _later(a: float | None, b: Any) -> float | None:
    t = humanize.parse_rfc3339(b) if isinstance(b, str) else None
    if t is None:
        return a
    return t if a is None or t > a else a


def pod_summary(pod: dict[str, Any], now: float) -> tuple[str, str, str]:
    """(READY, STATUS, RESTARTS) cells of ``pod`` at ``now`` (epoch seconds)."""
    spec, status = _d(pod.get("spec")), _d(pod.get("status"))
    containers = _l(spec.get("containers"))
    init_specs = {(_d(c).get("name")): _d(c) for c in _l(spec.get("initContainers"))}
    total = len(containers) + sum(1 for c in init_specs.values() if is_restartable_init_container(c))
    ready = 0
    restarts = sidecar_restarts = 0
    last_restart: float | None = None
    last_sidecar_restart: float | None = None

    phase = str(status.get("phase") or "")
    reason = str(status.get("reason") or phase)
    for cond in _l(status.get("conditions")):
        if _d(cond).get("type") == "PodScheduled" and _d(cond).get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    initializing = False
    init_statuses = _l(status.get("initContainerStatuses"))
    for i, cs in enumerate(init_statuses):
        cs = _d(cs)
        restarts += _i(cs.get("restartCount"))
        finished = _d(_d(cs.get("lastState")).get("terminated")).get("finishedAt")
        last_restart = _later(last_restart, finished)
        sidecar = is_restartable_init_container(init_specs.get(cs.get("name")))
        if sidecar:
            sidecar_restarts += _i(cs.get("restartCount"))
            last_sidecar_restart = _later(last_sidecar_restart, finished)
        state = _d(cs.get("state"))
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if isinstance(terminated, dict) and _i(terminated.get("exitCode")) == 0:
            continue
        if sidecar and cs.get("started") is True:
            if cs.get("ready") is True:
                ready += 1
            continue
        if isinstance(terminated, dict):
            if terminated.get("reason"):
                reason = "Init:" + str(terminated["reason"])
            elif _i(terminated.get("signal")):
                reason = f"Init:Signal:{_i(terminated.get('signal'))}"
            else:
                reason = f"Init:ExitCode:{_i(terminated.get('exitCode'))}"
        elif isinstance(waiting, dict) and waiting.get("reason") and waiting.get("reason") != "PodInitializing":
            reason = "Init:" + str(waiting["reason"])
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or _condition_true(status, "Initialized"):
        restarts, last_restart = sidecar_restarts, last_sidecar_restart
        has_running = False
        for cs in reversed(_l(status.get("containerStatuses"))):
            cs = _d(cs)
            restarts += _i(cs.get("restartCount"))
            last_restart = _later(last_restart, _d(_d(cs.get("lastState")).get("terminated")).get("finishedAt"))
            state = _d(cs.get("state"))
            waiting, terminated = state.get("waiting"), state.get("terminated")
            if isinstance(waiting, dict) and waiting.get("reason"):
                reason = str(waiting["reason"])
            elif isinstance(terminated, dict) and terminated.get("reason"):
                reason = str(terminated["reason"])
            elif isinstance(terminated, dict):
                signal = _i(terminated.get("signal"))
                reason = f"Signal:{signal}" if signal else f"ExitCode:{_i(terminated.get('exitCode'))}"
            elif cs.get("ready") is True and isinstance(state.get("running"), dict):
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(status, "Ready") else "NotReady"

    if meta.deletion_timestamp(pod):
        if status.get("reason") == NODE_UNREACHABLE_REASON:
            reason = "Unknown"
        elif phase not in ("Succeeded", "Failed"):
            reason = "Terminating"

    restarts_text = str(restarts)
    if restarts and last_restart is not None:
        restarts_text = f"{restarts} ({humanize.age(now - last_restart)} ago)"
    return f"{ready}/{total}", reason, restarts_text


def readiness_gates(pod: dict[str, Any]) -> str:
    """The READINESS GATES cell: ``true/total`` or ``<none>``."""
    gates = _l(_d(pod.get("spec")).get("readinessGates"))
    if not gates:
        return "<none>"
    conditions = _l(_d(pod.get("status")).get("conditions"))
    true = 0
    for gate in gates:
        for cond in conditions:
            if _d(cond).get("type") == _d(gate).get("conditionType"):
                true += _d(cond).get("status") == "True"
                break
    return f"{true}/{len(gates)}"


def pod_ip(pod: dict[str, Any]) -> str:
    """The first pod IP ("" when none)."""
    status = _d(pod.get("status"))
    ips = _l(status.get("podIPs"))
    if ips and _d(ips[0]).get("ip"):
        return str(_d(ips[0])["ip"])
    return str(status.get("podIP") or "")


def qos_class(spec: dict[str, Any]) -> str:
    """Upstream ``GetPodQOS`` for cpu and memory: Guaranteed, Burstable or BestEffort."""
    requests: dict[str, int] = {}
    limits: dict[str, int] = {}
    guaranteed = True
    containers = [_d(c) for c in _l(spec.get("containers")) + _l(spec.get("initContainers"))]
    for c in containers:
        res = _d(c.get("resources"))
        req, lim = _d(res.get("requests")), _d(res.get("limits"))
        for name, raw in req.items():
            q = parse_or_none(raw)
            if name in ("cpu", "memory") and q is not None and not q.is_zero():
                requests[name] = requests.get(name, 0) + q.milli_value()
        seen = set()
        for name, raw in lim.items():
            q = parse_or_none(raw)
            if name in ("cpu", "memory") and q is not None and not q.is_zero():
                seen.add(name)
                limits[name] = limits.get(name, 0) + q.milli_value()
        if seen != {"cpu", "memory"}:
            guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    if guaranteed and requests == limits:
        return "Guaranteed"
    return "Burstable"


def layout_containers(containers: Any) -> tuple[str, str]:
    """Upstream ``layoutContainerCells``: comma-joined names and images."""
    items = [_d(c) for c in _l(containers)]
    return ",".join(str(c.get("name") or "") for c in items), ",".join(str(c.get("image") or "") for c in items)
