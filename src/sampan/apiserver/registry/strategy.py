"""The contract between the generic REST handlers and each resource's own rules.

Handlers own the generic metadata work (generateName, uid, creationTimestamp, resourceVersion,
generation, namespace existence). A strategy owns what differs per kind, validation of metadata
included (name rules differ per kind). Objects are JSON dicts exactly as on the wire; strategies
mutate the dict they are given (the handler passes a private copy) and never the ``old`` object.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sampan.api.errors import Cause
from sampan.api.resources import ResourceInfo

Object = dict[str, Any]


@dataclass(frozen=True, slots=True)
class TableColumn:
    """A meta.k8s.io/v1 TableColumnDefinition. ``priority`` 0 shows by default, 1 only with ``-o wide``."""

    name: str
    type: str = "string"
    format: str = ""
    description: str = ""
    priority: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        }


class Strategy(Protocol):
    """Per-resource rules. ``info`` says what the resource is; every method is pure and synchronous."""

    info: ResourceInfo

    has_status: bool
    """True when ``status`` is a separate subresource: a main-resource write keeps the stored status,
    a status write keeps everything but status (and metadata labels/annotations)."""

    def prepare_for_create(self, obj: Object) -> None:
        """Apply defaults and drop fields a create may not set (status, when ``has_status``)."""

    def prepare_for_update(self, obj: Object, old: Object) -> None:
        """Apply defaults; when ``has_status``, copy ``old``'s status into ``obj``."""

    def validate(self, obj: Object) -> list[Cause]:
        """Full validation of a create: metadata (name rule of this kind, labels, annotations, via
        ``sampan.api.validation``) and the kind's own fields."""
        ...

    def validate_create(self, obj: Object) -> list[Cause]:
        """What a create checks: :meth:`validate` plus create-only rules."""
        ...

    def validate_update(self, obj: Object, old: Object) -> list[Cause]:
        """Kind-specific validation of an update, including immutable fields."""
        ...

    def spec_changed(self, obj: Object, old: Object) -> bool:
        """True when the change should bump ``metadata.generation`` (by default: ``spec`` differs)."""
        ...

    def field_values(self, obj: Object) -> Mapping[str, str]:
        """Values of the fields a field selector may name; always includes ``metadata.name`` and, for
        namespaced kinds, ``metadata.namespace``."""
        ...

    def table_columns(self) -> list[TableColumn]:
        """Upstream's columns for ``kubectl get``, Name first."""
        ...

    def table_row(self, obj: Object, now: float) -> list[Any]:
        """Cells for ``obj`` in column order; ``now`` (epoch seconds) renders ages."""
        ...
