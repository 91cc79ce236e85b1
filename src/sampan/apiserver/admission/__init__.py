"""Admission: the mutating plugins that run on a create after the strategy's defaults and before
validation, as kube-apiserver's admission chain does. ``admit_create(ctx, scope, obj)`` runs every
plugin that applies to the resource; each plugin is a pure function over the object in its own module.

Plugins, in upstream's order: ``Priority`` (:mod:`.priority`), ``DefaultTolerationSeconds``
(:mod:`.tolerations`). They run before the strategy's defaults (upstream decodes with defaults, then
admits; the pod strategy's defaults stand in for a plugin when it did not set a field).
"""

from __future__ import annotations

from typing import Any

from sampan.apiserver.admission import priority
from sampan.apiserver.admission.tolerations import add_default_tolerations
from sampan.apiserver.context import Scope, ServerContext


async def admit_create(ctx: ServerContext, scope: Scope, obj: dict[str, Any]) -> None:
    """Mutate ``obj`` (a new object of ``scope``'s resource) as the admission chain would."""
    info = scope.info
    if (info.group, info.resource) == ("", "pods"):
        await priority.admit_pod_create(ctx, obj)
        add_default_tolerations(obj, not_ready_seconds=ctx.config.default_not_ready_toleration_seconds,
                                unreachable_seconds=ctx.config.default_unreachable_toleration_seconds)
    elif (info.group, info.resource) == ("scheduling.k8s.io", "priorityclasses"):
        await priority.admit_priority_class(ctx, obj)


def admit_update(scope: Scope, obj: dict[str, Any], old: dict[str, Any]) -> None:
    """Mutate ``obj`` (an update of ``old``) as the admission chain would."""
    info = scope.info
    if (info.group, info.resource) == ("", "pods"):
        priority.admit_pod_update(obj, old)


__all__ = ["add_default_tolerations", "admit_create", "admit_update"]
