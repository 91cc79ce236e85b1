"""The ordered admission chain: every plugin's ``admit`` in order, then (after the strategy's
validation) every plugin's ``validate`` in order; the first refusal ends the request.

:data:`ORDER` is upstream's order of the default-enabled plugins (``kube-apiserver``'s
``AllOrderedPlugins``); :data:`FACTORIES` maps the name of each plugin sampan implements to the
function that builds it for a server. A name in :data:`ORDER` without a factory is simply not run.
To add a plugin: write its module, then add one line to :data:`FACTORIES` — never reorder
:data:`ORDER`. One :class:`Chain` is built per server, on first use (:func:`chain_for`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from sampan.apiserver.admission import (
    certificates,
    limitranger,
    namespacelifecycle,
    noderestriction,
    podsecurity,
    priority,
    resourcequota,
    serviceaccount,
    tolerations,
    validatingadmissionpolicy,
    webhooks,
)
from sampan.apiserver.admission.interface import Attributes, Plugin, PluginBase

if TYPE_CHECKING:
    from sampan.apiserver.context import ServerContext

log = logging.getLogger(__name__)

ORDER: tuple[str, ...] = (
    "NamespaceLifecycle",
    "LimitRanger",
    "ServiceAccount",
    "NodeRestriction",
    "TaintNodesByCondition",
    "PodSecurity",
    "Priority",
    "DefaultTolerationSeconds",
    "DefaultStorageClass",
    "RuntimeClass",
    "CertificateApproval",
    "CertificateSigning",
    "CertificateSubjectRestriction",
    "DefaultIngressClass",
    "MutatingAdmissionPolicy",
    "MutatingAdmissionWebhook",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionWebhook",
    "ResourceQuota",
)

PluginFactory = Callable[["ServerContext"], Plugin]

FACTORIES: dict[str, PluginFactory] = {
    "NamespaceLifecycle": lambda ctx: namespacelifecycle.NamespaceLifecyclePlugin(),
    "LimitRanger": lambda ctx: limitranger.LimitRangerPlugin(),
    "NodeRestriction": lambda ctx: noderestriction.NodeRestrictionPlugin(),
    "ServiceAccount": lambda ctx: serviceaccount.ServiceAccountPlugin(),
    "PodSecurity": lambda ctx: podsecurity.PodSecurityPlugin(),
    "Priority": lambda ctx: priority.PriorityPlugin(),
    "DefaultTolerationSeconds": lambda ctx: tolerations.DefaultTolerationSecondsPlugin(
        not_ready_seconds=ctx.config.default_not_ready_toleration_seconds,
        unreachable_seconds=ctx.config.default_unreachable_toleration_seconds),
    "ValidatingAdmissionPolicy": lambda ctx: validatingadmissionpolicy.ValidatingAdmissionPolicyPlugin(),
    "MutatingAdmissionWebhook": lambda ctx: webhooks.WebhookPlugin(mutating=True),
    "ValidatingAdmissionWebhook": lambda ctx: webhooks.WebhookPlugin(mutating=False),
    "ResourceQuota": lambda ctx: resourcequota.ResourceQuotaPlugin(),
    "CertificateApproval": lambda ctx: certificates.CertificateApprovalPlugin(),
    "CertificateSigning": lambda ctx: certificates.CertificateSigningPlugin(),
    "CertificateSubjectRestriction": lambda ctx: certificates.CertificateSubjectRestrictionPlugin(),
}

_EXTRAS_KEY = "admission.chain"


class Chain:
    """Plugins in order. ``admit`` runs the mutating hooks, ``validate`` the validating ones; each
    runs only the plugins whose ``handles(attrs)`` is true."""

    def __init__(self, plugins: Sequence[Plugin]) -> None:
        self.plugins = tuple(plugins)
        # PluginBase's hooks do nothing: a plugin that inherits one is left out of that hook's pass
        self._mutating = tuple(p for p in self.plugins if not _inherits(p, "admit"))
        self._validating = tuple(p for p in self.plugins if not _inherits(p, "validate"))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.plugins)

    async def admit(self, ctx: ServerContext, attrs: Attributes) -> None:
        for plugin in self._mutating:
            if plugin.handles(attrs):
                await plugin.admit(ctx, attrs)

    async def validate(self, ctx: ServerContext, attrs: Attributes) -> None:
        for plugin in self._validating:
            if plugin.handles(attrs):
                await plugin.validate(ctx, attrs)

    async def close(self) -> None:
        """Release what plugins hold (HTTP sessions): the plugins with an async ``close``."""
        for plugin in self.plugins:
            close = getattr(plugin, "close", None)
            if close is not None:
                await close()


def _inherits(plugin: Plugin, hook: str) -> bool:
    """Whether ``plugin``'s ``hook`` is :class:`PluginBase`'s no-op (so running it changes nothing)."""
    return isinstance(plugin, PluginBase) and getattr(type(plugin), hook, None) is getattr(PluginBase, hook)


def build_chain(ctx: ServerContext, *, disabled: frozenset[str] = frozenset()) -> Chain:
    """The default chain for ``ctx``: every implemented plugin of :data:`ORDER` not in ``disabled``."""
    plugins = [FACTORIES[name](ctx) for name in ORDER if name in FACTORIES and name not in disabled]
    log.debug("admission chain plugins=%s", ",".join(p.name for p in plugins))
    return Chain(plugins)


def chain_for(ctx: ServerContext) -> Chain:
    """The server's chain (built on first use, kept in ``ctx.extras``)."""
    chain = ctx.extras.get(_EXTRAS_KEY)
    if not isinstance(chain, Chain):
        chain = ctx.extras[_EXTRAS_KEY] = build_chain(ctx, disabled=frozenset(ctx.config.disable_admission_plugins))
    return chain


async def close_chain(ctx: ServerContext) -> None:
    """Close the server's chain when one was built (server shutdown)."""
    chain = ctx.extras.pop(_EXTRAS_KEY, None)
    if isinstance(chain, Chain):
        await chain.close()


def set_chain(ctx: ServerContext, chain: Chain) -> None:
    """Replace the server's chain (tests; servers configured with other plugins)."""
    ctx.extras[_EXTRAS_KEY] = chain
