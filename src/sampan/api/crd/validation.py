"""Validation of a CustomResourceDefinition's spec, as upstream's apiextensions validation words it.

Covers: metadata.name = ``<plural>.<group>``; the group (a DNS subdomain with a dot, protected
``*.k8s.io``/``*.kubernetes.io`` groups need the approval annotation); names (plural, singular, kind,
listKind, shortNames, categories); scope; versions (DNS-1035 names, unique, exactly one storage
version, a structural schema each); subresources (status, scale JSON paths); printer columns;
selectable fields; conversion (``None``, or ``Webhook`` with ``conversionReviewVersions`` and a
``clientConfig``); ``preserveUnknownFields`` must be false. Updates keep group, scope and
plural, and every ``status.storedVersions`` entry must stay in ``spec.versions``.

Invariant: never raises on junk; returns causes with upstream field paths.
"""

from __future__ import annotations

from typing import Any

from sampan.api import jsonpath, validation
from sampan.api.crd import scale
from sampan.api.crd import spec as crdspec
from sampan.api.errors import Cause, duplicate, forbidden, invalid, not_supported, required
from sampan.api.structural import check_schema
from sampan.api.webhookclientconfig import validate_client_config

SCOPES = ["Cluster", "Namespaced"]
COLUMN_TYPES = ["boolean", "date", "integer", "number", "string"]
COLUMN_FORMATS = ["byte", "date", "date-time", "double", "float", "int32", "int64", "password"]
APPROVAL_ANNOTATION = "api-approved.kubernetes.io"
MAX_SELECTABLE_FIELDS = 8


