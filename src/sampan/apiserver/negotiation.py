"""Content negotiation: from an ``Accept`` header to the representation a response is written in.

Upstream's rules (apimachinery ``negotiation``), which kubectl and the client libraries rely on:

* The header is a comma-separated list of media ranges, tried in order of preference: higher ``q``
  first, then concrete types before ``*``; ties keep the client's order (kubectl lists
  ``as=Table;v=v1`` before ``as=Table;v=v1beta1`` before plain ``application/json``).
* A range is usable when its type matches one we serialize (``application/json``, ``application/yaml``,
  and for resource endpoints ``application/vnd.kubernetes.protobuf``; ``*/*`` and ``application/*`` mean
  JSON) and every parameter is understood. kubectl's ``application/vnd.kubernetes.protobuf,application/json``
  therefore gives protobuf where :func:`negotiate` is called with ``allow_protobuf=True`` (REST
  resources: objects, lists, Status errors, watches) and JSON elsewhere. Protobuf never carries a
  server-side transform here: a protobuf range with ``as=…`` is skipped (Tables stay JSON).
* ``as=<Kind>;g=meta.k8s.io;v=v1|v1beta1`` asks for a server-side transform: ``Table``,
  ``PartialObjectMetadata`` or ``PartialObjectMetadataList``. Any other ``as``/``g``/``v`` combination
  makes the range unusable (it is skipped, as upstream does).
* No usable range -> :class:`~sampan.api.errors.NotAcceptable` (HTTP 406) with upstream's message. An
  absent or empty header means JSON.

Discovery uses its own variant, :func:`negotiate_discovery`, which understands
``as=APIGroupDiscoveryList;g=apidiscovery.k8s.io;v=v2|v2beta1`` (aggregated discovery).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from sampan.api.errors import NotAcceptable

JSON = "application/json"
YAML = "application/yaml"
PROTOBUF = "application/vnd.kubernetes.protobuf"

#: Media types the server can write, in upstream's order for the 406 message. Protobuf comes last, so
#: wildcards (``*/*``, ``application/*``) always mean JSON.
SUPPORTED_MEDIA_TYPES = (JSON, YAML)
_WITH_PROTOBUF = (JSON, YAML, PROTOBUF)
_ADVERTISED = (JSON, YAML, PROTOBUF)

META_GROUP = "meta.k8s.io"
META_VERSIONS = ("v1", "v1beta1")
DISCOVERY_GROUP = "apidiscovery.k8s.io"
DISCOVERY_VERSIONS = ("v2", "v2beta1")


@dataclass(frozen=True, slots=True)
class MediaRange:
    """One clause of an Accept header: ``type/subtype;k=v;q=0.5``. Parameter keys are lower-cased;
    ``q`` is kept apart from ``params``."""

    type: str
    subtype: str
    params: dict[str, str] = field(default_factory=dict)
    q: float = 1.0

    @property
    def media_type(self) -> str:
        return f"{self.type}/{self.subtype}"

    def matches(self, media_type: str) -> bool:
        """True when this range covers the concrete ``media_type`` (wildcards included)."""
        want_type, _, want_sub = media_type.partition("/")
        if self.type == "*":
            return self.subtype == "*"
        if self.type != want_type:
            return False
        return self.subtype in ("*", want_sub)


def parse_accept(header: str | None) -> list[MediaRange]:
    """The usable clauses of ``header`` in order of preference (``q`` > 0 only).

    Malformed clauses (no ``/``, bad ``q``) are dropped rather than failing the request, as upstream's
    parser does. Sorting is stable: equal preference keeps the client's order.
    """
    if not header:
        return []
    ranges: list[MediaRange] = []
    for clause in _split_outside_quotes(header, ","):
        parts = _split_outside_quotes(clause, ";")
        if not parts:
            continue
        media = parts[0].strip().lower()
        type_, sep, subtype = media.partition("/")
        if not sep or not type_ or not subtype or " " in media:
            continue
        params: dict[str, str] = {}
        q = 1.0
        ok = True
        for raw in parts[1:]:
            key, eq, value = raw.partition("=")
            key = key.strip().lower()
            value = value.strip().strip('"')
            if not key:
                continue
            if key == "q":
                try:
                    q = float(value) if eq else 1.0
                except ValueError:
                    ok = False
                    break
                if not 0.0 <= q <= 1.0 or q != q:  # NaN check
                    ok = False
                    break
                continue
            params[key] = value
        if ok and q > 0:
            ranges.append(MediaRange(type_, subtype, params, q))
    ranges.sort(key=lambda r: (-r.q, r.type == "*", r.subtype == "*"))
    return ranges


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    out: list[str] = []
    buf: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == sep and not quoted:
            out.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    out.append("".join(buf))
    return [p for p in out if p.strip()]


class Target(enum.Enum):
    """What the response body is: the object itself or one of meta.k8s.io's server-side transforms."""

    OBJECT = "Object"
    TABLE = "Table"
    PARTIAL_OBJECT_METADATA = "PartialObjectMetadata"
    PARTIAL_OBJECT_METADATA_LIST = "PartialObjectMetadataList"


