"""Authorization: may this user do this? Decided once per request, after authentication and
impersonation, before routing, admission and storage (upstream's order).

* :mod:`.attributes` — upstream's RequestInfo from method, path and query; :class:`Attributes`.
* :mod:`.decision` — the :class:`Authorizer` seam, decisions, the union, AlwaysAllow/AlwaysDeny and the
  ``system:masters`` shortcut that upstream puts first in every chain.
* :mod:`.rbac` (rules in :mod:`.rules`, subject index kept by :mod:`.cachefollow`) and :mod:`.node`
  (the Node authorizer's graph) — both read only the watch cache.
* :mod:`.filters` — the impersonation and authorization middlewares and upstream's 403 messages.
* :mod:`.escalation` — the ``escalate``/``bind`` checks on writes of roles and bindings.
* :mod:`.bootstrap` / :mod:`.reconcile` — the default policy, applied at start when RBAC is on.
* :mod:`.reviews` — the answers of the (Self|Local)SubjectAccessReview and SelfSubjectRulesReview APIs
  (HTTP in :mod:`sampan.apiserver.handlers.reviews`).
* :mod:`.setup` — wiring into ``build_app``: modes, middlewares, escalation guard, policy at start.

:func:`build` makes the chain for ``--authorization-mode`` (comma separated: ``AlwaysAllow``,
``AlwaysDeny``, ``Node``, ``RBAC``) and keeps it in the server context (:func:`authorization_of`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sampan.apiserver.authz.bootstrap import NODE_RULES
from sampan.apiserver.authz.decision import AlwaysAllow, AlwaysDeny, Authorizer, PrivilegedGroups, Union
from sampan.apiserver.authz.node import NodeAuthorizer
from sampan.apiserver.authz.rbac import RBACAuthorizer
from sampan.apiserver.context import ServerContext

MODES = ("AlwaysAllow", "AlwaysDeny", "Node", "RBAC")
SECURE_DEFAULT = ("Node", "RBAC")
"""Upstream's default for a cluster with authentication (kubeadm's ``--authorization-mode``)."""
INSECURE_DEFAULT = ("AlwaysAllow",)
"""The embedded / insecure-port default, where every request is the insecure admin anyway."""
_EXTRAS_KEY = "authz.authorization"


@dataclass(frozen=True, eq=False)
class Authorization:
    modes: tuple[str, ...]
    authorizer: Authorizer
    rbac: RBACAuthorizer | None
    node: NodeAuthorizer | None


def parse_modes(text: str) -> tuple[str, ...]:
    """``--authorization-mode``'s value; ValueError naming an unknown or repeated mode."""
    modes = tuple(m.strip() for m in text.split(",") if m.strip())
    if not modes:
        raise ValueError("at least one authorization-mode must be passed")
    for m in modes:
        if m not in MODES:
            raise ValueError(f'authorization-mode "{m}" is not a valid mode (one of {", ".join(MODES)})')
    if len(set(modes)) != len(modes):
        raise ValueError(f"authorization-mode {text!r} has mode specified more than once")
    return modes


def build(ctx: ServerContext, modes: Sequence[str]) -> Authorization:
    members: list[Authorizer] = [PrivilegedGroups()]
    rbac: RBACAuthorizer | None = None
    node: NodeAuthorizer | None = None
    for m in modes:
        if m == "AlwaysAllow":
            members.append(AlwaysAllow())
        elif m == "AlwaysDeny":
            members.append(AlwaysDeny())
        elif m == "Node":
            node = NodeAuthorizer(ctx, NODE_RULES)
            members.append(node)
        elif m == "RBAC":
            rbac = RBACAuthorizer(ctx)
            members.append(rbac)
    authz = Authorization(tuple(modes), Union(members), rbac, node)
    ctx.extras[_EXTRAS_KEY] = authz
    return authz


def authorization_of(ctx: ServerContext) -> Authorization | None:
    authz = ctx.extras.get(_EXTRAS_KEY)
    return authz if isinstance(authz, Authorization) else None
