"""authentication.k8s.io/v1 tokenreviews and selfsubjectreviews: "whose token is this?" and "who am I?"
(``kubectl auth whoami``).

Create-only, never-stored resources: these strategies exist so discovery and OpenAPI list them;
:mod:`sampan.apiserver.handlers.authn_reviews` answers them.
"""

from __future__ import annotations

from sampan.api.resources import ResourceInfo
from sampan.apiserver.registry.base import BaseStrategy


class TokenReviewStrategy(BaseStrategy):
    info = ResourceInfo(
        group="authentication.k8s.io", version="v1", resource="tokenreviews", kind="TokenReview",
        singular="tokenreview", namespaced=False, verbs=("create",),
    )


class SelfSubjectReviewStrategy(BaseStrategy):
    info = ResourceInfo(
        group="authentication.k8s.io", version="v1", resource="selfsubjectreviews", kind="SelfSubjectReview",
        singular="selfsubjectreview", namespaced=False, verbs=("create",),
    )
