"""Upstream's validation rules for names, labels, annotations and object metadata.

Every message is upstream's (apimachinery ``util/validation`` and ``api/validation``) word for word, so
a 422 from sampan reads like one from kube-apiserver. Two layers:

* *name rules* (``dns1123_subdomain``, ``dns1123_label``, ``dns1035_label``, ``path_segment``…) take a
  string and return a list of problem messages (empty when valid), like upstream's ``IsDNS1123Label``;
* *field validators* (``validate_labels``, ``validate_object_meta``…) take a value and its field path and
  return :class:`~sampan.api.errors.Cause` lists ready for :func:`~sampan.api.errors.invalid_object`.

Invariant: validators never raise on malformed input (wrong JSON types included); they report it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from sampan.api.errors import Cause, forbidden, invalid, required, too_long

NameRule = Callable[[str], list[str]]
"""A name rule: the problems with a name, upstream-worded; ``[]`` when valid."""

DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
LABEL_VALUE_MAX = 63
QUALIFIED_NAME_MAX = 63
TOTAL_ANNOTATION_SIZE_MAX = 256 * 1024
FIELD_IMMUTABLE = "field is immutable"

_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + r"(\." + _DNS1123_LABEL_FMT + ")*"
_DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE_FMT = "(" + _QUALIFIED_NAME_FMT + ")?"

_DNS1123_LABEL_RE = re.compile(_DNS1123_LABEL_FMT)
_DNS1123_SUBDOMAIN_RE = re.compile(_DNS1123_SUBDOMAIN_FMT)
_DNS1035_LABEL_RE = re.compile(_DNS1035_LABEL_FMT)
_QUALIFIED_NAME_RE = re.compile(_QUALIFIED_NAME_FMT)
_LABEL_VALUE_RE = re.compile(_LABEL_VALUE_FMT)
_C_IDENTIFIER_RE = re.compile("[A-Za-z_][A-Za-z0-9_]*")
_ENV_VAR_NAME_RE = re.compile("[-._a-zA-Z][-._a-zA-Z0-9]*")
_CONFIG_MAP_KEY_RE = re.compile("[-._a-zA-Z0-9]+")

DNS1123_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
    "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    f"'{_DNS1123_LABEL_FMT}')"
)
DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
    "must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    f"'{_DNS1123_SUBDOMAIN_FMT}')"
)
DNS1035_LABEL_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
    f"validation is '{_DNS1035_LABEL_FMT}')"
)
_QUALIFIED_NAME_PART_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
    "character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    f"'{_QUALIFIED_NAME_FMT}')"
)
LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
    f"for validation is '{_LABEL_VALUE_FMT}')"
)


def _max_len(limit: int) -> str:
    return f"must be no more than {limit} characters"


def _full(regex: re.Pattern[str], value: str) -> bool:
    return regex.fullmatch(value) is not None


# ---- name rules (string -> problems) ------------------------------------------------------------

def dns1123_label(value: str) -> list[str]:
    """Upstream ``IsDNS1123Label``: namespaces, container names, port names' cousins."""
    errs = []
    if len(value) > DNS1123_LABEL_MAX:
        errs.append(_max_len(DNS1123_LABEL_MAX))
    if not _full(_DNS1123_LABEL_RE, value):
        errs.append(DNS1123_LABEL_MSG)
    return errs


def dns1123_subdomain(value: str) -> list[str]:
    """Upstream ``IsDNS1123Subdomain``: the name rule of most kinds (pods, configmaps, deployments…)."""
    errs = []
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        errs.append(_max_len(DNS1123_SUBDOMAIN_MAX))
    if not _full(_DNS1123_SUBDOMAIN_RE, value):
        errs.append(DNS1123_SUBDOMAIN_MSG)
    return errs


def dns1035_label(value: str) -> list[str]:
    """Upstream ``IsDNS1035Label``: service names."""
    errs = []
    if len(value) > DNS1123_LABEL_MAX:
        errs.append(_max_len(DNS1123_LABEL_MAX))
    if not _full(_DNS1035_LABEL_RE, value):
        errs.append(DNS1035_LABEL_MSG)
    return errs


