"""The audit context of the request being served, for code that has no request at hand.

The audit filter sets :data:`CURRENT` for the task serving a request; admission plugins and webhooks
add their audit annotations through :func:`annotate` (a no-op when auditing is off or outside a request).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sampan.apiserver.audit.event import AuditContext

CURRENT: ContextVar[AuditContext | None] = ContextVar("sampan_audit_context", default=None)


def annotate(key: str, value: str) -> None:
    """Add an audit annotation to the current request's events."""
    ac = CURRENT.get()
    if ac is not None:
        ac.annotate(key, value)


def annotate_all(annotations: Mapping[str, str]) -> None:
    ac = CURRENT.get()
    if ac is not None:
        for key, value in annotations.items():
            ac.annotate(key, value)