def _map(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def validate_crd(crd: Any) -> list[Cause]:
    """Everything about a CRD but its object metadata (the strategy checks that)."""
    s = crdspec.spec(crd)
    if not s:
        return [required("spec")]
    causes = _name(crd, s)
    causes += _group(crd, s.get("group"))
    causes += _names(_map(s.get("names")))
    scope = s.get("scope")
    if not scope:
        causes.append(required("spec.scope"))
    elif scope not in SCOPES:
        causes.append(not_supported("spec.scope", scope, SCOPES))
    causes += _versions(s.get("versions"))
    causes += _conversion(s.get("conversion"))
    if s.get("preserveUnknownFields") is True:
        causes.append(invalid("spec.preserveUnknownFields", True, "cannot set to true, set "
                              "x-kubernetes-preserve-unknown-fields to true in spec.versions[*].schema instead"))
    return causes


def validate_crd_update(crd: Any, old: Any) -> list[Cause]:
    """The update-only rules (run after :func:`validate_crd` on the new object)."""
    causes: list[Cause] = []
    new_s, old_s = crdspec.spec(crd), crdspec.spec(old)
    for path, new, prev in (("spec.group", new_s.get("group"), old_s.get("group")),
                            ("spec.scope", new_s.get("scope"), old_s.get("scope")),
                            ("spec.names.plural", crdspec.names(crd).get("plural"), crdspec.names(old).get("plural"))):
        causes += validation.validate_immutable(new, prev, path)
    declared = {v.get("name") for v in crdspec.versions(crd)}
    stored = _map(_map(old).get("status")).get("storedVersions")
    for i, name in enumerate(stored if isinstance(stored, list) else []):
        if name not in declared:
            causes.append(invalid(f"status.storedVersions[{i}]", name, "must appear in spec.versions"))
    return causes


def _name(crd: Any, s: dict[str, Any]) -> list[Cause]:
    plural, group = _map(s.get("names")).get("plural"), s.get("group")
    name = _map(_map(crd).get("metadata")).get("name")
    if plural and group and name != f"{plural}.{group}":
        return [invalid("metadata.name", name or "", 'must be spec.names.plural+"."+spec.group')]
    return []


def _group(crd: Any, group: Any) -> list[Cause]:
    if not group:
        return [required("spec.group")]
    if not isinstance(group, str):
        return [invalid("spec.group", str(group), "must be a string")]
    causes = [invalid("spec.group", group, m) for m in validation.dns1123_subdomain(group)]
    if "." not in group:
        causes.append(invalid("spec.group", group, "should be a domain with at least one dot"))
    protected = group in ("k8s.io", "kubernetes.io") or group.endswith((".k8s.io", ".kubernetes.io"))
    annotations = _map(_map(_map(crd).get("metadata")).get("annotations"))
    if protected and not annotations.get(APPROVAL_ANNOTATION):
        causes.append(Cause(
            "FieldValueRequired", f"metadata.annotations[{APPROVAL_ANNOTATION}]",
            f'Required value: protected groups must have approval annotation "{APPROVAL_ANNOTATION}", see '
            "https://github.com/kubernetes/enhancements/pull/1111",
        ))
    return causes


def _label(path: str, value: Any, *, prefix: str = "", lower: bool = False) -> list[Cause]:
    if not isinstance(value, str):
        return [invalid(path, str(value), "must be a string")]
    errs = validation.dns1035_label(value.lower() if lower else value)
    return [invalid(path, value, prefix + ",".join(errs))] if errs else []


def _names(n: dict[str, Any], path: str = "spec.names") -> list[Cause]:
    causes: list[Cause] = []
    for key in ("plural", "kind", "listKind"):
        if not n.get(key):
            causes.append(required(f"{path}.{key}"))
    if n.get("plural"):
        causes += _label(f"{path}.plural", n["plural"])
    if n.get("singular"):
        causes += _label(f"{path}.singular", n["singular"])
    mixed = "may have mixed case, but should otherwise match: "
    for key in ("kind", "listKind"):
        if n.get(key):
            causes += _label(f"{path}.{key}", n[key], prefix=mixed, lower=True)
    if n.get("kind") and n.get("kind") == n.get("listKind"):
        causes.append(invalid(f"{path}.listKind", n["listKind"],
                              "kind and listKind may not be the same or parsing become ambiguous"))
    for key in ("shortNames", "categories"):
        items = n.get(key)
        if items is None:
            continue
        if not isinstance(items, list):
            causes.append(invalid(f"{path}.{key}", str(items), "must be a list of strings"))
            continue
        seen: set[Any] = set()
        for i, item in enumerate(items):
            causes += _label(f"{path}.{key}[{i}]", item)
            if isinstance(item, str) and item in seen:
                causes.append(duplicate(f"{path}.{key}[{i}]", item))
            seen.add(item if isinstance(item, str) else repr(item))
    return causes


def _versions(versions: Any) -> list[Cause]:
    if not versions:
        return [Cause("FieldValueRequired", "spec.versions", "Required value: must have exactly one version "
                      "marked as storage version")]
    if not isinstance(versions, list):
        return [invalid("spec.versions", str(versions), "must be a list")]
    causes: list[Cause] = []
    seen: set[str] = set()
    storage = 0
    for i, v in enumerate(versions):
        path = f"spec.versions[{i}]"
        if not isinstance(v, dict):
            causes.append(invalid(path, str(v), "must be an object"))
            continue
        name = v.get("name")
        if not name:
            causes.append(required(f"{path}.name"))
        else:
            causes += _label(f"{path}.name", name)
            if name in seen:
                causes.append(duplicate(f"{path}.name", name))
            seen.add(str(name))
        for flag in ("served", "storage"):
            if not isinstance(v.get(flag), bool):
                causes.append(required(f"{path}.{flag}") if flag not in v else
                              invalid(f"{path}.{flag}", str(v[flag]), "must be a boolean"))
        storage += v.get("storage") is True
        causes += _version(v, path)
    if storage != 1:
        causes.append(invalid("spec.versions", f"{storage} storage versions",
                              "must have exactly one version marked as storage version"))
    return causes


def _version(v: dict[str, Any], path: str) -> list[Cause]:
    schema = _map(v.get("schema")).get("openAPIV3Schema")
    spath = f"{path}.schema.openAPIV3Schema"
    causes = ([Cause("FieldValueRequired", spath, "Required value: schemas are required")] if schema is None
              else check_schema(schema, spath))
    causes += _subresources(v.get("subresources"), f"{path}.subresources")
    cols = v.get("additionalPrinterColumns")
    for i, col in enumerate(cols if isinstance(cols, list) else []):
        causes += _column(col, f"{path}.additionalPrinterColumns[{i}]")
    if cols is not None and not isinstance(cols, list):
        causes.append(invalid(f"{path}.additionalPrinterColumns", str(cols), "must be a list"))
    causes += _selectable(v.get("selectableFields"), f"{path}.selectableFields")
    warning = v.get("deprecationWarning")
    causes += [invalid(f"{path}.deprecationWarning", warning, msg)
               for msg in _deprecation_warning_errors(v.get("deprecated") is True, warning)]
    return causes


def _deprecation_warning_errors(deprecated: bool, warning: Any) -> list[str]:
    """Upstream's ``validateDeprecationWarning``: set only on deprecated versions, 1-256 printable chars."""
    if warning is None:
        return []
    if not deprecated:
        return ["can only be set for deprecated versions"]
    if not isinstance(warning, str):
        return []
    found = []
    if len(warning.encode()) > 256:
        found.append("must be <= 256 characters long")
    if not warning:
        found.append("must not be an empty string")
    for i, ch in enumerate(warning):
        if not ch.isprintable() and ch != " ":
            found.append("must only contain printable UTF-8 characters; non-printable character found at index "
                         f"{len(warning[:i].encode())}")
            break
    return found


def _json_path(value: Any, path: str, *, under: tuple[str, ...], where: str, simple: bool = False) -> list[Cause]:
    if not isinstance(value, str) or not value:
        return [required(path)]
    if simple and not scale.SIMPLE_PATH.fullmatch(value):
        return [invalid(path, value, "must be a simple json path without array notation (e.g. .spec.replicas)")]
    try:
        jsonpath.compile_path(value)
    except jsonpath.JSONPathError as err:
        return [invalid(path, value, str(err))]
    if under and not value.startswith(under):
        return [invalid(path, value, f"should be a json path under {where}")]
    return []


def _subresources(sub: Any, path: str) -> list[Cause]:
    if sub is None:
        return []
    if not isinstance(sub, dict):
        return [invalid(path, str(sub), "must be an object")]
    causes: list[Cause] = []
    if "status" in sub and not isinstance(sub["status"], dict):
        causes.append(invalid(f"{path}.status", str(sub["status"]), "must be an object"))
    paths = sub.get("scale")
    if paths is not None:
        if not isinstance(paths, dict):
            return [*causes, invalid(f"{path}.scale", str(paths), "must be an object")]
        causes += _json_path(paths.get("specReplicasPath"), f"{path}.scale.specReplicasPath",
                             under=(".spec.",), where=".spec", simple=True)
        causes += _json_path(paths.get("statusReplicasPath"), f"{path}.scale.statusReplicasPath",
                             under=(".status.",), where=".status", simple=True)
        if paths.get("labelSelectorPath"):
            causes += _json_path(paths["labelSelectorPath"], f"{path}.scale.labelSelectorPath",
                                 under=(".spec.", ".status."), where="either .spec or .status", simple=True)
    return causes


def _column(col: Any, path: str) -> list[Cause]:
    if not isinstance(col, dict):
        return [invalid(path, str(col), "must be an object")]
    causes: list[Cause] = []
    if not col.get("name"):
        causes.append(required(f"{path}.name"))
    if not col.get("type"):
        causes.append(required(f"{path}.type"))
    elif col["type"] not in COLUMN_TYPES:
        causes.append(not_supported(f"{path}.type", col["type"], COLUMN_TYPES))
    if col.get("format") and col["format"] not in COLUMN_FORMATS:
        causes.append(not_supported(f"{path}.format", col["format"], COLUMN_FORMATS))
    priority = col.get("priority")
    if priority is not None and (not isinstance(priority, int) or isinstance(priority, bool) or priority < 0):
        causes.append(invalid(f"{path}.priority", priority, "must be greater than or equal to 0"))
    return causes + _json_path(col.get("jsonPath"), f"{path}.jsonPath", under=(), where="")


def _selectable(fields: Any, path: str) -> list[Cause]:
    if fields is None:
        return []
    if not isinstance(fields, list):
        return [invalid(path, str(fields), "must be a list")]
    causes: list[Cause] = []
    if len(fields) > MAX_SELECTABLE_FIELDS:
        causes.append(Cause("FieldValueTooMany", path,
                            f"Too many: {len(fields)}: must have at most {MAX_SELECTABLE_FIELDS} items"))
    seen: set[str] = set()
    for i, f in enumerate(fields):
        jp = _map(f).get("jsonPath")
        causes += _json_path(jp, f"{path}[{i}].jsonPath", under=(".",), where=".")
        if isinstance(jp, str) and jp in seen:
            causes.append(duplicate(f"{path}[{i}].jsonPath", jp))
        if isinstance(jp, str):
            seen.add(jp)
    return causes


def _conversion(conv: Any) -> list[Cause]:
    """Upstream ``validateCustomResourceConversion``: strategy None (no webhook) or Webhook (with
    ``webhook.conversionReviewVersions`` naming v1 or v1beta1 and a ``clientConfig``)."""
    if conv is None:
        return []
    if not isinstance(conv, dict):
        return [invalid("spec.conversion", str(conv), "must be an object")]
    strategy = conv.get("strategy")
    if strategy == "Webhook":
        webhook = conv.get("webhook")
        if not isinstance(webhook, dict):
            return [Cause("FieldValueRequired", "spec.conversion.webhook",
                          "Required value: required when strategy is set to Webhook")]
        causes: list[Cause] = []
        versions = webhook.get("conversionReviewVersions")
        path = "spec.conversion.webhook.conversionReviewVersions"
        if not isinstance(versions, list) or not versions:
            causes.append(Cause("FieldValueRequired", path, "Required value: must specify one of v1, v1beta1"))
        elif not any(v in ("v1", "v1beta1") for v in versions):
            causes.append(invalid(path, versions, "must include at least one of v1, v1beta1"))
        else:
            causes += [duplicate(f"{path}[{i}]", versions[i]) for i in validation.each_duplicate(versions)]
        if webhook.get("clientConfig") is None:
            causes.append(Cause("FieldValueRequired", "spec.conversion.webhook.clientConfig",
                                "Required value: required when strategy is set to Webhook"))
        else:
            causes += validate_client_config(webhook["clientConfig"], "spec.conversion.webhook.clientConfig")
        return causes
    if strategy not in (None, "None"):
        return [not_supported("spec.conversion.strategy", strategy, ["None", "Webhook"])]
    if conv.get("webhook") is not None:
        return [forbidden("spec.conversion.webhook", "should not be set when strategy is not set to Webhook")]
    return []
    if not isinstance(conv, dict):
        return [invalid("spec.conversion", str(conv), "must be an object")]
    strategy = conv.get("strategy")
    if strategy == "Webhook":
        return [forbidden("spec.conversion.strategy", "Webhook conversion is not supported by sampan; "
                          "use strategy None (all versions must share one schema shape)")]
    if strategy not in (None, "None"):
        return [not_supported("spec.conversion.strategy", strategy, ["None", "Webhook"])]
    if conv.get("webhook") is not None:
        return [forbidden("spec.conversion.webhook", "should not be set when strategy is not set to Webhook")]
    return []
