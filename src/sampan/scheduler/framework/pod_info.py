"""PodInfo: a pod dict parsed once into what the plugins read on every node.

Invariant: a PodInfo never changes after construction; when the pod object changes, build a new one
(``PodInfo.parse``). ``parse`` raises ``ValueError`` with the field path on malformed specs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sampan.api.nodeselectors import (
    NodeSelector,
    NodeSelectorTerm,
    compile_node_selector,
    compile_node_selector_term,
)
from sampan.api.selectors import IN, LabelSelector, Requirement
from sampan.scheduler.framework.resources import Resource, pod_requests
from sampan.scheduler.framework.taints import Toleration, parse_tolerations

DEFAULT_SCHEDULER_NAME = "default-scheduler"


@dataclass(frozen=True, slots=True)
class AffinityTerm:
    """A pod (anti-)affinity term. It applies to an existing pod when the pod's namespace is in
    ``namespaces`` or its namespace's labels match ``namespace_selector``, and ``selector`` matches the
    pod's labels. ``topology_key`` names the node label that defines "together"."""

    namespaces: frozenset[str]
    namespace_selector: LabelSelector
    selector: LabelSelector
    topology_key: str
    equals: frozenset[tuple[str, str]] | None = None
    """When the selector is only matchLabels: its pairs, matched as a set (the fast path)."""

    def matches(self, pod: PodInfo, ns_labels: dict[str, str] | None = None) -> bool:
        if pod.namespace in self.namespaces or self.namespace_selector.matches(ns_labels or {}):
            if self.equals is not None:
                return self.equals <= pod.labels.items()
            return self.selector.matches(pod.labels)
        return False


@dataclass(frozen=True, slots=True)
class WeightedAffinityTerm:
    weight: int
    term: AffinityTerm


@dataclass(frozen=True, slots=True)
class SpreadConstraint:
    """A topologySpreadConstraint with defaults applied and matchLabelKeys folded into ``selector``."""

    max_skew: int
    topology_key: str
    when_unsatisfiable: str
    selector: LabelSelector
    min_domains: int
    node_affinity_policy: str
    node_taints_policy: str


@dataclass(frozen=True, slots=True)
class HostPort:
    ip: str
    protocol: str
    port: int


