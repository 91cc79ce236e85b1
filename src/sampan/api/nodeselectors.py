"""Compiled node selectors, parsed once from wire-format dicts (label selectors of pods come from
``sampan.api.selectors.LabelSelector.from_dict``). The one implementation of node-selector matching: the
scheduler (node affinity, volume binding), the DaemonSet controller and the PV binder all use it.

``NodeSelectorTerm`` is one term of a v1.NodeSelector:
label expressions (In, NotIn, Exists, DoesNotExist, Gt, Lt) and field expressions (``metadata.name``
only), all ANDed; a v1.NodeSelector ORs its terms, and a term with no requirements matches nothing.

Invalid selectors raise ``ValueError`` with the offending field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_NODE_OPS = frozenset({"In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"})


@dataclass(frozen=True, slots=True)
class Requirement:
    """One ``key op values`` requirement. For Gt/Lt ``number`` holds the parsed integer."""

    key: str
    op: str
    values: frozenset[str]
    number: int = 0

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.op
        if op == "In":
            v = labels.get(self.key)
            return v is not None and v in self.values
        if op == "NotIn":
            v = labels.get(self.key)
            return v is None or v not in self.values
        if op == "Exists":
            return self.key in labels
        if op == "DoesNotExist":
            return self.key not in labels
        v = labels.get(self.key)
        if v is None:
            return False
        try:
            n = int(v)
        except ValueError:
            return False
        return n > self.number if op == "Gt" else n < self.number


def _requirement(expr: Any, *, where: str, ops: frozenset[str]) -> Requirement:
    if not isinstance(expr, dict):
        raise ValueError(f"{where}: must be an object")
    key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
    if not isinstance(key, str) or not key:
        raise ValueError(f"{where}.key: Required value")
    if op not in ops:
        raise ValueError(f"{where}.operator: Unsupported value: {op!r}")
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ValueError(f"{where}.values: must be a list of strings")
    if op in ("In", "NotIn") and not values:
        raise ValueError(f"{where}.values: must be non-empty for operator {op}")
    if op in ("Exists", "DoesNotExist") and values:
        raise ValueError(f"{where}.values: must be empty for operator {op}")
    number = 0
    if op in ("Gt", "Lt"):
        if len(values) != 1:
            raise ValueError(f"{where}.values: must have one element for operator {op}")
        try:
            number = int(values[0])
        except ValueError:
            raise ValueError(f"{where}.values[0]: must be an integer for operator {op}") from None
    return Requirement(key, op, frozenset(values), number)


class NodeSelectorTerm:
    """One v1.NodeSelectorTerm: every label and field requirement must hold."""

    __slots__ = ("fields", "labels")

    def __init__(self, labels: tuple[Requirement, ...], fields: tuple[Requirement, ...]) -> None:
        self.labels = labels
        self.fields = fields

    def matches(self, node_labels: Mapping[str, str], node_name: str) -> bool:
        if not self.labels and not self.fields:
            return False
        for r in self.labels:
            if not r.matches(node_labels):
                return False
        if self.fields:
            fields = {"metadata.name": node_name}
            return all(r.matches(fields) for r in self.fields)
        return True


def compile_node_selector_term(term: Any, *, where: str) -> NodeSelectorTerm:
    if not isinstance(term, dict):
        raise ValueError(f"{where}: must be an object")
    exprs = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not isinstance(exprs, list) or not isinstance(fields, list):
        raise ValueError(f"{where}: matchExpressions and matchFields must be lists")
    labels = tuple(
        _requirement(e, where=f"{where}.matchExpressions[{i}]", ops=_NODE_OPS) for i, e in enumerate(exprs)
    )
    freqs = tuple(_requirement(e, where=f"{where}.matchFields[{i}]", ops=_NODE_OPS) for i, e in enumerate(fields))
    for i, r in enumerate(freqs):
        if r.key != "metadata.name":
            raise ValueError(f"{where}.matchFields[{i}].key: Unsupported value: {r.key!r}: supported: metadata.name")
    return NodeSelectorTerm(labels, freqs)


class NodeSelector:
    """A v1.NodeSelector: the terms are ORed; no terms matches nothing."""

    __slots__ = ("terms",)

    def __init__(self, terms: tuple[NodeSelectorTerm, ...]) -> None:
        self.terms = terms

    def matches(self, node_labels: Mapping[str, str], node_name: str) -> bool:
        return any(t.matches(node_labels, node_name) for t in self.terms)


def compile_node_selector(sel: Any, *, where: str) -> NodeSelector:
    if not isinstance(sel, dict):
        raise ValueError(f"{where}: must be an object")
    terms = sel.get("nodeSelectorTerms") or []
    if not isinstance(terms, list):
        raise ValueError(f"{where}.nodeSelectorTerms: must be a list")
    return NodeSelector(
        tuple(compile_node_selector_term(t, where=f"{where}.nodeSelectorTerms[{i}]") for i, t in enumerate(terms))
    )
