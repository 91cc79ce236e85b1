"""The ``paths`` of one group-version's OpenAPI 3 document, shaped like kube-apiserver's.

kubectl reads these operations: ``create -f``/``apply``/``replace`` look for the PATCH operation whose
``x-kubernetes-group-version-kind`` is the object's kind and check that it lists a ``fieldValidation``
query parameter (server-side field validation); without it they fall back to client-side validation
against ``/openapi/v2``, which is not served. Every PATCH here therefore carries ``fieldValidation``.

Operation ids follow upstream (``listCoreV1NamespacedPod``, ``patchAppsV1NamespacedDeploymentScale``…).
"""

from __future__ import annotations

from typing import Any

from sampan.api.resources import ResourceInfo
from sampan.apiserver.openapi.schemas import REF_PREFIX

Operation = dict[str, Any]
META = "io.k8s.apimachinery.pkg.apis.meta.v1."
STATUS_SCHEMA = META + "Status"
DELETE_OPTIONS_SCHEMA = META + "DeleteOptions"
PATCH_SCHEMA = META + "Patch"
WATCH_EVENT_SCHEMA = META + "WatchEvent"
SCALE_SCHEMA = "io.k8s.api.autoscaling.v1.Scale"
MEDIA_TYPES = ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf")
PATCH_MEDIA_TYPES = (
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
)
CUSTOM_PATCH_MEDIA_TYPES = PATCH_MEDIA_TYPES[:3]
"""Custom resources take no strategic merge patch; upstream's CRD documents list only these."""


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF_PREFIX + name}


def _query(name: str, description: str, type_: str = "string", *, unique: bool = True) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": type_}
    if unique:
        schema["uniqueItems"] = True
    return {"name": name, "in": "query", "description": description, "schema": schema}


PRETTY = _query("pretty", "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent "
                "indicates a browser or command-line HTTP tool (curl and wget).")
DRY_RUN = _query("dryRun", "When present, indicates that modifications should not be persisted. An invalid or "
                 "unrecognized dryRun directive will result in an error response and no further processing of the "
                 "request. Valid values are: - All: all dry run stages will be processed")
FIELD_MANAGER = _query("fieldManager", "fieldManager is a name associated with the actor or entity that is making "
                       "these changes. The value must be less than or 128 characters long, and only contain "
                       "printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint.")
FIELD_VALIDATION = _query("fieldValidation", "fieldValidation instructs the server on how to handle objects in the "
                          "request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - "
                          "Ignore: This will ignore any unknown fields that are silently dropped from the object, "
                          "and will ignore all but the last duplicate field that the decoder encounters. - Warn: "
                          "This will send a warning via the standard warning response header for each unknown field "
                          "that is dropped from the object, and for each duplicate field that is encountered. - "
                          "Strict: This will fail the request with a BadRequest error if any unknown fields would "
                          "be dropped from the object, or if any duplicate fields are present.")
FORCE = _query("force", "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting "
               "fields owned by other people. Force flag must be unset for non-apply patch requests.", "boolean")
LIST_PARAMS = [
    _query("allowWatchBookmarks", "allowWatchBookmarks requests watch events with type \"BOOKMARK\".", "boolean"),
    _query("continue", "The continue option should be set when retrieving more results from the server."),
    _query("fieldSelector", "A selector to restrict the list of returned objects by their fields. Defaults to "
           "everything."),
    _query("labelSelector", "A selector to restrict the list of returned objects by their labels. Defaults to "
           "everything."),
    _query("limit", "limit is a maximum number of responses to return for a list call.", "integer"),
    _query("resourceVersion", "resourceVersion sets a constraint on what resource versions a request may be served "
           "from."),
    _query("resourceVersionMatch", "resourceVersionMatch determines how resourceVersion is applied to list calls."),
    _query("sendInitialEvents", "`sendInitialEvents=true` may be set together with `watch=true`.", "boolean"),
    _query("timeoutSeconds", "Timeout for the list/watch call.", "integer"),
    _query("watch", "Watch for changes to the described resources and return them as a stream of add, update, and "
           "remove notifications. Specify resourceVersion.", "boolean"),
]
DELETE_PARAMS = [
    DRY_RUN,
    _query("gracePeriodSeconds", "The duration in seconds before the object should be deleted.", "integer"),
    _query("ignoreStoreReadErrorWithClusterBreakingPotential", "if set to true, it will trigger an unsafe deletion "
           "of the resource in case the normal deletion flow fails with a corrupt object error.", "boolean"),
    _query("orphanDependents", "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7.",
           "boolean"),
    _query("propagationPolicy", "Whether and how garbage collection will be performed."),
]


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "description": description, "required": True,
            "schema": {"type": "string", "uniqueItems": True}}


