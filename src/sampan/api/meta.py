"""Small typed accessors over wire-format objects (plain dicts), and key functions.

Readers never raise on a malformed object: a missing or wrongly typed field reads as its empty value
("" / {} / [] / None). Writers create intermediate maps as needed. Objects from a cache are read-only:
copy (``copy.deepcopy``) before using a writer on them.
"""


from collections.abc import Mapping
from typing import Any

Object = dict[str, Any]


def metadata(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def name(obj: Mapping[str, Any]) -> str:
    return _str(metadata(obj).get("name"))


def namespace(obj: Mapping[str, Any]) -> str:
    return _str(metadata(obj).get("namespace"))


def uid(obj: Mapping[str, Any]) -> str:
    return _str(metadata(obj).get("uid"))


def resource_version(obj: Mapping[str, Any]) -> str:
    return _str(metadata(obj).get("resourceVersion"))


def creation_timestamp(obj: Mapping[str, Any]) -> str:
    return _str(metadata(obj).get("creationTimestamp"))


def deletion_timestamp(obj: Mapping[str, Any]) -> str:
    return _str(metadata(obj).get("deletionTimestamp"))


def generation(obj: Mapping[str, Any]) -> int:
    gen = metadata(obj).get("generation")
    return gen if isinstance(gen, int) and not isinstance(gen, bool) else 0


def _str_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}


def labels(obj: Mapping[str, Any]) -> dict[str, str]:
    return _str_map(metadata(obj).get("labels"))


def annotations(obj: Mapping[str, Any]) -> dict[str, str]:
    return _str_map(metadata(obj).get("annotations"))


def finalizers(obj: Mapping[str, Any]) -> list[str]:
    fins = metadata(obj).get("finalizers")
    return [f for f in fins if isinstance(f, str)] if isinstance(fins, list) else []


def owner_references(obj: Mapping[str, Any]) -> list[dict[str, Any]]:
    refs = metadata(obj).get("ownerReferences")
    return [r for r in refs if isinstance(r, dict)] if isinstance(refs, list) else []


def controller_ref(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    """The owner reference with ``controller: true``, if any (upstream ``GetControllerOf``)."""
    return next((r for r in owner_references(obj) if r.get("controller") is True), None)


def key(obj: Mapping[str, Any]) -> str:
    """client-go's ``MetaNamespaceKeyFunc``: ``ns/name``, or ``name`` for cluster-scoped objects."""
    ns = namespace(obj)
    return f"{ns}/{name(obj)}" if ns else name(obj)


def split_key(text: str) -> tuple[str, str]:
    """(namespace, name) from a key; namespace "" for cluster-scoped keys. ValueError on ``a/b/c``."""
    parts = text.split("/")
    if len(parts) == 1:
        return "", parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    raise ValueError(f"unexpected key format: {text!r}")


def get_path(obj: Any, path: str, default: Any = None) -> Any:
    """The value at a dotted path (``spec.template.spec``); ``default`` when any step is missing."""
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return default
        cur = cur[part]
    return cur


def ensure_map(obj: Object, *path: str) -> Object:
    """The map at ``path``, created (and replacing a non-map) as needed."""
    cur = obj
    for part in path:
        nxt = cur.get(part)
        if not isinstance(nxt, dict):
            nxt = {}
            cur[part] = nxt
        cur = nxt
    return cur


def add_finalizer(obj: Object, finalizer: str) -> None:
    """Append ``finalizer`` to ``metadata.finalizers`` unless it is there (a non-list value is left alone:
    validation reports it)."""
    fins = obj.setdefault("metadata", {}).setdefault("finalizers", [])
    if isinstance(fins, list) and finalizer not in fins:
        fins.append(finalizer)


def set_default(obj: Object, path: str, value: Any) -> None:
    """Set ``value`` at the dotted ``path`` unless a non-None value is already there."""
    *parents, last = path.split(".")
    target = ensure_map(obj, *parents)
    if target.get(last) is None:
        target[last] = value
