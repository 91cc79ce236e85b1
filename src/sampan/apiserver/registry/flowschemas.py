"""flowcontrol.apiserver.k8s.io/v1 flowschemas and prioritylevelconfigurations (cluster-scoped), the
configuration of API Priority and Fairness (``sampan.apiserver.flowcontrol``).

Defaults, as upstream's v1 defaulting: a Limited level gets ``nominalConcurrencyShares: 30`` and
``lendablePercent: 0`` when unset, a Queue response gets ``queues: 64``, ``handSize: 8``,
``queueLengthLimit: 50``; an Exempt level gets ``nominalConcurrencyShares: 0``, ``lendablePercent: 0``.
A FlowSchema gets ``matchingPrecedence: 1000``.

Validation (the common cases of upstream's ``ValidateFlowSchema``/``ValidatePriorityLevelConfiguration``):
precedence in 1..10000, a level reference, rules with subjects and resource or non-resource rules, subject
kinds User/Group/ServiceAccount with their member, distinguisher ByUser/ByNamespace; level type
Limited/Exempt with the matching member, shares >= 0, percents in 0..100, queuing with handSize <= queues
and positive values. Both have a ``status`` subresource (the server writes FlowSchema conditions).
Tables: upstream's columns (FlowSchema: Name, PriorityLevel, MatchingPrecedence, DistinguisherMethod, Age,
MissingPL; level: Name, Type, NominalConcurrencyShares, Queues, HandSize, QueueLengthLimit, Age).
"""

from __future__ import annotations

import functools
from typing import Any, TypeGuard

from sampan.api.errors import Cause, invalid, not_supported, required
from sampan.api.resources import ResourceInfo
from sampan.apiserver.registry.base import AGE_COLUMN, NAME_COLUMN, BaseStrategy, age_cell, as_dict, as_list
from sampan.apiserver.registry.columns import doc_column
from sampan.apiserver.registry.strategy import Object, TableColumn

_V1 = "io.k8s.api.flowcontrol.v1."
SUBJECT_KINDS = ["Group", "ServiceAccount", "User"]
DISTINGUISHERS = ["ByNamespace", "ByUser"]
LEVEL_TYPES = ["Exempt", "Limited"]
LIMIT_RESPONSES = ["Queue", "Reject"]


def _int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


@functools.cache
def _schema_columns() -> tuple[TableColumn, ...]:
    return (
        NAME_COLUMN,
        doc_column("PriorityLevel", _V1 + "PriorityLevelConfigurationReference", "name"),
        doc_column("MatchingPrecedence", _V1 + "FlowSchemaSpec", "matchingPrecedence"),
        doc_column("DistinguisherMethod", _V1 + "FlowSchemaSpec", "distinguisherMethod"),
        AGE_COLUMN,
        TableColumn("MissingPL", description="references a broken or non-existent PriorityLevelConfiguration"),
    )


@functools.cache
def _level_columns() -> tuple[TableColumn, ...]:
    return (
        NAME_COLUMN,
        doc_column("Type", _V1 + "PriorityLevelConfigurationSpec", "type"),
        doc_column("NominalConcurrencyShares", _V1 + "LimitedPriorityLevelConfiguration", "nominalConcurrencyShares"),
        doc_column("Queues", _V1 + "QueuingConfiguration", "queues"),
        doc_column("HandSize", _V1 + "QueuingConfiguration", "handSize"),
        doc_column("QueueLengthLimit", _V1 + "QueuingConfiguration", "queueLengthLimit"),
        AGE_COLUMN,
    )


def _validate_subject(s: dict[str, Any], path: str) -> list[Cause]:
    kind = s.get("kind")
    if kind not in SUBJECT_KINDS:
        return [not_supported(f"{path}.kind", kind, SUBJECT_KINDS)]
    member = {"User": "user", "Group": "group", "ServiceAccount": "serviceAccount"}[kind]
    body = as_dict(s.get(member))
    if not body.get("name"):
        return [required(f"{path}.{member}.name")]
    if kind == "ServiceAccount" and not body.get("namespace"):
        return [required(f"{path}.serviceAccount.namespace")]
    return []


