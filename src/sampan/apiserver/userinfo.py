"""Who sent a request (upstream's ``user.Info``): the user name, uid, groups and extra attributes that
authentication attaches to a request and admission sees in its attributes.

:mod:`sampan.apiserver.authn` attaches a :class:`UserInfo` under :data:`REQUEST_KEY` to every request;
:func:`request_user` answers ``system:anonymous`` for a request that never went through it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

REQUEST_KEY = "sampan.user"
"""Where authentication stores the :class:`UserInfo` on an ``aiohttp`` request."""


@dataclass(frozen=True)
class UserInfo:
    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        """The ``authentication.k8s.io/v1`` UserInfo form (as in an AdmissionReview)."""
        out: dict[str, Any] = {"username": self.username}
        if self.uid:
            out["uid"] = self.uid
        if self.groups:
            out["groups"] = list(self.groups)
        if self.extra:
            out["extra"] = {k: list(v) for k, v in self.extra.items()}
        return out


ANONYMOUS = UserInfo("system:anonymous", groups=("system:unauthenticated",))


def request_user(request: web.BaseRequest) -> UserInfo:
    """The request's user, or :data:`ANONYMOUS` when nothing authenticated it."""
    user = request.get(REQUEST_KEY)
    return user if isinstance(user, UserInfo) else ANONYMOUS
