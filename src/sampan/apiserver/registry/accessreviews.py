"""authorization.k8s.io/v1 subjectaccessreviews, localsubjectaccessreviews and selfsubjectrulesreviews.

Create-only, never-stored resources answered by :mod:`sampan.apiserver.authz.reviews`; these strategies
exist so discovery and OpenAPI list them and so requests are validated as upstream's
``ValidateSubjectAccessReview`` / ``ValidateLocalSubjectAccessReview`` do: exactly one of
``spec.resourceAttributes`` / ``spec.nonResourceAttributes``; a user or a group (subject reviews); a
local review's namespace matches its URL and names no non-resource URL.
"""

from __future__ import annotations

from sampan.api.errors import Cause, invalid
from sampan.api.resources import ResourceInfo
from sampan.apiserver.registry.base import BaseStrategy, as_dict
from sampan.apiserver.registry.selfsubjectaccessreviews import SelfSubjectAccessReviewStrategy
from sampan.apiserver.registry.strategy import Object

GROUP = "authorization.k8s.io"


class SubjectAccessReviewStrategy(SelfSubjectAccessReviewStrategy):
    info = ResourceInfo(group=GROUP, version="v1", resource="subjectaccessreviews", kind="SubjectAccessReview",
                        singular="subjectaccessreview", namespaced=False, verbs=("create",))

    def validate(self, obj: Object) -> list[Cause]:
        causes = super().validate(obj)
        spec = as_dict(obj.get("spec"))
        if not spec.get("user") and not spec.get("groups"):
            causes.append(invalid("spec.user", "", "at least one of user or group must be specified"))
        return causes


class LocalSubjectAccessReviewStrategy(SubjectAccessReviewStrategy):
    info = ResourceInfo(group=GROUP, version="v1", resource="localsubjectaccessreviews",
                        kind="LocalSubjectAccessReview", singular="localsubjectaccessreview", namespaced=True,
                        verbs=("create",))

    def validate(self, obj: Object) -> list[Cause]:
        md = dict(as_dict(obj.get("metadata")))
        md.pop("namespace", None)
        causes = super().validate({**obj, "metadata": md})
        spec = as_dict(obj.get("spec"))
        if as_dict(spec.get("nonResourceAttributes")):
            causes.append(invalid("spec.nonResourceAttributes", str(spec.get("nonResourceAttributes")),
                                  "disallowed on this kind of request"))
        namespace = as_dict(obj.get("metadata")).get("namespace") or ""
        attrs = as_dict(spec.get("resourceAttributes"))
        if attrs and (attrs.get("namespace") or "") != namespace:
            causes.append(invalid("spec.resourceAttributes.namespace", str(attrs.get("namespace") or ""),
                                  "must match metadata.namespace"))
        return causes


class SelfSubjectRulesReviewStrategy(BaseStrategy):
    info = ResourceInfo(group=GROUP, version="v1", resource="selfsubjectrulesreviews", kind="SelfSubjectRulesReview",
                        singular="selfsubjectrulesreview", namespaced=False, verbs=("create",))

    def validate(self, obj: Object) -> list[Cause]:
        return []

    def validate_update(self, obj: Object, old: Object) -> list[Cause]:
        return []