class PodInfo:
    """The parsed pod. ``pod`` is the wire dict it came from (read-only)."""

    __slots__ = (
        "host_ports",
        "images",
        "key",
        "labels",
        "name",
        "namespace",
        "node_name",
        "node_selector",
        "nominated_node_name",
        "non_zero_cpu",
        "non_zero_memory",
        "pod",
        "preemption_policy",
        "preferred_affinity",
        "preferred_anti_affinity",
        "preferred_node_affinity",
        "priority",
        "requests",
        "required_affinity",
        "required_anti_affinity",
        "required_node_affinity",
        "scheduler_name",
        "scheduling_gates",
        "spread_constraints",
        "start_time",
        "terminating",
        "tolerations",
        "uid",
    )

    pod: dict[str, Any]
    namespace: str
    name: str
    key: str
    uid: str
    labels: dict[str, str]
    priority: int
    scheduler_name: str
    node_name: str
    nominated_node_name: str
    preemption_policy: str
    start_time: str
    terminating: bool
    requests: Resource
    non_zero_cpu: int
    non_zero_memory: int
    host_ports: tuple[HostPort, ...]
    tolerations: tuple[Toleration, ...]
    node_selector: dict[str, str]
    required_node_affinity: NodeSelector | None
    preferred_node_affinity: tuple[tuple[int, NodeSelectorTerm], ...]
    required_affinity: tuple[AffinityTerm, ...]
    required_anti_affinity: tuple[AffinityTerm, ...]
    preferred_affinity: tuple[WeightedAffinityTerm, ...]
    preferred_anti_affinity: tuple[WeightedAffinityTerm, ...]
    spread_constraints: tuple[SpreadConstraint, ...]
    images: tuple[str, ...]
    scheduling_gates: tuple[str, ...]

    @classmethod
    def parse(cls, pod: dict[str, Any]) -> PodInfo:
        if not isinstance(pod, dict):
            raise ValueError("pod: must be an object")
        meta = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        status = pod.get("status") or {}
        if not isinstance(meta, dict) or not isinstance(spec, dict) or not isinstance(status, dict):
            raise ValueError("pod: metadata, spec and status must be objects")
        self = cls.__new__(cls)
        self.pod = pod
        self.namespace = meta.get("namespace") or "default"
        self.name = meta.get("name") or ""
        self.key = f"{self.namespace}/{self.name}"
        self.uid = meta.get("uid") or self.key
        self.labels = dict(meta.get("labels") or {})
        prio = spec.get("priority", 0)
        if prio is not None and not isinstance(prio, int):
            raise ValueError(f"spec.priority: must be an integer, got {prio!r}")
        self.priority = prio or 0
        self.scheduler_name = spec.get("schedulerName") or DEFAULT_SCHEDULER_NAME
        self.node_name = spec.get("nodeName") or ""
        self.nominated_node_name = status.get("nominatedNodeName") or ""
        self.preemption_policy = spec.get("preemptionPolicy") or "PreemptLowerPriority"
        self.start_time = status.get("startTime") or meta.get("creationTimestamp") or ""
        self.terminating = bool(meta.get("deletionTimestamp"))
        self.requests = pod_requests(spec)
        self.requests.allowed_pods = 1
        nz = pod_requests(spec, non_zero=True)
        self.non_zero_cpu, self.non_zero_memory = nz.milli_cpu, nz.memory
        self.host_ports = _host_ports(spec)
        self.tolerations = parse_tolerations(spec.get("tolerations"))
        ns = spec.get("nodeSelector") or {}
        if not isinstance(ns, dict):
            raise ValueError("spec.nodeSelector: must be an object")
        self.node_selector = {str(k): str(v) for k, v in ns.items()}
        self.images = tuple(
            normalized_image(c.get("image") or "")
            for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
            if isinstance(c, dict) and c.get("image")
        )
        gates = spec.get("schedulingGates") or []
        if not isinstance(gates, list):
            raise ValueError("spec.schedulingGates: must be a list")
        self.scheduling_gates = tuple(str(g.get("name", "")) if isinstance(g, dict) else str(g) for g in gates)
        self.spread_constraints = _spread_constraints(spec.get("topologySpreadConstraints"), self.labels)
        _parse_affinity(self, spec.get("affinity") or {})
        return self

    def with_node(self, node_name: str) -> PodInfo:
        """A copy placed on ``node_name`` (the assumed pod); the wire dict is shared, not changed."""
        c = PodInfo.__new__(PodInfo)
        for slot in PodInfo.__slots__:
            setattr(c, slot, getattr(self, slot))
        c.node_name = node_name
        return c

    def __repr__(self) -> str:
        return f"PodInfo({self.key})"


def normalized_image(name: str) -> str:
    """``nginx`` -> ``nginx:latest``; names with a tag or digest are kept."""
    last = name.rsplit("/", 1)[-1]
    if ":" in last or "@" in name:
        return name
    return name + ":latest"


def _host_ports(spec: dict[str, Any]) -> tuple[HostPort, ...]:
    out = []
    for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        for p in (c.get("ports") or []) if isinstance(c, dict) else []:
            hp = p.get("hostPort") if isinstance(p, dict) else None
            if hp:
                if not isinstance(hp, int) or not 0 < hp < 65536:
                    raise ValueError(f"spec.containers[].ports[].hostPort: invalid port {hp!r}")
                out.append(HostPort(p.get("hostIP") or "0.0.0.0", p.get("protocol") or "TCP", hp))
    return tuple(out)


def label_selector(raw: Any, *, where: str) -> LabelSelector:
    """A metav1.LabelSelector (None matches nothing); ValueError names the field."""
    try:
        return LabelSelector.from_dict(raw)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def _affinity_term(raw: Any, own_ns: str, *, where: str) -> AffinityTerm:
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: must be an object")
    key = raw.get("topologyKey")
    if not isinstance(key, str) or not key:
        raise ValueError(f"{where}.topologyKey: Required value")
    namespaces = frozenset(raw.get("namespaces") or [])
    ns_sel_raw = raw.get("namespaceSelector")
    ns_sel = label_selector(ns_sel_raw, where=f"{where}.namespaceSelector")
    if not namespaces and ns_sel_raw is None:
        namespaces = frozenset({own_ns})
    raw_sel = raw.get("labelSelector")
    selector = label_selector(raw_sel, where=f"{where}.labelSelector")
    equals = None
    if isinstance(raw_sel, dict) and not raw_sel.get("matchExpressions"):
        equals = frozenset((str(k), str(v)) for k, v in (raw_sel.get("matchLabels") or {}).items())
    return AffinityTerm(namespaces, ns_sel, selector, key, equals)


