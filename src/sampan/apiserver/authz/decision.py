"""The authorizer seam: a :class:`Decision` per question, and the union that asks each in turn.

An :class:`Authorizer` answers ALLOW, DENY or NO_OPINION with a reason (upstream's
``authorizer.Decision``). :class:`Union` asks its members in order: the first ALLOW or DENY decides;
when all have no opinion the request is refused with the members' reasons joined by ``", "``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sampan.apiserver.authz.attributes import Attributes

ALLOW, DENY, NO_OPINION = "Allow", "Deny", "NoOpinion"
SYSTEM_MASTERS = "system:masters"


@dataclass(frozen=True, slots=True)
class Decision:
    kind: str
    reason: str = ""

    @property
    def allowed(self) -> bool:
        return self.kind == ALLOW

    @property
    def denied(self) -> bool:
        return self.kind == DENY


class Authorizer(Protocol):
    name: str

    def authorize(self, attrs: Attributes) -> Decision: ...


class AlwaysAllow:
    name = "AlwaysAllow"

    def authorize(self, attrs: Attributes) -> Decision:
        return Decision(ALLOW)


class AlwaysDeny:
    name = "AlwaysDeny"

    def authorize(self, attrs: Attributes) -> Decision:
        return Decision(NO_OPINION, "Everything is forbidden.")


class PrivilegedGroups:
    """Members of ``system:masters`` may do anything (upstream puts this first in every chain)."""

    name = "PrivilegedGroups"

    def __init__(self, groups: Sequence[str] = (SYSTEM_MASTERS,)) -> None:
        self.groups = frozenset(groups)

    def authorize(self, attrs: Attributes) -> Decision:
        if self.groups.intersection(attrs.user.groups):
            return Decision(ALLOW)
        return Decision(NO_OPINION)


class Union:
    name = "Union"

    def __init__(self, members: Sequence[Authorizer]) -> None:
        self.members = tuple(members)

    def authorize(self, attrs: Attributes) -> Decision:
        reasons: list[str] = []
        for m in self.members:
            d = m.authorize(attrs)
            if d.kind != NO_OPINION:
                return d
            if d.reason:
                reasons.append(d.reason)
        return Decision(NO_OPINION, ", ".join(reasons))
