"""Privilege-escalation checks on RBAC writes, as upstream's rbac registry storage does.

A user may create or update a Role/ClusterRole only with rules they already hold in that namespace (or
cluster-wide), unless they may ``escalate`` that role; setting an ``aggregationRule`` needs full
authority (cluster-admin). A user may create or update a (Cluster)RoleBinding only to a role whose
rules they hold, unless they may ``bind`` it. ``system:masters`` members skip both. An update that
leaves the rules (or roleRef and subjects) unchanged is not checked. Refusals are 403 with upstream's
message (``user "alice" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not
currently held:`` and one compact rule per line).

Runs as the first validating step of every write (:func:`check_write`, installed by ``build_app`` as the
admission chain's registry guard), after the strategy's validation as upstream.
"""

from __future__ import annotations

from typing import Any

from sampan.api import errors
from sampan.apiserver.admission.interface import Attributes as AdmissionAttributes
from sampan.apiserver.authz import authorization_of
from sampan.apiserver.authz.attributes import Attributes
from sampan.apiserver.authz.coverage import compact, compact_string, covers
from sampan.apiserver.authz.decision import SYSTEM_MASTERS
from sampan.apiserver.authz.rbac import RBACAuthorizer
from sampan.apiserver.authz.rules import policy_rules
from sampan.apiserver.context import ServerContext
from sampan.apiserver.registry.base import as_dict
from sampan.apiserver.userinfo import UserInfo

RBAC_GROUP = "rbac.authorization.k8s.io"
_ROLES = {"roles", "clusterroles"}
_BINDINGS = {"rolebindings", "clusterrolebindings"}
FULL_AUTHORITY = [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}, {"verbs": ["*"], "nonResourceURLs": ["*"]}]


def _go_strings(values: tuple[str, ...]) -> str:
    return "[" + " ".join(f'"{v}"' for v in values) + "]"


def _held_rules(rbac: RBACAuthorizer, user: UserInfo, namespace: str) -> tuple[list[Any], list[str]]:
    rules: list[Any] = []
    problems: list[str] = []
    for source in rbac.rule_sources(user, namespace):
        if source.error:
            problems.append(source.error)
        rules.extend(source.rules)
    return rules, problems


def confirm_no_escalation(rbac: RBACAuthorizer, user: UserInfo, namespace: str, wanted: list[Any]) -> str:
    """"" when ``user`` holds every rule of ``wanted`` in ``namespace``; else upstream's message."""
    held, problems = _held_rules(rbac, user, namespace)
    ok, missing = covers(held, wanted)
    if ok:
        return ""
    lines = sorted({compact_string(r) for r in compact(missing)})
    msg = (f'user "{user.username}" (groups={_go_strings(user.groups)}) is attempting to grant RBAC permissions '
           "not currently held:\n" + "\n".join(lines))
    if problems:
        msg += f"; resolution errors: [{', '.join(problems)}]"
    return msg


def _forbidden(attrs: AdmissionAttributes, message: str) -> errors.Forbidden:
    name = attrs.name
    details = {"name": name, "group": RBAC_GROUP, "kind": attrs.resource} if name else {"group": RBAC_GROUP,
                                                                                      "kind": attrs.resource}
    target = f'{attrs.resource}.{RBAC_GROUP} "{name}"' if name else f"{attrs.resource}.{RBAC_GROUP}"
    return errors.Forbidden(f"{target} is forbidden: {message}", details=details)


def _allowed(ctx: ServerContext, user: UserInfo, verb: str, resource: str, *, name: str, namespace: str) -> bool:
    authz = authorization_of(ctx)
    assert authz is not None
    attrs = Attributes(user=user, verb=verb, api_group=RBAC_GROUP, api_version="v1", resource=resource, name=name,
                       namespace=namespace)
    return authz.authorizer.authorize(attrs).allowed


async def check_write(ctx: ServerContext, attrs: AdmissionAttributes) -> None:
    """Refuse (403) a role or binding write that would grant more than its author holds."""
    if attrs.group != RBAC_GROUP or attrs.subresource or attrs.operation not in ("CREATE", "UPDATE"):
        return
    authz = authorization_of(ctx)
    if authz is None or authz.rbac is None or attrs.obj is None:
        return
    user = attrs.user
    if SYSTEM_MASTERS in user.groups:
        return
    obj, old = attrs.obj, attrs.old
    if attrs.resource in _ROLES:
        if old is not None and obj.get("rules") == old.get("rules") and \
                obj.get("aggregationRule") == old.get("aggregationRule"):
            return
        if _allowed(ctx, user, "escalate", attrs.resource, name=attrs.name, namespace=attrs.namespace):
            return
        message = confirm_no_escalation(authz.rbac, user, attrs.namespace, list(policy_rules(obj)))
        if message:
            raise _forbidden(attrs, message)
        if obj.get("aggregationRule") and confirm_no_escalation(authz.rbac, user, attrs.namespace, FULL_AUTHORITY):
            raise _forbidden(attrs, "must have cluster-admin privileges to use the aggregationRule")
    elif attrs.resource in _BINDINGS:
        if old is not None and obj.get("roleRef") == old.get("roleRef") and obj.get("subjects") == old.get("subjects"):
            return
        ref = as_dict(obj.get("roleRef"))
        kind, role_name = str(ref.get("kind") or ""), str(ref.get("name") or "")
        resource = "clusterroles" if kind == "ClusterRole" else "roles"
        if _allowed(ctx, user, "bind", resource, name=role_name, namespace=attrs.namespace):
            return
        role = authz.rbac.role(kind, attrs.namespace, role_name)
        if role is None:
            raise _forbidden(attrs, f'{resource[:-1]}.{RBAC_GROUP} "{role_name}" not found')
        message = confirm_no_escalation(authz.rbac, user, attrs.namespace, list(policy_rules(role)))
        if message:
            raise _forbidden(attrs, message)