def path_segment(value: str) -> list[str]:
    """Upstream ``ValidatePathSegmentName``: the loosest rule (RBAC kinds and similar)."""
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    return [f"may not contain '{ch}'" for ch in ("/", "%") if ch in value]


def qualified_name(value: str) -> list[str]:
    """Upstream ``IsQualifiedName``: label keys, annotation keys, finalizers: ``[prefix/]name``."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + m for m in dns1123_subdomain(prefix))
    else:
        return [
            "a qualified name " + _QUALIFIED_NAME_PART_MSG
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > QUALIFIED_NAME_MAX:
        errs.append("name part " + _max_len(QUALIFIED_NAME_MAX))
    if name and not _full(_QUALIFIED_NAME_RE, name):
        errs.append("name part " + _QUALIFIED_NAME_PART_MSG)
    return errs


def label_value(value: str) -> list[str]:
    """Upstream ``IsValidLabelValue``."""
    errs = []
    if len(value) > LABEL_VALUE_MAX:
        errs.append(_max_len(LABEL_VALUE_MAX))
    if not _full(_LABEL_VALUE_RE, value):
        errs.append(LABEL_VALUE_MSG)
    return errs


def config_map_key(value: str) -> list[str]:
    """Upstream ``IsConfigMapKey``: keys of configmap/secret ``data``."""
    errs = []
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        errs.append(_max_len(DNS1123_SUBDOMAIN_MAX))
    if not _full(_CONFIG_MAP_KEY_RE, value):
        errs.append(
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or "
            "'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
        )
    if value in (".", ".."):
        errs.append(f"must not be '{value}'")
    elif value.startswith(".."):
        errs.append("must not start with '..'")
    return errs


def env_var_name(value: str) -> list[str]:
    """Upstream ``IsEnvVarName``."""
    errs = []
    if not _full(_ENV_VAR_NAME_RE, value):
        errs.append(
            "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', "
            "and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or 'MyEnvName1', regex "
            "used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')"
        )
    if value in (".", ".."):
        errs.append(f"must not be '{value}'")
    elif value.startswith(".."):
        errs.append("must not start with '..'")
    return errs


def c_identifier(value: str) -> list[str]:
    if _full(_C_IDENTIFIER_RE, value):
        return []
    return [
        "a valid C identifier must start with alphabetic character or '_', followed by a string of alphanumeric "
        "characters or '_' (e.g. 'my_name',  or 'MY_NAME',  or 'MyName', regex used for validation is "
        "'[A-Za-z_][A-Za-z0-9_]*')"
    ]


def port_number(value: Any) -> list[str]:
    """Upstream ``IsValidPortNum``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        return ["must be between 1 and 65535, inclusive"]
    return []


# ---- field validators (value, path -> causes) ---------------------------------------------------

def validate_name(value: Any, path: str, rule: NameRule) -> list[Cause]:
    """One cause per problem ``rule`` finds; a non-string is reported, never raised on."""
    if not isinstance(value, str):
        return [invalid(path, value, "must be a string")]
    return [invalid(path, value, msg) for msg in rule(value)]


def _string_map(value: Any, path: str) -> tuple[dict[str, Any], list[Cause]]:
    if value is None:
        return {}, []
    if not isinstance(value, dict):
        return {}, [invalid(path, str(value), "must be a map of string keys to string values")]
    return value, []


def validate_labels(labels: Any, path: str = "metadata.labels") -> list[Cause]:
    """Upstream ``ValidateLabels``: qualified-name keys, label values."""
    mapping, causes = _string_map(labels, path)
    for key, val in mapping.items():
        causes += [invalid(path, key, msg) for msg in qualified_name(key)]
        if not isinstance(val, str):
            causes.append(invalid(f"{path}[{key}]", val, "must be a string"))
            continue
        causes += [invalid(path, val, msg) for msg in label_value(val)]
    return causes


def validate_annotations(annotations: Any, path: str = "metadata.annotations") -> list[Cause]:
    """Upstream ``ValidateAnnotations``: lower-cased keys are qualified names; total size ≤ 256 KiB."""
    mapping, causes = _string_map(annotations, path)
    total = 0
    for key, val in mapping.items():
        causes += [invalid(path, key, msg) for msg in qualified_name(key.lower())]
        if not isinstance(val, str):
            causes.append(invalid(f"{path}[{key}]", val, "must be a string"))
            continue
        total += len(key) + len(val)
    if total > TOTAL_ANNOTATION_SIZE_MAX:
        causes.append(too_long(path, TOTAL_ANNOTATION_SIZE_MAX))
    return causes


