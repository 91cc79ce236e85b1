"""Admission: the plugins every write passes through between decoding and storage, as
kube-apiserver's admission chain.

* The seam (:mod:`.interface`): a plugin has a ``name``, ``handles(attrs)`` and two async hooks,
  ``admit`` (mutating) and ``validate`` (validating), both given the server context and the request's
  :class:`Attributes` — operation (CREATE/UPDATE/DELETE/CONNECT), group/version/resource/subresource,
  kind, namespace, name, the new object and the old one, the user (``sampan.apiserver.userinfo``),
  dryRun, plus ``warnings`` (Warning headers) and audit ``annotations`` the hooks may add. A hook refuses
  by raising an ``APIError`` (usually 403 Forbidden). :class:`PluginBase` gives no-op hooks.
* The chain (:mod:`.chain`): plugins in upstream's order (:data:`chain.ORDER`: NamespaceLifecycle,
  LimitRanger, ServiceAccount, NodeRestriction, TaintNodesByCondition, PodSecurity, Priority,
  DefaultTolerationSeconds, …, MutatingAdmissionWebhook, ValidatingAdmissionPolicy,
  ValidatingAdmissionWebhook, ResourceQuota). The handlers call :func:`admit` after the system fields
  are set and before the strategy's ``prepare``/defaults; :func:`validate` after the strategy's
  validation, right before the store write (again on each retry of a raced update). A plugin is one
  module here, registered with one line in :data:`chain.FACTORIES`.
* Plugins: ``NamespaceLifecycle`` (:mod:`.namespacelifecycle`), ``LimitRanger`` (:mod:`.limitranger`),
  ``NodeRestriction`` (:mod:`.noderestriction`), ``PodSecurity`` (:mod:`.podsecurity`), ``Priority``
  (:mod:`.priority`), ``DefaultTolerationSeconds``
  (:mod:`.tolerations`), ``MutatingAdmissionWebhook`` and ``ValidatingAdmissionWebhook`` (:mod:`.webhooks`),
  ``ValidatingAdmissionPolicy`` (:mod:`.validatingadmissionpolicy`, matching in :mod:`.policymatch`),
  ``ResourceQuota`` (:mod:`.resourcequota`). Plugins holding resources (HTTP sessions) have an async
  ``close``, called at server shutdown (:func:`chain.close_chain`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sampan._lib import tracing
from sampan.apiserver.admission.chain import Chain, build_chain, chain_for, set_chain
from sampan.apiserver.admission.interface import Attributes, Operation, Plugin, PluginBase
from sampan.apiserver.admission.tolerations import add_default_tolerations
from sampan.apiserver.audit.context import annotate_all
from sampan.apiserver.userinfo import ANONYMOUS, UserInfo

if TYPE_CHECKING:
    from sampan.apiserver.context import Scope, ServerContext


def attributes(scope: Scope, operation: Operation, *, obj: dict[str, Any] | None, old: dict[str, Any] | None = None,
               namespace: str, name: str, subresource: str | None = None, user: UserInfo = ANONYMOUS,
               dry_run: bool = False, warnings: list[str] | None = None) -> Attributes:
    """The :class:`Attributes` of a request on ``scope``'s resource (``warnings`` is shared, not copied)."""
    info = scope.info
    return Attributes(operation=operation, group=info.group, version=info.version, resource=info.resource,
                      kind=info.kind, namespace=namespace, name=name, obj=obj, old=old,
                      subresource=subresource or "", user=user, dry_run=dry_run,
                      warnings=warnings if warnings is not None else [])


async def admit(ctx: ServerContext, attrs: Attributes) -> None:
    """Run the mutating hooks of the server's chain."""
    try:
        if not tracing.STATE.on:
            await chain_for(ctx).admit(ctx, attrs)
            return
        with tracing.step("admission.mutate"):
            await chain_for(ctx).admit(ctx, attrs)
    finally:
        if attrs.annotations:
            annotate_all(attrs.annotations)


REGISTRY_GUARD_KEY = "admission.registry-guard"
"""``ctx.extras`` key of an async ``(ctx, attrs)`` check run before the validating plugins: the
registry-level checks upstream makes in a resource's storage (RBAC's escalation check, installed by
``build_app`` when RBAC is on)."""


async def validate(ctx: ServerContext, attrs: Attributes) -> None:
    """Run the registry guard (if any), then the validating hooks of the server's chain."""
    guard = ctx.extras.get(REGISTRY_GUARD_KEY)
    if guard is not None:
        await guard(ctx, attrs)
    try:
        if not tracing.STATE.on:
            await chain_for(ctx).validate(ctx, attrs)
            return
        with tracing.step("admission.validate"):
            await chain_for(ctx).validate(ctx, attrs)
    finally:
        if attrs.annotations:
            annotate_all(attrs.annotations)  # into the request's audit events


__all__ = ["ANONYMOUS", "Attributes", "Chain", "Operation", "Plugin", "PluginBase", "UserInfo",
           "add_default_tolerations", "admit", "attributes", "build_chain", "chain_for", "set_chain", "validate"]
