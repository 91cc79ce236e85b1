"""Upstream's ``metav1validation.ValidateLabelSelector``: the checks a ``LabelSelector`` field gets
(network policies' pod and namespace selectors, CSIStorageCapacity's ``nodeTopology``).

``matchLabels`` is validated like object labels; each ``matchExpressions`` item needs a supported
operator, values exactly when the operator takes them, a qualified-name key and label-value values.
Never raises: wrong JSON types become causes.
"""

from __future__ import annotations

from typing import Any

from sampan.api import validation
from sampan.api.errors import Cause, forbidden, invalid


def validate_label_selector(selector: Any, path: str) -> list[Cause]:
    """Causes for a ``metav1.LabelSelector`` at ``path`` (None: nothing to check)."""
    if selector is None:
        return []
    if not isinstance(selector, dict):
        return [invalid(path, str(selector), "must be a label selector object")]
    causes = validation.validate_labels(selector.get("matchLabels"), f"{path}.matchLabels")
    exprs = selector.get("matchExpressions")
    if exprs is None:
        return causes
    if not isinstance(exprs, list):
        return [*causes, invalid(f"{path}.matchExpressions", str(exprs), "must be a list")]
    for i, expr in enumerate(exprs):
        causes += _requirement(expr, f"{path}.matchExpressions[{i}]")
    return causes


def _requirement(expr: Any, path: str) -> list[Cause]:
    if not isinstance(expr, dict):
        return [invalid(path, str(expr), "must be a label selector requirement")]
    causes: list[Cause] = []
    op, values = expr.get("operator"), expr.get("values") or []
    if not isinstance(values, list):
        values = [values]
    if op in ("In", "NotIn"):
        if not values:
            causes.append(Cause("FieldValueRequired", f"{path}.values",
                                "Required value: must be specified when `operator` is 'In' or 'NotIn'"))
    elif op in ("Exists", "DoesNotExist"):
        if values:
            causes.append(forbidden(f"{path}.values",
                                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
    else:
        causes.append(invalid(f"{path}.operator", op if op is not None else "", "not a valid selector operator"))
    key = expr.get("key")
    causes += validation.validate_name(key if key is not None else "", f"{path}.key", validation.qualified_name)
    for j, value in enumerate(values):
        causes += validation.validate_name(value, f"{path}.values[{j}]", validation.label_value)
    return causes
