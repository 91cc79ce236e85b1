"""Query parameters of list and watch requests, parsed and validated as upstream does.

Malformed values are 400 BadRequest; combinations upstream forbids (``resourceVersionMatch`` without
``resourceVersion``, ``sendInitialEvents`` on a list, …) are 422 Invalid on ``ListOptions.meta.k8s.io``
with one cause per problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sampan.api import errors
from sampan.api.errors import Cause, forbidden, not_supported
from sampan.api.selectors import FieldSelector, LabelSelector

EXACT = "Exact"
NOT_OLDER_THAN = "NotOlderThan"

_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def parse_bool(query: Mapping[str, str], name: str) -> bool | None:
    """Go's ``strconv.ParseBool`` on ``query[name]``; None when absent; 400 when malformed."""
    raw = query.get(name)
    if raw is None:
        return None
    if raw in _TRUE or raw == "":
        return raw != "" or name == "watch"
    if raw in _FALSE:
        return False
    raise errors.BadRequest(f'invalid value for {name}: strconv.ParseBool: parsing "{raw}": invalid syntax')


def parse_int(query: Mapping[str, str], name: str) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw, 10)
    except ValueError:
        raise errors.BadRequest(
            f'invalid value for {name}: strconv.ParseInt: parsing "{raw}": invalid syntax'
        ) from None
    if not -(2**63) <= value < 2**63:
        raise errors.BadRequest(f'invalid value for {name}: strconv.ParseInt: parsing "{raw}": value out of range')
    return value


def parse_resource_version(raw: str) -> int:
    """A non-empty resourceVersion as an int; 400 BadRequest when it is not one."""
    try:
        value = int(raw, 10)
    except ValueError:
        raise errors.BadRequest(f'invalid resource version: "{raw}"') from None
    if value < 0 or value >= 2**63:
        raise errors.BadRequest(f'invalid resource version: "{raw}"')
    return value


@dataclass(frozen=True, slots=True)
class ListOptions:
    label_selector: LabelSelector
    field_selector: FieldSelector
    resource_version: str = ""
    resource_version_match: str = ""
    limit: int = 0
    continue_token: str = ""
    watch: bool = False
    allow_watch_bookmarks: bool = False
    timeout_seconds: int | None = None
    send_initial_events: bool | None = None

    @property
    def rv(self) -> int | None:
        """``resource_version`` as an int, None when empty (checked at parse time)."""
        return int(self.resource_version) if self.resource_version else None


def parse_list_options(query: Mapping[str, str], *, selectable_fields: list[str]) -> ListOptions:
    """Parse and validate; ``selectable_fields`` are the field selector names this resource supports."""
    try:  # the parsers' messages are upstream's, returned verbatim as upstream's conversion does
        labels = LabelSelector.parse(query.get("labelSelector", "") or "")
    except ValueError as exc:
        raise errors.BadRequest(str(exc)) from None
    try:
        fields = FieldSelector.parse(query.get("fieldSelector", "") or "")
    except ValueError as exc:
        raise errors.BadRequest(str(exc)) from None
    for req in fields.requirements:
        if req.field not in selectable_fields:
            raise errors.BadRequest(f'field label not supported: {req.field}')
    rv = query.get("resourceVersion", "") or ""
    if rv:
        parse_resource_version(rv)
    limit = parse_int(query, "limit") or 0
    timeout = parse_int(query, "timeoutSeconds")
    opts = ListOptions(
        label_selector=labels,
        field_selector=fields,
        resource_version=rv,
        resource_version_match=query.get("resourceVersionMatch", "") or "",
        limit=max(limit, 0),
        continue_token=query.get("continue", "") or "",
        watch=bool(parse_bool(query, "watch")),
        allow_watch_bookmarks=bool(parse_bool(query, "allowWatchBookmarks")),
        timeout_seconds=timeout,
        send_initial_events=parse_bool(query, "sendInitialEvents"),
    )
    causes = _watch_causes(opts) if opts.watch else _list_causes(opts)
    if causes:
        raise errors.invalid_object("ListOptions", "", causes, group="meta.k8s.io")
    return opts


def _list_causes(o: ListOptions) -> list[Cause]:
    causes: list[Cause] = []
    match = o.resource_version_match
    if match:
        if not o.resource_version:
            causes.append(forbidden("resourceVersionMatch", "resourceVersionMatch is forbidden unless "
                                    "resourceVersion is provided"))
        if o.continue_token:
            causes.append(forbidden("resourceVersionMatch", "resourceVersionMatch is forbidden when continue "
                                    "is provided"))
        if match not in (EXACT, NOT_OLDER_THAN):
            causes.append(not_supported("resourceVersionMatch", match, [EXACT, NOT_OLDER_THAN, ""]))
        if match == EXACT and o.resource_version == "0":
            causes.append(forbidden("resourceVersionMatch", 'resourceVersionMatch "exact" is forbidden for '
                                    'resourceVersion "0"'))
    if o.send_initial_events is not None:
        causes.append(forbidden("sendInitialEvents", "sendInitialEvents is forbidden for list"))
    return causes


def _watch_causes(o: ListOptions) -> list[Cause]:
    causes: list[Cause] = []
    match = o.resource_version_match
    if o.send_initial_events is not None and match != NOT_OLDER_THAN:
        causes.append(forbidden("resourceVersionMatch", "sendInitialEvents requires setting "
                                f"resourceVersionMatch to {NOT_OLDER_THAN}"))
    if match:
        if o.send_initial_events is None:
            causes.append(forbidden("resourceVersionMatch", "resourceVersionMatch is forbidden for watch unless "
                                    "sendInitialEvents is provided"))
        if match != NOT_OLDER_THAN:
            causes.append(not_supported("resourceVersionMatch", match, [NOT_OLDER_THAN]))
        if o.continue_token:
            causes.append(forbidden("resourceVersionMatch", "resourceVersionMatch is forbidden when continue "
                                    "is provided"))
    return causes
