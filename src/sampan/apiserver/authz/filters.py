"""The request filters of authorization: impersonation, then the authorization check itself.

Both run after authentication (the user is on the request) and before routing, as upstream's
``WithImpersonation`` and ``WithAuthorization``:

* :func:`impersonation_middleware` — ``Impersonate-User`` / ``-Group`` / ``-Uid`` / ``-Extra-<key>``:
  each requested name is checked with the ``impersonate`` verb (users, groups, serviceaccounts,
  authentication.k8s.io uids and userextras/<key>); any refusal is 403 with upstream's message; groups,
  uid or extra without a user is a 500 with upstream's text. The request then carries the impersonated
  user (``system:authenticated`` added, and a service account's groups when no group was asked for).
* :func:`authorization_middleware` — computes the :class:`RequestInfo`, keeps it on the request
  (:data:`REQUEST_INFO_KEY`) and asks the authorizer; anything but ALLOW is 403 Forbidden with
  upstream's message (:func:`forbidden`).
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from sampan.api import errors
from sampan.apiserver.audit.context import annotate
from sampan.apiserver.authz.attributes import Attributes, RequestInfo, request_info
from sampan.apiserver.authz.decision import Authorizer
from sampan.apiserver.authz.rules import SERVICE_ACCOUNT_PREFIX
from sampan.apiserver.userinfo import REQUEST_KEY, UserInfo, request_user

log = logging.getLogger(__name__)

REQUEST_INFO_KEY = "sampan.requestinfo"
AUTHENTICATED, UNAUTHENTICATED, ANONYMOUS_USER = "system:authenticated", "system:unauthenticated", "system:anonymous"
IMPERSONATE_USER, IMPERSONATE_GROUP, IMPERSONATE_UID = "Impersonate-User", "Impersonate-Group", "Impersonate-Uid"
IMPERSONATE_EXTRA_PREFIX = "Impersonate-Extra-"
AUTHENTICATION_GROUP = "authentication.k8s.io"
DECISION_ANNOTATION, REASON_ANNOTATION = "authorization.k8s.io/decision", "authorization.k8s.io/reason"
"""The audit annotations of the authorization decision (upstream's)."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _group_resource(group: str, resource: str) -> str:
    return f"{resource}.{group}" if group else resource


def forbidden_message(attrs: Attributes) -> str:
    """Upstream's ``forbiddenMessage``: who cannot do what, where."""
    user = attrs.user.username
    if not attrs.is_resource_request:
        return f'User "{user}" cannot {attrs.verb} path "{attrs.path}"'
    if attrs.namespace:
        return (f'User "{user}" cannot {attrs.verb} resource "{attrs.combined_resource}" in API group '
                f'"{attrs.api_group}" in the namespace "{attrs.namespace}"')
    return (f'User "{user}" cannot {attrs.verb} resource "{attrs.combined_resource}" in API group '
            f'"{attrs.api_group}" at the cluster scope')


def forbidden(attrs: Attributes, reason: str = "") -> errors.Forbidden:
    """The 403 of a refused request (upstream's ``responsewriters.Forbidden`` + ``NewForbidden``)."""
    msg = forbidden_message(attrs)
    if reason:
        msg = f"{msg}: {reason}"
    if not attrs.is_resource_request or not attrs.resource:
        return errors.Forbidden(f"forbidden: {msg}")
    gr = _group_resource(attrs.api_group, attrs.resource)
    details = {k: v for k, v in (("name", attrs.name), ("group", attrs.api_group), ("kind", attrs.resource)) if v}
    if attrs.name:
        return errors.Forbidden(f'{gr} "{attrs.name}" is forbidden: {msg}', details=details)
    return errors.Forbidden(f"{gr} is forbidden: {msg}", details=details)


def request_attributes(request: web.BaseRequest) -> RequestInfo:
    """The request's :class:`RequestInfo` (computed once, kept on the request)."""
    info = request.get(REQUEST_INFO_KEY)
    if not isinstance(info, RequestInfo):
        info = request_info(request.method, request.path, request.query)
        request[REQUEST_INFO_KEY] = info
    return info


def authorization_middleware(authorizer: Authorizer) -> Middleware:
    @web.middleware
    async def authorize(request: web.Request, handler: Handler) -> web.StreamResponse:
        attrs = Attributes.of(request_user(request), request_attributes(request))
        decision = authorizer.authorize(attrs)
        annotate(DECISION_ANNOTATION, "allow" if decision.allowed else "forbid")
        annotate(REASON_ANNOTATION, decision.reason)
        if not decision.allowed:
            log.debug("forbidden user=%s verb=%s resource=%s ns=%s reason=%s", attrs.user.username, attrs.verb,
                      attrs.combined_resource, attrs.namespace, decision.reason)
            raise forbidden(attrs, decision.reason)
        return await handler(request)

    return authorize


class MalformedImpersonation(Exception):
    pass


def _impersonation_checks(request: web.BaseRequest, user: UserInfo) -> tuple[UserInfo, list[Attributes]] | None:
    """The impersonated user and the ``impersonate`` checks it takes; None without impersonation."""
    headers = request.headers
    name = headers.get(IMPERSONATE_USER, "")
    groups = headers.getall(IMPERSONATE_GROUP, [])
    uid = headers.get(IMPERSONATE_UID, "")
    extra: dict[str, list[str]] = {}
    for header, value in headers.items():
        if header.lower().startswith(IMPERSONATE_EXTRA_PREFIX.lower()):
            key = urllib.parse.unquote(header[len(IMPERSONATE_EXTRA_PREFIX):].lower())
            extra.setdefault(key, []).append(value)
    if not name and not groups and not uid and not extra:
        return None
    checks: list[Attributes] = []
    sa = _split_service_account(name)
    if sa is not None:
        checks.append(Attributes(user=user, verb="impersonate", resource="serviceaccounts", namespace=sa[0],
                                 name=sa[1]))
    elif name:
        checks.append(Attributes(user=user, verb="impersonate", resource="users", name=name))
    checks += [Attributes(user=user, verb="impersonate", resource="groups", name=g) for g in groups]
    for key, values in extra.items():
        checks += [Attributes(user=user, verb="impersonate", api_group=AUTHENTICATION_GROUP, resource="userextras",
                              subresource=key, name=v) for v in values]
    if uid:
        checks.append(Attributes(user=user, verb="impersonate", api_group=AUTHENTICATION_GROUP, resource="uids",
                                 name=uid))
    if not name:
        raise MalformedImpersonation(f"requested {_describe(checks)} without impersonating a user")
    out_groups = list(groups)
    if sa is not None and not groups:
        out_groups = ["system:serviceaccounts", f"system:serviceaccounts:{sa[0]}"]
    if name == ANONYMOUS_USER:
        if UNAUTHENTICATED not in out_groups:
            out_groups.append(UNAUTHENTICATED)
    elif AUTHENTICATED not in out_groups:
        out_groups.append(AUTHENTICATED)
    impersonated = UserInfo(name, uid=uid, groups=tuple(out_groups), extra={k: tuple(v) for k, v in extra.items()})
    return impersonated, checks


def _describe(checks: list[Attributes]) -> str:
    kinds = {"users": "User", "groups": "Group", "serviceaccounts": "ServiceAccount", "userextras": "UserExtra",
             "uids": "UID"}
    return "[" + " ".join(f"{{{kinds.get(c.resource, c.resource)} {c.namespace} {c.name}}}" for c in checks) + "]"


def _split_service_account(name: str) -> tuple[str, str] | None:
    if not name.startswith(SERVICE_ACCOUNT_PREFIX):
        return None
    parts = name[len(SERVICE_ACCOUNT_PREFIX):].split(":")
    if len(parts) != 2 or not parts[0] or not parts[1]:
        return None
    return parts[0], parts[1]


def impersonation_middleware(authorizer: Authorizer) -> Middleware:
    @web.middleware
    async def impersonate(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            found = _impersonation_checks(request, request_user(request))
        except MalformedImpersonation as exc:
            text = f'Internal Server Error: "{request.path_qs}": {exc}'
            return web.Response(status=500, text=text + "\n", content_type="text/plain")
        if found is None:
            return await handler(request)
        impersonated, checks = found
        for attrs in checks:
            decision = authorizer.authorize(attrs)
            if not decision.allowed:
                log.info("impersonation refused user=%s as=%s resource=%s", attrs.user.username, attrs.name,
                         attrs.resource)
                raise forbidden(attrs, decision.reason)
        request[REQUEST_KEY] = impersonated
        request.pop(REQUEST_INFO_KEY, None)
        return await handler(request)

    return impersonate
