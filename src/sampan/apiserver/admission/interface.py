"""The admission seam: what a plugin sees (:class:`Attributes`) and what it implements (:class:`Plugin`).

A plugin is one module under ``sampan.apiserver.admission``; it has a ``name`` (upstream's plugin
name), says which requests it ``handles``, and implements either hook or both:

* ``admit(ctx, attrs)`` — *mutating*: may change ``attrs.obj`` in place. Runs for every plugin, in the
  chain's order, before the strategy's defaults and validation;
* ``validate(ctx, attrs)`` — *validating*: must not change anything the client sent. Runs for every
  plugin, in the chain's order, after the strategy validated the object and right before it is stored
  (on every retry of an update that raced another write).

Either hook refuses the request by raising an ``sampan.api.errors.APIError`` (its code/reason/message
reach the client as a ``Status``, e.g. 403 Forbidden); it may add ``Warning`` headers to
``attrs.warnings`` and audit annotations to ``attrs.annotations``. On a dry run (``attrs.dry_run``) a
hook must have no side effect outside the request (quota usage is checked but not charged).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from sampan.apiserver.userinfo import ANONYMOUS, UserInfo

if TYPE_CHECKING:
    from sampan.apiserver.context import ServerContext

Operation = Literal["CREATE", "UPDATE", "DELETE", "CONNECT"]


@dataclass
class Attributes:
    """One request as admission sees it (upstream's ``admission.Attributes``).

    ``obj`` is the new object (None for DELETE and CONNECT), ``old`` the stored one (None for CREATE).
    ``name`` is "" for a create whose name is generated later (``generateName``).
    """

    operation: Operation
    group: str
    version: str
    resource: str
    kind: str
    namespace: str
    name: str
    obj: dict[str, Any] | None
    old: dict[str, Any] | None = None
    subresource: str = ""
    user: UserInfo = ANONYMOUS
    dry_run: bool = False
    options: dict[str, Any] | None = None
    """The operation's options object (CreateOptions/UpdateOptions/DeleteOptions) when known."""
    warnings: list[str] = field(default_factory=list)
    """``Warning`` response headers (shared with the request's write options)."""
    annotations: dict[str, str] = field(default_factory=dict)
    """Audit annotations ``<plugin>/<key>: value``."""

    def is_resource(self, group: str, resource: str, subresource: str = "") -> bool:
        return (self.group, self.resource, self.subresource) == (group, resource, subresource)


class Plugin(Protocol):
    """One admission plugin. ``handles`` is cheap and pure; the hooks are awaited in chain order."""

    name: str

    def handles(self, attrs: Attributes) -> bool: ...

    async def admit(self, ctx: ServerContext, attrs: Attributes) -> None: ...

    async def validate(self, ctx: ServerContext, attrs: Attributes) -> None: ...


class PluginBase:
    """No-op hooks, for plugins that implement only one of them (subclass and override)."""

    name = ""

    def handles(self, attrs: Attributes) -> bool:
        return True

    async def admit(self, ctx: ServerContext, attrs: Attributes) -> None:
        return None

    async def validate(self, ctx: ServerContext, attrs: Attributes) -> None:
        return None
