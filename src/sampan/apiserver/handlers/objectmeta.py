"""Metadata work shared by the write handlers: body checks against the URL, generateName, system fields.

Every check here runs before anything touches the store, so a rejected request changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

from sampan._lib.randombytes import POOL
from sampan.api import errors, humanize
from sampan.api.errors import Cause
from sampan.apiserver.context import Scope

log = logging.getLogger(__name__)

T = TypeVar("T")

#: upstream's generated-name alphabet (no vowels, no confusable digits) and length
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_RANDOM_LEN = 5
_MAX_GENERATED_PREFIX = 63 - _RANDOM_LEN

_STRING_META = ("name", "generateName", "namespace", "uid", "resourceVersion", "creationTimestamp",
                "deletionTimestamp", "selfLink")


def generate_name(prefix: str) -> str:
    """``prefix`` (cut to 58 characters) plus 5 random characters, as upstream."""
    n = POOL.below(len(_ALPHABET) ** _RANDOM_LEN)  # one draw of the system's randomness, not five
    suffix = []
    for _ in range(_RANDOM_LEN):
        n, digit = divmod(n, len(_ALPHABET))
        suffix.append(_ALPHABET[digit])
    return prefix[:_MAX_GENERATED_PREFIX] + "".join(suffix)


def new_uid() -> str:
    """A random UUID (from the process's pool of system randomness: no system call per object)."""
    return POOL.uuid4()


def timestamp(now: float) -> str:
    return humanize.format_rfc3339(now)


def dry_run(request: web.Request) -> bool:
    """True for ``?dryRun=All``; 400 for any other value."""
    values = request.query.getall("dryRun", [])
    for v in values:
        if v != "All":
            raise errors.BadRequest(f'Invalid dryRun value: "{v}": supported values: "All"')
    return bool(values)


def cannot_handle(scope: Scope, obj_kind: str, detail: str) -> errors.BadRequest:
    info = scope.info
    return errors.BadRequest(f'{obj_kind or info.kind} in version "{info.version}" cannot be handled as a '
                             f"{info.kind}: {detail}")


def check_body(obj: dict[str, Any], scope: Scope, *, namespace: str | None, name: str | None) -> dict[str, Any]:
    """Check ``obj`` against the URL and fill what the URL implies; returns ``obj['metadata']``.

    * missing ``kind``/``apiVersion`` are filled from the URL (upstream's decoding defaults); different
      ones are 400;
    * ``metadata`` must be an object and its string fields strings (400, as a decode error upstream);
    * a name or namespace in the body that differs from the URL's is 400;
    * cluster-scoped objects lose any ``metadata.namespace`` (upstream clears it).
    """
    info = scope.info
    kind = obj.get("kind")
    api_version = obj.get("apiVersion")
    if kind is not None and not isinstance(kind, str):
        raise cannot_handle(scope, "", "kind must be a string")
    if api_version is not None and not isinstance(api_version, str):
        raise cannot_handle(scope, "", "apiVersion must be a string")
    if api_version and api_version != info.group_version:
        raise errors.BadRequest(
            f"the API version in the data ({api_version}) does not match the expected API version "
            f"({info.group_version})"
        )
    if kind and kind != info.kind:
        raise cannot_handle(scope, kind, f"the kind in the body ({kind}) does not match the resource ({info.kind})")
    rest = {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}
    obj.clear()
    obj["kind"] = info.kind
    obj["apiVersion"] = info.group_version
    obj.update(rest)
    md = obj.get("metadata")
    if md is None:
        md = obj["metadata"] = {}
    if not isinstance(md, dict):
        raise cannot_handle(scope, info.kind, "metadata must be an object")
    for key in _STRING_META:
        value = md.get(key)
        if value is not None and not isinstance(value, str):
            raise cannot_handle(scope, info.kind, f"metadata.{key} must be a string")
    for key in ("labels", "annotations"):
        value = md.get(key)
        if value is not None and not (isinstance(value, dict) and all(isinstance(v, str) for v in value.values())):
            raise cannot_handle(scope, info.kind, f"metadata.{key} must be a map of strings")
    fin = md.get("finalizers")
    if fin is not None and not (isinstance(fin, list) and all(isinstance(f, str) for f in fin)):
        raise cannot_handle(scope, info.kind, "metadata.finalizers must be a list of strings")
    gen = md.get("generation")
    if gen is not None and (not isinstance(gen, int) or isinstance(gen, bool)):
        raise cannot_handle(scope, info.kind, "metadata.generation must be an integer")
    if info.namespaced:
        body_ns = md.get("namespace") or ""
        if namespace:
            if body_ns and body_ns != namespace:
                raise errors.BadRequest("the namespace of the provided object does not match the namespace sent on "
                                        "the request")
            md["namespace"] = namespace
    else:
        md.pop("namespace", None)
    if name is not None:
        body_name = md.get("name") or ""
        if body_name and body_name != name:
            raise errors.BadRequest(
                f"the name of the object ({body_name}) does not match the name on the URL ({name})"
            )
        md["name"] = name
    return md


def call_strategy(scope: Scope, fn: Callable[..., T], *args: Any) -> T:
    """Run a strategy hook; an exception from odd input becomes 400, never a 500."""
    try:
        return fn(*args)
    except errors.APIError:
        raise
    except (TypeError, AttributeError, KeyError, ValueError, IndexError) as exc:
        log.debug("strategy rejected object resource=%s error=%r", scope.info.resource, exc)
        raise cannot_handle(scope, scope.info.kind, f"malformed object: {exc}") from None


def raise_invalid(scope: Scope, name: str, causes: list[Cause]) -> None:
    if causes:
        raise errors.invalid_object(scope.info.kind, name, causes, group=scope.info.group)


#: Kinds whose objects carry ``metadata.generation`` in Kubernetes 1.32 (a strategy may say otherwise
#: with a boolean ``tracks_generation`` attribute).
GENERATION_TRACKED = frozenset({
    ("apps", "deployments"), ("apps", "replicasets"), ("apps", "statefulsets"), ("apps", "daemonsets"),
    ("batch", "jobs"), ("batch", "cronjobs"), ("policy", "poddisruptionbudgets"),
    ("autoscaling", "horizontalpodautoscalers"), ("networking.k8s.io", "ingresses"),
    ("networking.k8s.io", "networkpolicies"), ("apiextensions.k8s.io", "customresourcedefinitions"),
})


def tracks_generation(scope: Scope, obj: dict[str, Any]) -> bool:
    """Whether ``metadata.generation`` is maintained for this kind (1 on create, +1 per spec change)."""
    explicit = getattr(scope.strategy, "tracks_generation", None)
    if isinstance(explicit, bool):
        return explicit
    return (scope.info.group, scope.info.resource) in GENERATION_TRACKED
