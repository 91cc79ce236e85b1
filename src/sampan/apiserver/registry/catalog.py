"""Every served resource and its strategy, in upstream's discovery order.

Groups come in kube-apiserver's priority order (core first, then apps, events.k8s.io, …, batch,
networking.k8s.io, policy, rbac, storage.k8s.io, …,
coordination.k8s.io, discovery.k8s.io); resources inside a group-version are sorted by plural name as
upstream's discovery lists them. A new built-in resource is one module with a strategy class plus one
line in ``BUILTIN``.

Invariants: (group, version, resource) is unique; (group, kind) is unique except for the other served
versions of a kind (``registry.conversion``), and ``by_kind`` answers the stored version's strategy.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Iterable

from sampan.apiserver.registry.base import BaseStrategy
from sampan.apiserver.registry.conversion import storage_gv
from sampan.apiserver.registry.strategy import Strategy

log = logging.getLogger(__name__)

GROUP_PRIORITY = (
    "", "apiregistration.k8s.io", "apps", "events.k8s.io", "authentication.k8s.io", "authorization.k8s.io",
    "autoscaling", "batch", "certificates.k8s.io", "networking.k8s.io", "policy", "rbac.authorization.k8s.io",
    "storage.k8s.io", "admissionregistration.k8s.io", "apiextensions.k8s.io", "scheduling.k8s.io",
    "coordination.k8s.io", "node.k8s.io", "discovery.k8s.io", "flowcontrol.apiserver.k8s.io",
)
"""Upstream's group order in /apis (kube-aggregator's priorities); unknown groups sort after, by name."""

BUILTIN: tuple[str, ...] = (
    "namespaces:NamespaceStrategy",
    "componentstatuses:ComponentStatusStrategy",
    "configmaps:ConfigMapStrategy",
    "pods:PodStrategy",
    "nodes:NodeStrategy",
    "services:ServiceStrategy",
    "bindings:BindingStrategy",
    "endpoints:EndpointsStrategy",
    "secrets:SecretStrategy",
    "events:EventStrategy",
    "serviceaccounts:ServiceAccountStrategy",
    "podtemplates:PodTemplateStrategy",
    "deployments:DeploymentStrategy",
    "replicasets:ReplicaSetStrategy",
    "daemonsets:DaemonSetStrategy",
    "controllerrevisions:ControllerRevisionStrategy",
    "jobs:JobStrategy",
    "leases:LeaseStrategy",
    "endpointslices:EndpointSliceStrategy",
    "events_v1:EventV1Strategy",
    "priorityclasses:PriorityClassStrategy",
    "resourcequotas:ResourceQuotaStrategy",
    "limitranges:LimitRangeStrategy",
    "roles:RoleStrategy",
    "roles:ClusterRoleStrategy",
    "rolebindings:RoleBindingStrategy",
    "rolebindings:ClusterRoleBindingStrategy",
    "poddisruptionbudgets:PodDisruptionBudgetStrategy",
    "cronjobs:CronJobStrategy",
    "horizontalpodautoscalers:HorizontalPodAutoscalerStrategy",
    "horizontalpodautoscalers_v1:HorizontalPodAutoscalerV1Strategy",
    "selfsubjectaccessreviews:SelfSubjectAccessReviewStrategy",
    "authnreviews:TokenReviewStrategy",
    "authnreviews:SelfSubjectReviewStrategy",
    "accessreviews:SubjectAccessReviewStrategy",
    "accessreviews:LocalSubjectAccessReviewStrategy",
    "accessreviews:SelfSubjectRulesReviewStrategy",
    "customresourcedefinitions:CustomResourceDefinitionStrategy",
    "replicationcontrollers:ReplicationControllerStrategy",
    "ingresses:IngressStrategy",
    "ingressclasses:IngressClassStrategy",
    "networkpolicies:NetworkPolicyStrategy",
    "storageclasses:StorageClassStrategy",
    "csidrivers:CSIDriverStrategy",
    "csinodes:CSINodeStrategy",
    "csistoragecapacities:CSIStorageCapacityStrategy",
    "volumeattachments:VolumeAttachmentStrategy",
    "webhookconfigurations:MutatingWebhookConfigurationStrategy",
    "webhookconfigurations:ValidatingWebhookConfigurationStrategy",
    "validatingadmissionpolicies:ValidatingAdmissionPolicyStrategy",
    "validatingadmissionpolicies:ValidatingAdmissionPolicyBindingStrategy",
    "statefulsets:StatefulSetStrategy",
    "persistentvolumes:PersistentVolumeStrategy",
    "persistentvolumeclaims:PersistentVolumeClaimStrategy",
    "apiservices:APIServiceStrategy",
    "flowschemas:FlowSchemaStrategy",
    "flowschemas:PriorityLevelConfigurationStrategy",
    "certificatesigningrequests:CertificateSigningRequestStrategy",
)
"""``module:Class`` under this package, one per built-in resource."""


def _load(spec: str) -> Strategy:
    module, cls = spec.split(":")
    strategy: Strategy = getattr(importlib.import_module(f"{__package__}.{module}"), cls)()
    return strategy


class Catalog:
    """An immutable set of strategies, indexed for the lookups handlers and discovery make."""

    def __init__(self, strategies: Iterable[Strategy]) -> None:
        ordered = sorted(strategies, key=_order)
        self._strategies = ordered
        self._by_gvr: dict[tuple[str, str, str], Strategy] = {}
        self._by_kind: dict[tuple[str, str], Strategy] = {}
        for s in ordered:
            gvr = (s.info.group, s.info.version, s.info.resource)
            if gvr in self._by_gvr:
                raise ValueError(f"resource {gvr} registered twice")
            self._by_gvr[gvr] = s
            prev = self._by_kind.get((s.info.group, s.info.kind))
            if prev is not None:
                if storage_gv(s) is not None:  # another version of a kind: by_kind keeps the storage one
                    continue
                if storage_gv(prev) is None:
                    raise ValueError(f"kind {s.info.kind!r} registered twice in group {s.info.group!r}")
            self._by_kind[(s.info.group, s.info.kind)] = s

    @classmethod
    def builtin(cls) -> Catalog:
        """Every built-in resource sampan serves."""
        return cls(_load(spec) for spec in BUILTIN)

    def strategies(self) -> list[Strategy]:
        return list(self._strategies)

    def lookup(self, group: str, version: str, resource: str) -> Strategy | None:
        return self._by_gvr.get((group, version, resource))

    def by_kind(self, group: str, kind: str) -> Strategy | None:
        return self._by_kind.get((group, kind))

    def groups(self) -> list[tuple[str, list[str]]]:
        """(group, versions) with the preferred version first; core ("") first."""
        out: dict[str, list[str]] = {}
        for s in self._strategies:
            versions = out.setdefault(s.info.group, [])
            if s.info.version not in versions:
                versions.append(s.info.version)
        return [(g, sorted(vs, key=_version_key)) for g, vs in out.items()]

    def resources(self, group: str, version: str) -> list[Strategy]:
        """The strategies of one group-version, in discovery order."""
        return [s for s in self._strategies if s.info.group == group and s.info.version == version]


def _order(s: Strategy) -> tuple[int, str, tuple[int, int, int], str]:
    g = s.info.group
    rank = GROUP_PRIORITY.index(g) if g in GROUP_PRIORITY else len(GROUP_PRIORITY)
    return (rank, g, _version_key(s.info.version), s.info.resource)


def _version_key(version: str) -> tuple[int, int, int]:
    """Upstream's version priority: GA before beta before alpha, higher numbers first."""
    m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not m:
        return (3, 0, 0)
    major = int(m.group(1))
    stage = {None: 0, "beta": 1, "alpha": 2}[m.group(2)]
    minor = int(m.group(3) or 0)
    return (stage, -major, -minor)


__all__ = ["BaseStrategy", "Catalog"]
