"""core/v1 limitranges: per-namespace container/pod/claim resource defaults and bounds (enforced by the
``LimitRanger`` admission plugin).

Defaults, as upstream's ``SetDefaults_LimitRangeItem``: a ``Container`` item's ``default`` takes ``max``
for names it lacks, ``defaultRequest`` takes ``default`` then ``min``. Validation, as upstream's
``ValidateLimitRange``: ``type`` is required; every quantity parses and is non-negative; ``Pod`` items may
not have ``default``/``defaultRequest``; per resource name min <= defaultRequest <= default <= max,
``maxLimitRequestRatio`` >= 1 and <= max/min (upstream's messages). Table: Name, Created At.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sampan.api import limitranges as lrs
from sampan.api.errors import Cause, forbidden, invalid, required
from sampan.api.quantity import parse_or_none
from sampan.api.resources import ResourceInfo
from sampan.apiserver.registry.base import NAME_COLUMN, BaseStrategy, as_dict, as_list
from sampan.apiserver.registry.resourcequotas import PATTERN_MSG
from sampan.apiserver.registry.roles import CREATED_AT_COLUMN, created_at_cell, required_because
from sampan.apiserver.registry.strategy import Object, TableColumn

_MAPS = ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio")


class LimitRangeStrategy(BaseStrategy):
    info = ResourceInfo(
        group="", version="v1", resource="limitranges", kind="LimitRange", singular="limitrange",
        namespaced=True, short_names=("limits",),
    )
    columns: ClassVar[tuple[TableColumn, ...]] = (NAME_COLUMN, CREATED_AT_COLUMN)

    def default(self, obj: Object) -> None:
        for item in lrs.items(obj):
            lrs.default_item(item)

    def validate_spec(self, obj: Object) -> list[Cause]:
        spec = obj.get("spec")
        if spec is not None and not isinstance(spec, dict):
            return [invalid("spec", str(spec), "must be an object")]
        limits = as_dict(spec).get("limits")
        if limits is not None and not isinstance(limits, list):
            return [invalid("spec.limits", str(limits), "must be a list")]
        causes: list[Cause] = []
        for i, item in enumerate(as_list(limits)):
            path = f"spec.limits[{i}]"
            if not isinstance(item, dict):
                causes.append(invalid(path, str(item), "must be an object"))
                continue
            causes += _validate_item(item, path)
        return causes

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        return [created_at_cell(obj)]


def _validate_item(item: dict[str, Any], path: str) -> list[Cause]:
    causes: list[Cause] = []
    kind = item.get("type")
    if not kind:
        causes.append(required(f"{path}.type"))
    values: dict[str, dict[str, Any]] = {}
    for key in _MAPS:
        raw = item.get(key)
        if raw is not None and not isinstance(raw, dict):
            causes.append(invalid(f"{path}.{key}", str(raw), "must be a map of resource names to quantities"))
            continue
        values[key] = {}
        for name, text in as_dict(raw).items():
            q = parse_or_none(text)
            if q is None:
                causes.append(invalid(f"{path}.{key}[{name}]", str(text), PATTERN_MSG))
            elif q < 0:
                causes.append(invalid(f"{path}.{key}[{name}]", str(text), "must be greater than or equal to 0"))
            else:
                values[key][name] = q
    if kind == lrs.POD:
        for key in ("default", "defaultRequest"):
            if item.get(key):
                causes.append(forbidden(f"{path}.{key}", "may not be specified when `type` is 'Pod'"))
    if kind == lrs.PVC and not ({"storage"} & (set(values.get("min", {})) | set(values.get("max", {})))):
        causes.append(required_because(f"{path}.limits", "either minimum or maximum storage value is required, "
                                                       "but neither was provided"))
    names = sorted(set().union(*(v.keys() for v in values.values()))) if values else []
    for name in names:
        lo, hi = values.get("min", {}).get(name), values.get("max", {}).get(name)
        dflt, dreq = values.get("default", {}).get(name), values.get("defaultRequest", {}).get(name)
        ratio = values.get("maxLimitRequestRatio", {}).get(name)
        if lo is not None and hi is not None and hi < lo:
            causes.append(invalid(f"{path}.min[{name}]", str(lo), f"min value {lo} is greater than max value {hi}"))
        if dreq is not None and lo is not None and dreq < lo:
            causes.append(invalid(f"{path}.defaultRequest[{name}]", str(dreq),
                                  f"min value {lo} is greater than default request value {dreq}"))
        if dreq is not None and hi is not None and hi < dreq:
            causes.append(invalid(f"{path}.defaultRequest[{name}]", str(dreq),
                                  f"default request value {dreq} is greater than max value {hi}"))
        if dreq is not None and dflt is not None and dflt < dreq:
            causes.append(invalid(f"{path}.defaultRequest[{name}]", str(dreq),
                                  f"default request value {dreq} is greater than default limit value {dflt}"))
        if dflt is not None and lo is not None and dflt < lo:
            causes.append(invalid(f"{path}.default[{name}]", str(lo),
                                  f"min value {lo} is greater than default value {dflt}"))
        if dflt is not None and hi is not None and hi < dflt:
            causes.append(invalid(f"{path}.default[{name}]", str(hi),
                                  f"default value {dflt} is greater than max value {hi}"))
        if ratio is not None and ratio < 1:
            causes.append(invalid(f"{path}.maxLimitRequestRatio[{name}]", str(ratio), f"ratio {ratio} is less than 1"))
        if ratio is not None and lo is not None and hi is not None and not lo.is_zero():
            bound = hi.value_exact / lo.value_exact
            if ratio.value_exact > bound:
                causes.append(invalid(f"{path}.maxLimitRequestRatio[{name}]", str(ratio),
                                      f"ratio {ratio} is greater than max/min = {float(bound):f}"))
    return causes