def _content(schema: str, media_types: tuple[str, ...] = MEDIA_TYPES) -> dict[str, Any]:
    return {mt: {"schema": _ref(schema)} for mt in media_types}


def _responses(codes: dict[str, str], schema: str) -> dict[str, Any]:
    out: dict[str, Any] = {c: {"description": d, "content": _content(schema)} for c, d in codes.items()}
    out["401"] = {"description": "Unauthorized"}
    return out


def _words(group: str, version: str) -> str:
    """``CoreV1``, ``AppsV1``, ``CoordinationV1``, ``EventsV1`` (upstream's operation id stem)."""
    head = group.split(".")[0] if group else "core"
    return head[:1].upper() + head[1:] + version[:1].upper() + version[1:]


def _tag(group: str, version: str) -> str:
    head = group.split(".")[0] if group else "core"
    return f"{head}_{version}"


class _Builder:
    def __init__(self, info: ResourceInfo, schema: str, list_schema: str | None) -> None:
        self.info = info
        self.schema = schema
        self.list_schema = list_schema or schema
        self.stem = _words(info.group, info.version)
        self.tag = _tag(info.group, info.version)
        self.gvk = {"group": info.group, "version": info.version, "kind": info.kind}

    def op(self, action: str, verb: str, suffix: str, *, params: list[dict[str, Any]], responses: dict[str, Any],
           body: str | None = None, body_types: tuple[str, ...] = MEDIA_TYPES, gvk: dict[str, str] | None = None,
           description: str = "") -> Operation:
        op: Operation = {
            "tags": [self.tag],
            "description": description or f"{verb} {self.info.kind}",
            "operationId": f"{verb}{self.stem}{suffix}",
            "parameters": params,
            "responses": responses,
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": gvk or self.gvk,
        }
        if body is not None:
            op["requestBody"] = {"content": _content(body, body_types), "required": True}
        return op