_STANDARD_FINALIZERS = frozenset({"kubernetes", "orphan", "foregroundDeletion",
                                  "customresourcecleanup.apiextensions.k8s.io"})
"""The last one: upstream validates CRD metadata with apimachinery's rule (any qualified name), which
lets the CRD cleanup finalizer through; sampan shares one rule, so it is listed here."""


def validate_finalizers(finalizers: Any, path: str = "metadata.finalizers") -> list[Cause]:
    """Upstream ``ValidateFinalizers``: qualified names; unprefixed ones must be standard; unique."""
    if finalizers is None:
        return []
    if not isinstance(finalizers, list):
        return [invalid(path, str(finalizers), "must be a list of strings")]
    causes: list[Cause] = []
    seen: set[str] = set()
    for i, name in enumerate(finalizers):
        item = f"{path}[{i}]"
        if not isinstance(name, str):
            causes.append(invalid(item, name, "must be a string"))
            continue
        problems = qualified_name(name)
        causes += [invalid(path, name, msg) for msg in problems]
        if not problems and "/" not in name and name not in _STANDARD_FINALIZERS:
            causes.append(
                invalid(path, name, "name is neither a standard finalizer name nor is it fully qualified")
            )
        if name in seen:
            causes.append(Cause("FieldValueDuplicate", item, f'Duplicate value: "{name}"'))
        seen.add(name)
    return causes


def validate_owner_references(refs: Any, path: str = "metadata.ownerReferences") -> list[Cause]:
    """Upstream ``ValidateOwnerReferences``: apiVersion, kind, name, uid required (reported on the list's
    path without an index, as upstream); one controller (each further one names the first)."""
    if refs is None:
        return []
    if not isinstance(refs, list):
        return [invalid(path, str(refs), "must be a list")]
    causes: list[Cause] = []
    first_controller = ""
    for i, ref in enumerate(refs):
        if not isinstance(ref, dict):
            causes.append(invalid(f"{path}[{i}]", str(ref), "must be an object"))
            continue
        gv = ref.get("apiVersion")
        if not gv or not isinstance(gv, str):
            causes.append(invalid(f"{path}.apiVersion", gv or "", "version must not be empty"))
        for key in ("kind", "name"):
            if not ref.get(key):
                causes.append(invalid(f"{path}.{key}", ref.get(key) or "", f"{key} must not be empty"))
        if not ref.get("uid"):
            causes.append(invalid(f"{path}.uid", ref.get("uid") or "", "uid must not be empty"))
        if ref.get("controller") is True:
            current = f"{ref.get('kind', '')}/{ref.get('name', '')}"
            if not first_controller:
                first_controller = current
                continue
            causes.append(Cause("FieldValueInvalid", path, f"Invalid value: {orjson.dumps(refs).decode()}: Only one "
                                f'reference can have Controller set to true. Found "true" in references for '
                                f"{first_controller} and {current}"))
    return causes


def validate_object_meta(obj: Any, *, namespaced: bool, name_rule: NameRule) -> list[Cause]:
    """Upstream ``ValidateObjectMeta`` for a create (also run on updates): name or generateName, the
    namespace's presence as the scope demands, labels, annotations, finalizers, ownerReferences."""
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    if not isinstance(meta, dict):
        return [required("metadata")]
    causes: list[Cause] = []
    name, generate = meta.get("name"), meta.get("generateName")
    if generate:
        causes += validate_name(generate, "metadata.generateName", _as_prefix(name_rule))
    if not name:
        causes.append(Cause("FieldValueRequired", "metadata.name", "Required value: name or generateName is required"))
    else:
        causes += validate_name(name, "metadata.name", name_rule)
    ns = meta.get("namespace")
    if namespaced:
        if not ns:
            causes.append(required("metadata.namespace"))
        else:
            causes += validate_name(ns, "metadata.namespace", dns1123_label)
    elif ns:
        causes.append(forbidden("metadata.namespace", "not allowed on this type"))
    generation = meta.get("generation")
    if isinstance(generation, int) and generation < 0:
        causes.append(invalid("metadata.generation", generation, "must be greater than or equal to 0"))
    causes += validate_labels(meta.get("labels"))
    causes += validate_annotations(meta.get("annotations"))
    causes += validate_finalizers(meta.get("finalizers"))
    causes += validate_owner_references(meta.get("ownerReferences"))
    return causes