def _validate_rule(rule: dict[str, Any], path: str) -> list[Cause]:
    causes: list[Cause] = []
    subjects = as_list(rule.get("subjects"))
    if not subjects:
        causes.append(required(f"{path}.subjects"))
    for i, s in enumerate(subjects):
        causes += _validate_subject(as_dict(s), f"{path}.subjects[{i}]")
    resource_rules, non_resource = as_list(rule.get("resourceRules")), as_list(rule.get("nonResourceRules"))
    if not resource_rules and not non_resource:
        causes.append(required(f"{path}.resourceRules"))
    for i, r in enumerate(resource_rules):
        r = as_dict(r)
        for f in ("verbs", "apiGroups", "resources"):
            if not as_list(r.get(f)):
                causes.append(required(f"{path}.resourceRules[{i}].{f}"))
        if not as_list(r.get("namespaces")) and not r.get("clusterScope"):
            causes.append(required(f"{path}.resourceRules[{i}].namespaces"))
    for i, r in enumerate(non_resource):
        r = as_dict(r)
        for f in ("verbs", "nonResourceURLs"):
            if not as_list(r.get(f)):
                causes.append(required(f"{path}.nonResourceRules[{i}].{f}"))
    return causes


class FlowSchemaStrategy(BaseStrategy):
    info = ResourceInfo(
        group="flowcontrol.apiserver.k8s.io", version="v1", resource="flowschemas", kind="FlowSchema",
        singular="flowschema", namespaced=False, subresources=("status",),
    )
    has_status = True
    tracks_generation = True
    defaults = (("spec.matchingPrecedence", 1000),)

    def initial_status(self, obj: Object) -> dict[str, Any] | None:
        return {}

    def validate_spec(self, obj: Object) -> list[Cause]:
        spec = as_dict(obj.get("spec"))
        causes: list[Cause] = []
        precedence = spec.get("matchingPrecedence")
        if not _int(precedence) or not 1 <= precedence <= 10000:
            causes.append(invalid("spec.matchingPrecedence", precedence, "must be between 1 and 10000 inclusively"))
        if not as_dict(spec.get("priorityLevelConfiguration")).get("name"):
            causes.append(required("spec.priorityLevelConfiguration.name"))
        method = spec.get("distinguisherMethod")
        if method is not None and as_dict(method).get("type") not in DISTINGUISHERS:
            causes.append(not_supported("spec.distinguisherMethod.type", as_dict(method).get("type"), DISTINGUISHERS))
        for i, rule in enumerate(as_list(spec.get("rules"))):
            causes += _validate_rule(as_dict(rule), f"spec.rules[{i}]")
        return causes

    def table_columns(self) -> list[TableColumn]:
        return list(_schema_columns())

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        spec = as_dict(obj.get("spec"))
        method = spec.get("distinguisherMethod")
        distinguisher = str(as_dict(method).get("type") or "") if method else "<none>"
        missing = "?"
        for cond in as_list(as_dict(obj.get("status")).get("conditions")):
            if as_dict(cond).get("type") == "Dangling":
                missing = str(as_dict(cond).get("status") or "")
                break
        return [as_dict(spec.get("priorityLevelConfiguration")).get("name", ""),
                spec.get("matchingPrecedence", 0), distinguisher, age_cell(obj, now), missing]


def _validate_percent(value: Any, path: str) -> list[Cause]:
    if value is not None and (not _int(value) or not 0 <= value <= 100):
        return [invalid(path, value, "must be between 0 and 100, inclusive")]
    return []