@dataclass(frozen=True, slots=True)
class Representation:
    """How to write a response: ``media_type`` (JSON or YAML), the ``target`` transform and, for a
    transform, the meta.k8s.io version (``v1`` or ``v1beta1``) whose apiVersion the body carries."""

    media_type: str = JSON
    target: Target = Target.OBJECT
    meta_version: str = "v1"
    pretty: bool = False

    @property
    def content_type(self) -> str:
        """The Content-Type header value: the bare media type, as upstream writes it."""
        return self.media_type

    @property
    def is_protobuf(self) -> bool:
        return self.media_type == PROTOBUF

    @property
    def meta_api_version(self) -> str:
        """``meta.k8s.io/v1`` (or ``/v1beta1``) for transformed bodies."""
        return f"{META_GROUP}/{self.meta_version}"

    @property
    def is_transform(self) -> bool:
        return self.target is not Target.OBJECT

    def require_compatible(self, *, is_list: bool, is_watch: bool = False) -> None:
        """Raise NotAcceptable when the target cannot describe the response, as upstream does:
        a list needs ``PartialObjectMetadataList`` (not ``PartialObjectMetadata``), a single object or
        a watch event needs ``PartialObjectMetadata``; Table fits all of them. YAML cannot be streamed."""
        if is_watch and self.media_type not in (JSON, PROTOBUF):
            raise NotAcceptable(
                f"only the following media types are accepted for watch: {JSON}, {PROTOBUF}"
            )
        if is_list and not is_watch and self.target is Target.PARTIAL_OBJECT_METADATA:
            raise NotAcceptable(
                "you requested PartialObjectMetadata, but the requested object is a list"
            )
        if (not is_list or is_watch) and self.target is Target.PARTIAL_OBJECT_METADATA_LIST:
            raise NotAcceptable(
                "you requested PartialObjectMetadataList, but the requested object is not a list"
            )


DEFAULT = Representation()


#: Accept headers seen at most (clients send a handful of distinct ones); the memo is emptied when full.
_MEMO_SIZE = 256
_memo: dict[tuple[str | None, bool, bool], Representation] = {}


def negotiate(accept: str | None, *, allow_transforms: bool = True, allow_protobuf: bool = False) -> Representation:
    """The representation for a REST response given the request's ``Accept`` header.

    ``allow_transforms=False`` (for endpoints that cannot produce Tables or metadata-only bodies) makes
    every ``as=…`` clause unusable; ``allow_protobuf=True`` (resource endpoints) makes protobuf ranges
    usable. Raises :class:`NotAcceptable` when no clause can be served.

    A pure function of its arguments: results (immutable) are memoized per header, errors are not.
    """
    key = (accept, allow_transforms, allow_protobuf)
    rep = _memo.get(key)
    if rep is None:
        rep = _negotiate(accept, allow_transforms=allow_transforms, allow_protobuf=allow_protobuf)
        if len(_memo) >= _MEMO_SIZE:
            _memo.clear()
        _memo[key] = rep
    return rep


def _negotiate(accept: str | None, *, allow_transforms: bool, allow_protobuf: bool) -> Representation:
    ranges = parse_accept(accept)
    if not ranges:
        if accept and accept.strip():
            raise _not_acceptable()
        return DEFAULT
    for rng in ranges:
        media_type = _serializable(rng, allow_protobuf=allow_protobuf)
        if media_type is None:
            continue
        rep = _with_options(media_type, rng.params, allow_transforms=allow_transforms and media_type != PROTOBUF)
        if rep is not None:
            return rep
    raise _not_acceptable()


def _serializable(rng: MediaRange, *, allow_protobuf: bool = False) -> str | None:
    for media_type in _WITH_PROTOBUF if allow_protobuf else SUPPORTED_MEDIA_TYPES:
        if rng.matches(media_type):
            return media_type
    return None


def _with_options(media_type: str, params: dict[str, str], *, allow_transforms: bool) -> Representation | None:
    as_kind = params.get("as")
    group = params.get("g")
    version = params.get("v")
    pretty = params.get("pretty") == "1" and media_type != PROTOBUF
    stream = params.get("stream")
    if stream and stream != "watch":
        return None
    if as_kind is None and group is None and version is None:
        return Representation(media_type=media_type, pretty=pretty)
    if not allow_transforms or as_kind is None:
        return None
    if group != META_GROUP or version not in META_VERSIONS:
        return None
    try:
        target = Target(as_kind)
    except ValueError:
        return None
    if target is Target.OBJECT:
        return None
    return Representation(media_type=media_type, target=target, meta_version=version, pretty=pretty)


def _not_acceptable() -> NotAcceptable:
    return NotAcceptable("only the following media types are accepted: " + ", ".join(_ADVERTISED))


class DiscoveryFormat(enum.Enum):
    """Which discovery document a client asked for on ``/api`` and ``/apis``."""

    LEGACY = "legacy"
    """APIVersions / APIGroupList (and APIResourceList per group-version)."""
    AGGREGATED_V2 = "v2"
    AGGREGATED_V2BETA1 = "v2beta1"

    @property
    def content_type(self) -> str:
        """The exact Content-Type client-go compares against to recognise aggregated discovery."""
        if self is DiscoveryFormat.LEGACY:
            return JSON
        return f"{JSON};g={DISCOVERY_GROUP};v={self.value};as=APIGroupDiscoveryList"


def negotiate_discovery(accept: str | None, *, allow_aggregated: bool = True) -> DiscoveryFormat:
    """The discovery format for ``/api`` or ``/apis`` (``allow_aggregated``) or for the per-group
    documents (legacy only). Raises NotAcceptable when neither JSON nor aggregated JSON is acceptable."""
    ranges = parse_accept(accept)
    if not ranges:
        if accept and accept.strip():
            raise _not_acceptable()
        return DiscoveryFormat.LEGACY
    for rng in ranges:
        if not rng.matches(JSON):
            continue
        params = rng.params
        as_kind = params.get("as")
        if as_kind is None and "g" not in params and "v" not in params:
            return DiscoveryFormat.LEGACY
        if (
            allow_aggregated
            and as_kind == "APIGroupDiscoveryList"
            and params.get("g") == DISCOVERY_GROUP
            and params.get("v") in DISCOVERY_VERSIONS
        ):
            return DiscoveryFormat(params["v"])
    raise _not_acceptable()
