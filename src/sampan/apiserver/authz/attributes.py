"""What an authorizer decides on: upstream's ``RequestInfo`` plus the user (``authorizer.Attributes``).

:func:`request_info` parses a method, path and query the way kube-apiserver's ``RequestInfoFactory``
does, *before* routing (a request for a resource the server does not serve is authorized first and
404s after, as upstream), so it cannot reuse :func:`sampan.apiserver.routes.parse_target`, which
needs the served resource; both follow the same URL grammar (``routes`` documents it).

Rules, as upstream:
* a resource request is ``/api/<version>/<rest>`` or ``/apis/<group>/<version>/<rest>`` with a
  non-empty rest; anything else (``/api``, ``/apis/apps/v1``, ``/healthz``) is a non-resource request
  whose verb is the lower-case HTTP method and whose ``path`` is the URL path;
* verbs: POST create, GET/HEAD get, PUT update, PATCH patch, DELETE delete; a GET without a name is
  ``list`` (``watch`` with ``?watch=true`` or a ``/watch/`` path); a DELETE without a name is
  ``deletecollection``; a ``/proxy/`` path prefix makes the verb ``proxy``;
* a list or watch whose field selector requires one ``metadata.name`` carries that name (a kubelet's
  single-secret watch is authorized as that secret's read);
* ``namespaces/<ns>/<resource>/…`` sets the namespace; ``namespaces/<name>[/status|/finalize]`` is the
  namespace object itself (namespace = name).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field

from sampan.api import validation
from sampan.api.selectors import EQUALS, FieldSelector
from sampan.apiserver.userinfo import UserInfo

_METHOD_VERBS = {"POST": "create", "GET": "get", "HEAD": "get", "PUT": "update", "PATCH": "patch",
                 "DELETE": "delete"}
_SPECIAL_VERBS = frozenset({"proxy", "watch"})
_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """Upstream's ``request.RequestInfo`` (the fields authorization reads)."""

    is_resource_request: bool
    verb: str
    path: str = ""
    api_group: str = ""
    api_version: str = ""
    namespace: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""


@dataclass(frozen=True, slots=True)
class Attributes:
    """One authorization question: may ``user`` do ``verb`` on this resource or path?"""

    user: UserInfo
    verb: str
    is_resource_request: bool = True
    api_group: str = ""
    api_version: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    namespace: str = ""
    path: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, user: UserInfo, info: RequestInfo) -> Attributes:
        return cls(user=user, verb=info.verb, is_resource_request=info.is_resource_request,
                   api_group=info.api_group, api_version=info.api_version, resource=info.resource,
                   subresource=info.subresource, name=info.name, namespace=info.namespace, path=info.path)

    @property
    def combined_resource(self) -> str:
        """``resource/subresource`` (or just the resource), as RBAC rules name it."""
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


def _split(path: str) -> list[str]:
    trimmed = path.strip("/")
    return trimmed.split("/") if trimmed else []


def _watch_param(query: Mapping[str, str]) -> bool:
    raw = query.get("watch")
    if raw is None:
        return False
    return raw.lower() not in ("false", "0")


def _name_from_field_selector(query: Mapping[str, str]) -> str:
    raw = query.get("fieldSelector")
    if not raw:
        return ""
    try:
        selector = FieldSelector.parse(raw)
    except ValueError:
        return ""
    names = [r.value for r in selector.requirements if r.field == "metadata.name" and r.operator == EQUALS]
    if len(names) != 1 or validation.path_segment(names[0]):
        return ""
    return names[0]


def request_info(method: str, path: str, query: Mapping[str, str]) -> RequestInfo:
    """The :class:`RequestInfo` of a request (``path`` undecoded or decoded; segments are unquoted)."""
    nonresource = RequestInfo(False, method.lower(), path=path)
    parts = [urllib.parse.unquote(p) for p in _split(path)]
    if len(parts) < 3 or parts[0] not in ("api", "apis"):
        return nonresource
    group = ""
    rest = parts[1:]
    if parts[0] == "apis":
        if len(rest) < 3:
            return nonresource
        group, rest = rest[0], rest[1:]
    version, rest = rest[0], rest[1:]
    verb = _METHOD_VERBS.get(method.upper(), "")
    if rest and rest[0] in _SPECIAL_VERBS:
        if len(rest) < 2:
            return RequestInfo(True, "", path=path, api_group=group, api_version=version)
        verb, rest = rest[0], rest[1:]
    namespace = ""
    if rest and rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0] if rest else ""
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 and verb != "proxy" else ""
    if not name and verb == "get":
        verb = "watch" if _watch_param(query) else "list"
        name = _name_from_field_selector(query)
    if not name and verb == "delete":
        verb = "deletecollection"
    return RequestInfo(True, verb, path=path, api_group=group, api_version=version, namespace=namespace,
                       resource=resource, subresource=subresource, name=name)