class PriorityLevelConfigurationStrategy(BaseStrategy):
    info = ResourceInfo(
        group="flowcontrol.apiserver.k8s.io", version="v1", resource="prioritylevelconfigurations",
        kind="PriorityLevelConfiguration", singular="prioritylevelconfiguration", namespaced=False,
        subresources=("status",),
    )
    has_status = True
    tracks_generation = True

    def initial_status(self, obj: Object) -> dict[str, Any] | None:
        return {}

    def default(self, obj: Object) -> None:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        limited, exempt = spec.get("limited"), spec.get("exempt")
        if isinstance(limited, dict):
            limited.setdefault("nominalConcurrencyShares", 30)
            limited.setdefault("lendablePercent", 0)
            response = limited.get("limitResponse")
            if isinstance(response, dict) and response.get("type") == "Queue":
                queuing = response.setdefault("queuing", {})
                if isinstance(queuing, dict):
                    queuing.setdefault("queues", 64)
                    queuing.setdefault("handSize", 8)
                    queuing.setdefault("queueLengthLimit", 50)
        if spec.get("type") == "Exempt" and exempt is None:
            exempt = spec["exempt"] = {}
        if isinstance(exempt, dict):
            exempt.setdefault("nominalConcurrencyShares", 0)
            exempt.setdefault("lendablePercent", 0)

    def validate_spec(self, obj: Object) -> list[Cause]:
        spec = as_dict(obj.get("spec"))
        kind = spec.get("type")
        if kind not in LEVEL_TYPES:
            return [not_supported("spec.type", kind, LEVEL_TYPES)]
        if kind == "Exempt":
            exempt = as_dict(spec.get("exempt"))
            causes = [] if spec.get("limited") is None else [
                invalid("spec.limited", "", "must be nil if the type is not Limited")]
            return causes + _validate_percent(exempt.get("lendablePercent"), "spec.exempt.lendablePercent")
        limited = spec.get("limited")
        if not isinstance(limited, dict):
            return [required("spec.limited")]
        causes = []
        shares = limited.get("nominalConcurrencyShares")
        if not _int(shares) or shares < 0:
            causes.append(invalid("spec.limited.nominalConcurrencyShares", shares, "must be a non-negative integer"))
        causes += _validate_percent(limited.get("lendablePercent"), "spec.limited.lendablePercent")
        borrowing = limited.get("borrowingLimitPercent")
        if borrowing is not None and (not _int(borrowing) or borrowing < 0):
            causes.append(invalid("spec.limited.borrowingLimitPercent", borrowing, "if specified, must be a "
                                  "non-negative integer"))
        response = as_dict(limited.get("limitResponse"))
        rtype = response.get("type")
        if rtype not in LIMIT_RESPONSES:
            return [*causes, not_supported("spec.limited.limitResponse.type", rtype, LIMIT_RESPONSES)]
        if rtype == "Queue":
            causes += _validate_queuing(as_dict(response.get("queuing")), "spec.limited.limitResponse.queuing")
        return causes

    def table_columns(self) -> list[TableColumn]:
        return list(_level_columns())

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        spec = as_dict(obj.get("spec"))
        shares: Any = "<none>"
        queues: Any = "<none>"
        hand: Any = "<none>"
        limit: Any = "<none>"
        limited = spec.get("limited")
        if isinstance(limited, dict):
            shares = limited.get("nominalConcurrencyShares", 0)
            queuing = as_dict(limited.get("limitResponse")).get("queuing")
            if isinstance(queuing, dict):
                queues, hand, limit = queuing.get("queues"), queuing.get("handSize"), queuing.get("queueLengthLimit")
        return [spec.get("type", ""), shares, queues, hand, limit, age_cell(obj, now)]


def _validate_queuing(q: dict[str, Any], path: str) -> list[Cause]:
    causes: list[Cause] = []
    for f in ("queues", "handSize", "queueLengthLimit"):
        v = q.get(f)
        if not _int(v) or v <= 0:
            causes.append(invalid(f"{path}.{f}", v, "must be positive"))
    queues, hand = q.get("queues"), q.get("handSize")
    if not causes and _int(queues) and _int(hand) and hand > queues:
        causes.append(invalid(f"{path}.handSize", hand, f"should not be greater than queues ({queues})"))
    return causes