def resource_paths(
    info: ResourceInfo, *, schema: str, list_schema: str | None, subresource_schemas: dict[str, tuple[str, str]],
    strategic: bool = True,
) -> dict[str, Any]:
    """The path items of one resource: collection, object, all-namespaces list and the subresources
    named in ``subresource_schemas`` (name -> (schema name, kind)). ``strategic``: PATCH accepts strategic
    merge patch (built-in kinds; kubectl apply picks its patch type from this list)."""
    patch_types = PATCH_MEDIA_TYPES if strategic else CUSTOM_PATCH_MEDIA_TYPES
    b = _Builder(info, schema, list_schema)
    kind = info.kind
    ns_word = "Namespaced" if info.namespaced else ""
    base = f"/api/{info.version}" if not info.group else f"/apis/{info.group}/{info.version}"
    if info.namespaced:
        collection = f"{base}/namespaces/{{namespace}}/{info.resource}"
        scope_params = [_path_param("namespace", "object name and auth scope, such as for teams and projects")]
    else:
        collection = f"{base}/{info.resource}"
        scope_params = []
    item = f"{collection}/{{name}}"
    name_param = _path_param("name", f"name of the {kind}")
    verbs = set(info.verbs)
    paths: dict[str, Any] = {}

    coll: dict[str, Any] = {"parameters": [*scope_params, PRETTY]}
    if "list" in verbs:
        coll["get"] = b.op("list", "list", f"{ns_word}{kind}", params=list(LIST_PARAMS),
                           responses=_responses({"200": "OK"}, b.list_schema),
                           description=f"list or watch objects of kind {kind}")
    if "create" in verbs:
        coll["post"] = b.op("post", "create", f"{ns_word}{kind}", params=[DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION],
                            responses=_responses({"200": "OK", "201": "Created", "202": "Accepted"}, schema),
                            body=schema, description=f"create a {kind}")
    if "deletecollection" in verbs:
        coll["delete"] = b.op("deletecollection", "delete", f"Collection{ns_word}{kind}",
                              params=[*DELETE_PARAMS, *LIST_PARAMS], body=DELETE_OPTIONS_SCHEMA,
                              responses=_responses({"200": "OK"}, STATUS_SCHEMA),
                              description=f"delete collection of {kind}")
    paths[collection] = coll

    obj: dict[str, Any] = {"parameters": [name_param, *scope_params, PRETTY]}
    if "get" in verbs:
        obj["get"] = b.op("get", "read", f"{ns_word}{kind}", params=[],
                          responses=_responses({"200": "OK"}, schema), description=f"read the specified {kind}")
    if "update" in verbs:
        obj["put"] = b.op("put", "replace", f"{ns_word}{kind}", params=[DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION],
                          responses=_responses({"200": "OK", "201": "Created"}, schema), body=schema,
                          description=f"replace the specified {kind}")
    if "patch" in verbs:
        obj["patch"] = b.op("patch", "patch", f"{ns_word}{kind}",
                            params=[DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION, FORCE],
                            responses=_responses({"200": "OK", "201": "Created"}, schema), body=PATCH_SCHEMA,
                            body_types=patch_types, description=f"partially update the specified {kind}")
    if "delete" in verbs:
        obj["delete"] = b.op("delete", "delete", f"{ns_word}{kind}", params=list(DELETE_PARAMS),
                             responses=_responses({"200": "OK", "202": "Accepted"}, schema), body=DELETE_OPTIONS_SCHEMA,
                             description=f"delete a {kind}")
    paths[item] = obj

    if info.namespaced and "list" in verbs:
        paths[f"{base}/{info.resource}"] = {
            "parameters": [*LIST_PARAMS, PRETTY],
            "get": b.op("list", "list", f"{kind}ForAllNamespaces", params=[],
                        responses=_responses({"200": "OK"}, b.list_schema),
                        description=f"list or watch objects of kind {kind}"),
        }

    for sub, (sub_schema, sub_kind) in subresource_schemas.items():
        word = sub[:1].upper() + sub[1:]
        gvk = b.gvk if sub_schema == schema else _gvk_of_schema(sub_schema, sub_kind)
        ops: dict[str, Any] = {"parameters": [name_param, *scope_params, PRETTY]}
        ops["get"] = b.op("get", "read", f"{ns_word}{kind}{word}", params=[], gvk=gvk,
                          responses=_responses({"200": "OK"}, sub_schema),
                          description=f"read {sub} of the specified {kind}")
        ops["put"] = b.op("put", "replace", f"{ns_word}{kind}{word}", gvk=gvk,
                          params=[DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION], body=sub_schema,
                          responses=_responses({"200": "OK", "201": "Created"}, sub_schema),
                          description=f"replace {sub} of the specified {kind}")
        ops["patch"] = b.op("patch", "patch", f"{ns_word}{kind}{word}", gvk=gvk,
                            params=[DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION, FORCE], body=PATCH_SCHEMA,
                            body_types=patch_types, responses=_responses({"200": "OK", "201": "Created"},
                                                                               sub_schema),
                            description=f"partially update {sub} of the specified {kind}")
        paths[f"{item}/{sub}"] = ops
    return paths


def _gvk_of_schema(schema: str, kind: str) -> dict[str, str]:
    if schema == SCALE_SCHEMA:
        return {"group": "autoscaling", "version": "v1", "kind": "Scale"}
    return {"group": "", "version": "v1", "kind": kind}