def _weighted(raw: Any, own_ns: str, *, where: str) -> tuple[WeightedAffinityTerm, ...]:
    out = []
    for i, w in enumerate(raw or []):
        if not isinstance(w, dict) or not isinstance(w.get("weight"), int):
            raise ValueError(f"{where}[{i}].weight: Required value")
        out.append(WeightedAffinityTerm(w["weight"], _affinity_term(w.get("podAffinityTerm"), own_ns,
                                                                     where=f"{where}[{i}].podAffinityTerm")))
    return tuple(out)


def _parse_affinity(p: PodInfo, aff: dict[str, Any]) -> None:
    na = aff.get("nodeAffinity") or {}
    req = na.get("requiredDuringSchedulingIgnoredDuringExecution")
    p.required_node_affinity = (
        compile_node_selector(req, where="spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution")
        if req is not None else None
    )
    pref = []
    for i, w in enumerate(na.get("preferredDuringSchedulingIgnoredDuringExecution") or []):
        where = f"spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[{i}]"
        if not isinstance(w, dict) or not isinstance(w.get("weight"), int):
            raise ValueError(f"{where}.weight: Required value")
        pref.append((w["weight"], compile_node_selector_term(w.get("preference") or {}, where=f"{where}.preference")))
    p.preferred_node_affinity = tuple(pref)
    for field, kind in (("required_affinity", "podAffinity"), ("required_anti_affinity", "podAntiAffinity")):
        block = aff.get(kind) or {}
        where = f"spec.affinity.{kind}.requiredDuringSchedulingIgnoredDuringExecution"
        terms = tuple(
            _affinity_term(t, p.namespace, where=f"{where}[{i}]")
            for i, t in enumerate(block.get("requiredDuringSchedulingIgnoredDuringExecution") or [])
        )
        setattr(p, field, terms)
        pref_field = field.replace("required", "preferred")
        setattr(p, pref_field, _weighted(block.get("preferredDuringSchedulingIgnoredDuringExecution"), p.namespace,
                                         where=f"spec.affinity.{kind}.preferredDuringSchedulingIgnoredDuringExecution"))


def parse_spread_constraints(raw: Any, labels: dict[str, str]) -> tuple[SpreadConstraint, ...]:
    """topologySpreadConstraints (a pod's, or PodTopologySpread's ``defaultConstraints``) with defaults
    applied; ValueError names the field."""
    return _spread_constraints(raw, labels)


def _spread_constraints(raw: Any, labels: dict[str, str]) -> tuple[SpreadConstraint, ...]:
    if not raw:
        return ()
    if not isinstance(raw, list):
        raise ValueError("spec.topologySpreadConstraints: must be a list")
    out = []
    for i, c in enumerate(raw):
        where = f"spec.topologySpreadConstraints[{i}]"
        if not isinstance(c, dict):
            raise ValueError(f"{where}: must be an object")
        skew = c.get("maxSkew")
        if not isinstance(skew, int) or skew < 1:
            raise ValueError(f"{where}.maxSkew: must be greater than zero")
        key = c.get("topologyKey")
        if not isinstance(key, str) or not key:
            raise ValueError(f"{where}.topologyKey: Required value")
        when = c.get("whenUnsatisfiable")
        if when not in ("DoNotSchedule", "ScheduleAnyway"):
            raise ValueError(f"{where}.whenUnsatisfiable: Unsupported value: {when!r}")
        raw_sel = c.get("labelSelector")
        sel = label_selector(raw_sel, where=f"{where}.labelSelector")
        keys = [k for k in c.get("matchLabelKeys") or [] if k in labels]
        if keys:
            base = sel.requirements if raw_sel is not None else ()
            sel = LabelSelector([*base, *(Requirement(k, IN, (labels[k],)) for k in keys)])
        min_domains = c.get("minDomains") or 1
        if not isinstance(min_domains, int) or min_domains < 1:
            raise ValueError(f"{where}.minDomains: must be greater than zero")
        out.append(SpreadConstraint(
            skew, key, when, sel, min_domains,
            c.get("nodeAffinityPolicy") or "Honor", c.get("nodeTaintsPolicy") or "Ignore",
        ))
    return tuple(out)
