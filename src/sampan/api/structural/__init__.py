"""Structural OpenAPI v3 schemas of custom resources, over plain JSON dicts.

* ``checks``     — is a CRD version's schema structural (the CRD-time checks apiextensions makes)?
* ``values``     — validate a custom object against its schema (422 causes, upstream wording);
* ``cel``        — ``x-kubernetes-validations`` CEL rules, evaluated with cel-python (celpy);
* ``pruning``    — drop fields the schema does not specify;
* ``defaulting`` — fill ``default`` values;
* ``formats``    — the string formats a schema may name.

A write of a custom object goes :func:`prepare` (prune, then default) and then :func:`validate`, as
upstream's custom-resource handler does. Nothing here imports the API server.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sampan.api.errors import Cause
from sampan.api.structural import cel, values
from sampan.api.structural.checks import check_schema
from sampan.api.structural.defaulting import apply_defaults
from sampan.api.structural.pruning import prune

_NO_OLD: Any = object()


def prepare(obj: Any, schema: Any) -> None:
    """Prune unknown fields, then apply defaults (in place)."""
    prune(obj, schema)
    apply_defaults(obj, schema)


BLOCKING_CAUSES = frozenset({"FieldValueNotSupported", "FieldValueRequired", "FieldValueTooLong",
                             "FieldValueTooMany", "FieldValueTypeInvalid"})
"""Causes after which upstream does not run a CRD's CEL rules (``hasBlockingErr``): the rules were
compiled for values of the schema's types, so they would only fail in confusing ways."""

RULES_NOT_CHECKED = Cause("FieldValueInvalid", "<nil>", 'Invalid value: "null": some validation rules were not '
                          "checked because the object was invalid; correct the existing errors to complete validation")
"""Upstream's field-less note (``field.Invalid(nil, nil, …)``) that stands for the skipped CEL rules."""


def validate(obj: Any, schema: Any, old: Any = _NO_OLD, *, earlier: Sequence[Cause] = ()) -> list[Cause]:
    """Schema validation then CEL rules (transition rules only when ``old`` is given).

    ``earlier`` are the causes the caller already found (object metadata, apiVersion/kind). As upstream,
    when any of those or the schema's causes is blocking (:data:`BLOCKING_CAUSES`), the CEL rules are not
    evaluated and :data:`RULES_NOT_CHECKED` is added instead. Returns only the causes found here.
    """
    causes = values.validate(obj, schema)
    if cel.has_rules(schema):
        if any(c.type in BLOCKING_CAUSES for c in (*earlier, *causes)):
            return [*causes, RULES_NOT_CHECKED]
        new_view = _cel_view(obj)
        causes += cel.evaluate(new_view, schema) if old is _NO_OLD else cel.evaluate(new_view, schema, _cel_view(old))
    return causes


def _cel_view(obj: Any) -> Any:
    """What CEL's ``self`` sees at the root: ``metadata`` limited to name and generateName, as upstream."""
    if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict):
        return obj
    md = {k: v for k, v in obj["metadata"].items() if k in ("name", "generateName")}
    return {**obj, "metadata": md}


__all__ = ["BLOCKING_CAUSES", "RULES_NOT_CHECKED", "apply_defaults", "check_schema", "prepare", "prune", "validate"]