_IMMUTABLE_META = ("name", "namespace", "uid", "creationTimestamp")


def validate_object_meta_update(obj: Any, old: Any) -> list[Cause]:
    """Upstream ``ValidateObjectMetaUpdate``: name, namespace, uid and creationTimestamp are immutable,
    and an object being deleted takes no new finalizers."""
    new_meta = (obj or {}).get("metadata") or {}
    old_meta = (old or {}).get("metadata") or {}
    causes: list[Cause] = []
    for key in _IMMUTABLE_META:
        # An absent uid/creationTimestamp on a PUT means "keep" (the handler fills it in).
        if key in ("uid", "creationTimestamp") and not new_meta.get(key):
            continue
        if new_meta.get(key) != old_meta.get(key):
            causes.append(invalid(f"metadata.{key}", new_meta.get(key) or "", FIELD_IMMUTABLE))
    if old_meta.get("deletionTimestamp"):
        new_finalizers = _strings(new_meta.get("finalizers"))
        extra = sorted(set(new_finalizers) - set(_strings(old_meta.get("finalizers"))))
        if extra:
            causes.append(forbidden("metadata.finalizers", "no new finalizers can be added if the object is being "
                                    f"deleted, found new finalizers {go_value(extra, '[]string')}"))
    return causes


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def validate_immutable(new: Any, old: Any, path: str, *, go_type: str = "") -> list[Cause]:
    """Upstream ``ValidateImmutableField``: ``<path>: Invalid value: <new>: field is immutable``.

    Scalars print as upstream's (strings quoted, ``null`` for nil); a list or object prints as Go's
    ``%#v`` of ``go_type`` (the Go type upstream validates, e.g. ``core.PodTemplateSpec``) where that
    is short (lists of strings, string maps), else as ``<go_type>{...}``: never a Python repr."""
    if new == old:
        return []
    return [Cause("FieldValueInvalid", path, f"Invalid value: {go_value(new, go_type)}: {FIELD_IMMUTABLE}")]


def go_value(value: Any, go_type: str = "") -> str:
    """A Go ``%#v``-like rendering of a JSON value as upstream's field errors print it (see
    :func:`validate_immutable`); ``go_type`` names the Go type of a list or object."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return orjson.dumps(value).decode()
    if isinstance(value, list):
        kind = go_type or "[]interface {}"
        if all(isinstance(v, str) for v in value):
            return kind + "{" + ", ".join(go_value(v) for v in value) + "}"
        return kind + "{...}"
    kind = go_type or "map[string]interface {}"
    if isinstance(value, dict) and kind.startswith("map[string]string") and \
            all(isinstance(v, str) for v in value.values()):
        return kind + "{" + ", ".join(f"{go_value(k)}:{go_value(value[k])}" for k in sorted(value)) + "}"
    return kind + "{...}"


def _as_prefix(rule: NameRule) -> NameRule:
    """Upstream's prefix mode: a generateName is valid if some completion of it is; the trailing dash
    is masked with an ``a`` before checking (``maskTrailingDash``)."""

    def check(prefix: str) -> list[str]:
        masked = prefix[:-1] + "a" if len(prefix) > 1 and prefix.endswith("-") else prefix
        if rule is path_segment:
            return [m for m in rule(masked) if "may not be" not in m]
        return rule(masked)

    return check


def each_duplicate(values: Iterable[Any]) -> list[int]:
    """Indexes of values already seen earlier in ``values`` (for ``Duplicate value`` causes)."""
    seen: set[Any] = set()
    dups: list[int] = []
    for i, v in enumerate(values):
        key = v if isinstance(v, str | int | tuple) else repr(v)
        if key in seen:
            dups.append(i)
        seen.add(key)
    return dups
