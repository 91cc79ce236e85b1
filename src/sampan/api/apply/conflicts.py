"""Apply conflicts as the 409 ``Status`` upstream returns.

One conflict reads ``Apply failed with 1 conflict: conflict with "mgr": .spec.replicas``; several are
grouped by manager (managers sorted by identity)::

    Apply failed with 2 conflicts: conflicts with "a":
    - .spec.replicas
    conflicts with "b" using apps/v1:
    - .metadata.labels.app

``details.causes`` has one ``FieldManagerConflict`` cause per path, ``field`` being the path and
``message`` naming the manager. An ``Update`` manager is named with its apiVersion (``"kubectl-edit"
using apps/v1``), a subresource manager with its subresource.
"""

from __future__ import annotations

from collections.abc import Mapping

from sampan.api import errors
from sampan.api.apply.fieldset import FieldSet, iterate
from sampan.api.apply.managers import Identity
from sampan.api.apply.path import Path, path_string


def ordered(conflicts: Mapping[Identity, FieldSet]) -> list[tuple[Identity, Path]]:
    """Conflicts in reporting order: by manager identity, then upstream's path iteration order."""
    return [(m, p) for m in sorted(conflicts) for p in iterate(conflicts[m])]


def conflict_error(conflicts: Mapping[Identity, FieldSet]) -> errors.Conflict:
    """The ``Conflict`` (409) error for an apply that would take fields from other managers."""
    pairs = ordered(conflicts)
    causes = [
        {"reason": "FieldManagerConflict", "message": f"conflict with {m.describe()}", "field": path_string(p)}
        for m, p in pairs
    ]
    if len(pairs) == 1:
        m, p = pairs[0]
        message = f"Apply failed with 1 conflict: conflict with {m.describe()}: {path_string(p)}"
    else:
        lines: list[str] = []
        for m in sorted(conflicts):
            lines.append(f"conflicts with {m.describe()}:")
            lines.extend(f"- {path_string(p)}" for p in iterate(conflicts[m]))
        message = f"Apply failed with {len(pairs)} conflicts: " + "\n".join(lines)
    return errors.Conflict(message, details={"causes": causes})
