"""Scheduler configuration: a KubeSchedulerConfiguration-style document turned into profiles.

Accepted shape (``kubescheduler.config.k8s.io/v1``; unknown top-level fields are rejected)::

    apiVersion: kubescheduler.config.k8s.io/v1
    kind: KubeSchedulerConfiguration
    percentageOfNodesToScore: 0          # 0 = adaptive (50% - nodes/125, at least 5%)
    podInitialBackoffSeconds: 1
    podMaxBackoffSeconds: 10
    profiles:
    - schedulerName: default-scheduler
      percentageOfNodesToScore: 30      # optional, overrides the global value
      plugins:
        multiPoint: {enabled: [{name: X, weight: 2}], disabled: [{name: "*"}]}
        filter:     {enabled: [...], disabled: [...]}
        score:      {enabled: [{name: NodeResourcesFit, weight: 5}]}
      pluginConfig:
      - name: NodeResourcesFit
        args: {scoringStrategy: {type: MostAllocated}}

Expansion (as upstream): start from the default multiPoint list unless ``multiPoint.disabled`` names
``*`` or the plugin; add ``multiPoint.enabled``; a plugin goes to every extension point it implements,
except points whose ``disabled`` list names it (or ``*``); a point's ``enabled`` list adds plugins or
overrides their score weight. Errors raise ``ConfigError`` with the field path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from sampan.scheduler.framework.pod_info import DEFAULT_SCHEDULER_NAME

EXTENSION_POINTS = (
    "queueSort", "preFilter", "filter", "postFilter", "preScore", "score",
    "reserve", "permit", "preBind", "bind", "postBind",
)

DEFAULT_PLUGINS: tuple[tuple[str, int], ...] = (
    ("PrioritySort", 0),
    ("NodeUnschedulable", 0),
    ("NodeName", 0),
    ("TaintToleration", 3),
    ("NodeAffinity", 2),
    ("NodePorts", 0),
    ("NodeResourcesFit", 1),
    ("VolumeBinding", 0),
    ("PodTopologySpread", 2),
    ("InterPodAffinity", 2),
    ("DefaultPreemption", 0),
    ("NodeResourcesBalancedAllocation", 1),
    ("ImageLocality", 1),
    ("DefaultBinder", 0),
)

_TOP_FIELDS = {
    "apiVersion", "kind", "profiles", "percentageOfNodesToScore", "podInitialBackoffSeconds",
    "podMaxBackoffSeconds", "parallelism", "leaderElection", "clientConnection", "extenders",
    "delayCacheUntilActive",
}


class ConfigError(ValueError):
    """A configuration document that cannot be used; the message names the field."""


@dataclass(frozen=True, slots=True)
class PluginRef:
    name: str
    weight: int = 0


@dataclass(frozen=True)
class Profile:
    """One scheduler profile: which plugins run at each point, score weights, plugin args."""

    scheduler_name: str = DEFAULT_SCHEDULER_NAME
    percentage_of_nodes_to_score: int | None = None
    multi_point: tuple[PluginRef, ...] = tuple(PluginRef(n, w) for n, w in DEFAULT_PLUGINS)
    enabled: dict[str, tuple[PluginRef, ...]] = field(default_factory=dict)
    disabled: dict[str, frozenset[str]] = field(default_factory=dict)
    plugin_args: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class SchedulerConfig:
    profiles: tuple[Profile, ...] = (Profile(),)
    percentage_of_nodes_to_score: int = 0
    pod_initial_backoff_seconds: float = 1.0
    pod_max_backoff_seconds: float = 10.0


def _refs(raw: Any, *, where: str) -> tuple[PluginRef, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: must be a list")
    out = []
    for i, r in enumerate(raw):
        if not isinstance(r, dict) or not isinstance(r.get("name"), str) or not r["name"]:
            raise ConfigError(f"{where}[{i}].name: Required value")
        w = r.get("weight", 0) or 0
        if not isinstance(w, int) or w < 0 or w > 100:
            raise ConfigError(f"{where}[{i}].weight: must be an integer in [0, 100]")
        out.append(PluginRef(r["name"], w))
    return tuple(out)


def _percentage(raw: Any, *, where: str) -> int | None:
    if raw is None:
        return None
    if not isinstance(raw, int) or isinstance(raw, bool) or not 0 <= raw <= 100:
        raise ConfigError(f"{where}: must be an integer in [0, 100]")
    return raw


def _profile(raw: Any, *, where: str) -> Profile:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be an object")
    name = raw.get("schedulerName") or DEFAULT_SCHEDULER_NAME
    plugins = raw.get("plugins") or {}
    if not isinstance(plugins, dict):
        raise ConfigError(f"{where}.plugins: must be an object")
    unknown = set(plugins) - {"multiPoint", *EXTENSION_POINTS, "preEnqueue"}
    if unknown:
        raise ConfigError(f"{where}.plugins: unknown extension point {sorted(unknown)[0]!r}")
    mp = plugins.get("multiPoint") or {}
    mp_disabled = {r.name for r in _refs(mp.get("disabled"), where=f"{where}.plugins.multiPoint.disabled")}
    multi: list[PluginRef] = []
    if "*" not in mp_disabled:
        multi = [PluginRef(n, w) for n, w in DEFAULT_PLUGINS if n not in mp_disabled]
    for ref in _refs(mp.get("enabled"), where=f"{where}.plugins.multiPoint.enabled"):
        at = next((i for i, r in enumerate(multi) if r.name == ref.name), None)
        if at is None:
            multi.append(ref)
        else:
            multi[at] = ref
    enabled: dict[str, tuple[PluginRef, ...]] = {}
    disabled: dict[str, frozenset[str]] = {}
    for point in EXTENSION_POINTS:
        block = plugins.get(point) or {}
        if not isinstance(block, dict):
            raise ConfigError(f"{where}.plugins.{point}: must be an object")
        enabled[point] = _refs(block.get("enabled"), where=f"{where}.plugins.{point}.enabled")
        off = _refs(block.get("disabled"), where=f"{where}.plugins.{point}.disabled")
        disabled[point] = frozenset(r.name for r in off)
    args: dict[str, dict[str, Any]] = {}
    for i, pc in enumerate(raw.get("pluginConfig") or []):
        if not isinstance(pc, dict) or not isinstance(pc.get("name"), str):
            raise ConfigError(f"{where}.pluginConfig[{i}].name: Required value")
        a = pc.get("args") or {}
        if not isinstance(a, dict):
            raise ConfigError(f"{where}.pluginConfig[{i}].args: must be an object")
        if pc["name"] in args:
            raise ConfigError(f"{where}.pluginConfig[{i}].name: Duplicate value: {pc['name']!r}")
        args[pc["name"]] = a
    return Profile(
        scheduler_name=name,
        percentage_of_nodes_to_score=_percentage(raw.get("percentageOfNodesToScore"),
                                                 where=f"{where}.percentageOfNodesToScore"),
        multi_point=tuple(multi), enabled=enabled, disabled=disabled, plugin_args=args,
    )


def parse_config(doc: Any) -> SchedulerConfig:
    """Validate a decoded KubeSchedulerConfiguration document."""
    if doc is None:
        return SchedulerConfig()
    if not isinstance(doc, dict):
        raise ConfigError("configuration: must be an object")
    kind = doc.get("kind", "KubeSchedulerConfiguration")
    if kind != "KubeSchedulerConfiguration":
        raise ConfigError(f"kind: Unsupported value: {kind!r}")
    unknown = set(doc) - _TOP_FIELDS
    if unknown:
        raise ConfigError(f"unknown field {sorted(unknown)[0]!r}")
    raw_profiles = doc.get("profiles") or [{}]
    if not isinstance(raw_profiles, list):
        raise ConfigError("profiles: must be a list")
    profiles = tuple(_profile(p, where=f"profiles[{i}]") for i, p in enumerate(raw_profiles))
    names = [p.scheduler_name for p in profiles]
    for i, n in enumerate(names):
        if n in names[:i]:
            raise ConfigError(f"profiles[{i}].schedulerName: Duplicate value: {n!r}")
    initial = doc.get("podInitialBackoffSeconds", 1)
    maximum = doc.get("podMaxBackoffSeconds", 10)
    if not isinstance(initial, int | float) or initial <= 0:
        raise ConfigError("podInitialBackoffSeconds: must be greater than 0")
    if not isinstance(maximum, int | float) or maximum < initial:
        raise ConfigError("podMaxBackoffSeconds: must be greater than or equal to podInitialBackoffSeconds")
    return SchedulerConfig(
        profiles=profiles,
        percentage_of_nodes_to_score=_percentage(doc.get("percentageOfNodesToScore"),
                                                 where="percentageOfNodesToScore") or 0,
        pod_initial_backoff_seconds=float(initial), pod_max_backoff_seconds=float(maximum),
    )


def load_config(text: str) -> SchedulerConfig:
    """Parse YAML (or JSON) text; bad YAML is a ConfigError too."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}") from None
    return parse_config(doc)
