"""authorization.k8s.io/v1 selfsubjectaccessreviews: "may I do this?" (``kubectl auth can-i``).

A create-only, never-stored resource. This strategy exists so discovery and OpenAPI list it and so the
request is validated as upstream does (exactly one of ``spec.resourceAttributes`` /
``spec.nonResourceAttributes``, empty metadata); :mod:`sampan.apiserver.handlers.reviews` answers it.
"""

from __future__ import annotations

from typing import Any

from sampan.api.errors import Cause, invalid
from sampan.api.resources import ResourceInfo
from sampan.apiserver.registry.base import BaseStrategy, as_dict
from sampan.apiserver.registry.roles import required_because
from sampan.apiserver.registry.strategy import Object


class SelfSubjectAccessReviewStrategy(BaseStrategy):
    info = ResourceInfo(
        group="authorization.k8s.io", version="v1", resource="selfsubjectaccessreviews",
        kind="SelfSubjectAccessReview", singular="selfsubjectaccessreview", namespaced=False, verbs=("create",),
    )

    def validate(self, obj: Object) -> list[Cause]:
        causes: list[Cause] = []
        md = obj.get("metadata")
        if md is not None and (not isinstance(md, dict) or any(_set(v) for v in md.values())):
            causes.append(invalid("metadata", str(md), "must be empty"))
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            spec = {}
        has_resource = bool(as_dict(spec.get("resourceAttributes")))
        has_non_resource = bool(as_dict(spec.get("nonResourceAttributes")))
        if has_resource and has_non_resource:
            causes.append(invalid("spec.nonResourceAttributes", str(spec.get("nonResourceAttributes")),
                                  "cannot be specified in combination with resourceAttributes"))
        elif not has_resource and not has_non_resource:
            causes.append(required_because("spec.resourceAttributes",
                                           "exactly one of nonResourceAttributes or resourceAttributes must be "
                                           "specified"))
        return causes

    def validate_update(self, obj: Object, old: Object) -> list[Cause]:
        return self.validate(obj)


def _set(value: Any) -> bool:
    return value not in (None, "", {}, [], 0)
