"""A CRD's status as upstream's naming and establishing controllers compute it — as one pure function.

:func:`compute_status` takes the CRD and every other CRD and returns the new ``status``:

* ``acceptedNames``: each requested name (plural, singular, shortNames, kind, listKind) is taken
  unless another CRD *of the same group* has it among its accepted names (resources: plurals,
  singulars, short names; kinds: kinds and list kinds); a conflicting name keeps the previously
  accepted value. Categories are always taken.
* ``NamesAccepted``: True/``NoConflicts``/"no conflicts found", or False with the last conflict found
  (``PluralConflict``, ``SingularConflict``, ``ShortNamesConflict``, ``KindConflict``,
  ``ListKindConflict``) and ``"<name>" is already in use``.
* ``Established``: once True it stays True; it becomes True (``InitialNamesAccepted``, "the initial
  names have been accepted") when names are accepted — upstream goes through a brief ``Installing``
  state, sampan establishes in the same step because the server registers routes synchronously;
  otherwise False/``NotAccepted``/"not all names are accepted".
* ``Terminating`` (a deleted CRD): True/``InstanceDeletionInProgress`` while its objects are removed.
* ``storedVersions``: the old list plus the current storage version.

``lastTransitionTime`` changes only when a condition's status does. Invariant: never raises on junk.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from sampan.api.crd import spec as crdspec

NAMES_ACCEPTED = "NamesAccepted"
ESTABLISHED = "Established"
TERMINATING = "Terminating"


def _map(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _strs(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def accepted_names(crd: Any) -> dict[str, Any]:
    return _map(_map(_map(crd).get("status")).get("acceptedNames"))


def condition(crd: Any, kind: str) -> dict[str, Any] | None:
    for c in _map(_map(crd).get("status")).get("conditions") or []:
        if isinstance(c, dict) and c.get("type") == kind:
            return c
    return None


def is_established(crd: Any) -> bool:
    c = condition(crd, ESTABLISHED)
    return c is not None and c.get("status") == "True"


def compute_status(crd: Any, others: Iterable[Any], *, now: str) -> dict[str, Any]:
    """The status ``crd`` should have given ``others`` (any CRDs; itself and other groups are skipped);
    ``now`` is the RFC 3339 time for changed conditions."""
    status = copy.deepcopy(_map(_map(crd).get("status")))
    group, name = crdspec.group(crd), _map(_map(crd).get("metadata")).get("name")
    resources: set[str] = set()
    kinds: set[str] = set()
    for other in others:
        if crdspec.group(other) != group or _map(_map(other).get("metadata")).get("name") == name:
            continue
        acc = accepted_names(other)
        resources.update(x for x in (acc.get("plural"), acc.get("singular")) if isinstance(x, str) and x)
        resources.update(_strs(acc.get("shortNames")))
        kinds.update(x for x in (acc.get("kind"), acc.get("listKind")) if isinstance(x, str) and x)
    requested, old = crdspec.names(crd), accepted_names(crd)
    new = copy.deepcopy(old)
    conflict: tuple[str, str] | None = None
    for key, used, reason in (("plural", resources, "PluralConflict"), ("singular", resources, "SingularConflict"),
                              ("kind", kinds, "KindConflict"), ("listKind", kinds, "ListKindConflict")):
        want = requested.get(key)
        if isinstance(want, str) and want and want != old.get(key) and want in used:
            conflict = (reason, f'"{want}" is already in use')
            continue
        if key == "kind":
            short = _strs(requested.get("shortNames"))
            clash = [s for s in short if s in resources and s not in _strs(old.get("shortNames"))]
            if clash:
                conflict = ("ShortNamesConflict", f'"{clash[0]}" is already in use')
            elif short or "shortNames" in new:
                new["shortNames"] = short
        if isinstance(want, str) and want:
            new[key] = want
    if "categories" in requested or "categories" in new:
        new["categories"] = _strs(requested.get("categories"))
    status["acceptedNames"] = {"plural": new.get("plural", ""), "kind": new.get("kind", ""),
                               **{k: v for k, v in new.items() if k not in ("plural", "kind")}}
    conditions = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
    names_ok = conflict is None
    accepted = ("True", "NoConflicts", "no conflicts found") if conflict is None else ("False", *conflict)
    _set(conditions, NAMES_ACCEPTED, accepted, now)
    if is_established(crd) or names_ok:
        _set(conditions, ESTABLISHED, ("True", "InitialNamesAccepted", "the initial names have been accepted"), now)
    else:
        _set(conditions, ESTABLISHED, ("False", "NotAccepted", "not all names are accepted"), now)
    if _map(_map(crd).get("metadata")).get("deletionTimestamp"):
        _set(conditions, TERMINATING, ("True", "InstanceDeletionInProgress", "CustomResource deletion is in progress"),
             now)
    status["conditions"] = conditions
    stored = _strs(status.get("storedVersions"))
    storage = crdspec.storage_version(crd)
    if storage and storage not in stored:
        stored.append(storage)
    status["storedVersions"] = stored
    return status


def _set(conditions: list[dict[str, Any]], kind: str, value: tuple[str, str, str], now: str) -> None:
    status, reason, message = value
    for c in conditions:
        if c.get("type") == kind:
            if c.get("status") != status:
                c["lastTransitionTime"] = now
            c.update(status=status, reason=reason, message=message)
            return
    conditions.append({"type": kind, "status": status, "lastTransitionTime": now, "reason": reason,
                       "message": message})
