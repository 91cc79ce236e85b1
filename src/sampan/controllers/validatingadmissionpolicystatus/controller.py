"""``validatingadmissionpolicy-status-controller``: type-check every ValidatingAdmissionPolicy's CEL and write
``status.typeChecking`` and ``status.observedGeneration``, as upstream's controller in kube-controller-manager.

Keys are policy names. A policy whose ``status.observedGeneration`` already equals its
``metadata.generation`` is left alone (status writes do not bump the generation, so this is level-based and
converges). Otherwise the policy's expressions (``spec.validations[i].expression`` and, when set,
``.messageExpression``) are checked (:mod:`sampan.api.structural.celcheck`) against the type of every
resource its ``matchConstraints.resourceRules`` names exactly (wildcards and subresources are not typed, as
upstream; at most :data:`MAX_TYPES` of them, sorted by group, version, kind); ``params`` gets the type of
``paramKind``, ``variables`` the types of the policy's variables. Each failing expression becomes one
``expressionWarnings`` entry ``{fieldRef: "spec.validations[i].expression", warning}`` whose warning joins,
per type, ``<group>/<version>, Kind=<kind>: <cel-go issue>`` lines, as upstream.

Schemas come from the API server's ``/openapi/v3`` documents (built-ins and CRD structural schemas alike:
upstream combines its compiled-in definitions with the discovery-served ones), cached per document hash
(:class:`SchemaSource`), so a CRD's changed schema is used for the next policy generation checked.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sampan.api import errors
from sampan.api.structural import celcheck
from sampan.api.structural.celcheck import DYN, CelType
from sampan.client import Client, EventHandlerFuncs, SharedIndexInformer, SharedInformerFactory
from sampan.controllers.runner import Enqueuer

log = logging.getLogger(__name__)

API_VERSION = "admissionregistration.k8s.io/v1"
MAX_TYPES = 10
"""Upstream's ``maxTypesToCheck``."""

GVK = tuple[str, str, str]


def gvk_string(gvk: GVK) -> str:
    """``schema.GroupVersionKind``'s ``%v``: ``apps/v1, Kind=Deployment`` (``/v1, Kind=Pod`` for core)."""
    return f"{gvk[0]}/{gvk[1]}, Kind={gvk[2]}"


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _l(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def warnings_for(policy: dict[str, Any], object_types: Sequence[tuple[GVK, CelType]],
                 params: CelType = DYN) -> list[dict[str, str]]:
    """The ``expressionWarnings`` of ``policy`` given the types of the resources it matches."""
    spec = _d(policy.get("spec"))
    out: list[dict[str, str]] = []
    for i, validation in enumerate(_l(spec.get("validations"))):
        validation = _d(validation)
        for key in ("expression", "messageExpression"):
            expr = validation.get(key)
            if not isinstance(expr, str) or not expr:
                continue
            lines = []
            for gvk, obj_type in object_types:
                issue = celcheck.check(expr, _variables(spec, obj_type, params))
                if issue is not None:
                    lines.append(f"{gvk_string(gvk)}: {issue}\n")
            if lines:
                out.append({"fieldRef": f"spec.validations[{i}].{key}", "warning": "\n".join(lines)})
    return out


def _variables(spec: dict[str, Any], obj_type: CelType, params: CelType) -> dict[str, CelType]:
    declared: dict[str, CelType] = {"object": obj_type, "oldObject": obj_type, "params": params, "request": DYN,
                                    "namespaceObject": DYN, "authorizer": DYN}
    # each variable is a field of ``variables`` typed by its expression (earlier variables visible, as
    # upstream compiles them in order); one whose expression does not check is dyn (reported where used
    # only if that use is wrong); using an undeclared one is an undefined field
    fields: dict[str, CelType] = {}
    declared["variables"] = CelType("object", name="variables", fields=fields)
    for var in _l(spec.get("variables")):
        var = _d(var)
        expr = var.get("expression")
        fields[str(var.get("name", ""))] = (celcheck.infer(expr, declared) or DYN) if isinstance(expr, str) else DYN
    return declared


def matched_gvrs(policy: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(group, version, resource) named exactly by the policy's resourceRules."""
    out: list[tuple[str, str, str]] = []
    for rule in _l(_d(_d(policy.get("spec")).get("matchConstraints")).get("resourceRules")):
        rule = _d(rule)
        for group in _l(rule.get("apiGroups")):
            for version in _l(rule.get("apiVersions")):
                for resource in _l(rule.get("resources")):
                    if "*" in (group, version) or "*" in str(resource) or "/" in str(resource):
                        continue
                    gvr = (str(group), str(version), str(resource))
                    if gvr not in out:
                        out.append(gvr)
    return out


class SchemaSource:
    """OpenAPI v3 schemas per group-version, read from the API server: the index (``/openapi/v3``, small) is
    read once per policy checked, and a group-version's document again only when its hash changed there (a
    CRD's new schema is seen; unchanged documents are not fetched again)."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._index: dict[str, str] = {}
        self._docs: dict[str, dict[str, Any]] = {}
        """serverRelativeURL (with its hash) -> the document's ``components.schemas``."""

    async def refresh(self) -> None:
        index = await self._client.rest.request("GET", "/openapi/v3")
        paths = _d(_d(index).get("paths"))
        self._index = {str(p): str(_d(v).get("serverRelativeURL", "")) for p, v in paths.items()}
        wanted = set(self._index.values())
        self._docs = {url: doc for url, doc in self._docs.items() if url in wanted}

    async def _components(self, group: str, version: str) -> dict[str, Any]:
        url = self._index.get(f"api/{version}" if not group else f"apis/{group}/{version}")
        if not url:
            return {}
        if url not in self._docs:
            path, _, query = url.partition("?")
            params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
            doc = await self._client.rest.request("GET", path, params=params)
            self._docs[url] = _d(_d(_d(doc).get("components")).get("schemas"))
        return self._docs[url]

    async def object_type(self, gvk: GVK) -> CelType | None:
        """The CEL type of kind ``gvk`` (None when its schema is not served)."""
        try:
            schemas = await self._components(gvk[0], gvk[1])
        except errors.APIError:
            return None
        for name, schema in schemas.items():
            for tag in _l(_d(schema).get("x-kubernetes-group-version-kind")):
                tag = _d(tag)
                if (tag.get("group", ""), tag.get("version"), tag.get("kind")) == gvk:
                    def resolve(ref: str, _schemas: dict[str, Any] = schemas) -> dict[str, Any] | None:
                        found = _schemas.get(ref.rsplit("/", 1)[-1])
                        return found if isinstance(found, dict) else None

                    return celcheck.from_schema(schema, resolve, name=name)
        return None


class ValidatingAdmissionPolicyStatusController:
    name = "validatingadmissionpolicy-status-controller"

    def __init__(self, client: Client, factory: SharedInformerFactory) -> None:
        self._client = client
        self._informer = factory.informer(API_VERSION, "validatingadmissionpolicies")
        self.policies = factory.lister(API_VERSION, "validatingadmissionpolicies")
        self.schemas = SchemaSource(client)

    def informers(self) -> Sequence[SharedIndexInformer]:
        return (self._informer,)

    def watch(self, queue: Enqueuer) -> None:
        def changed(obj: Any) -> None:
            if isinstance(obj, dict):
                queue.add(str(obj["metadata"]["name"]))

        self._informer.add_event_handler(EventHandlerFuncs(
            on_add_func=changed, on_update_func=lambda _old, new: changed(new)))

    async def _kind_of(self, gvr: tuple[str, str, str]) -> GVK | None:
        api_version = f"{gvr[0]}/{gvr[1]}" if gvr[0] else gvr[1]
        try:
            info = await self._client.discovery.resolve(api_version, gvr[2])
        except errors.APIError:
            return None
        return (gvr[0], gvr[1], info.kind)

    async def _types(self, policy: dict[str, Any]) -> tuple[list[tuple[GVK, CelType]], CelType]:
        await self.schemas.refresh()
        gvks = [g for g in [await self._kind_of(gvr) for gvr in matched_gvrs(policy)] if g is not None]
        gvks = sorted(set(gvks))[:MAX_TYPES]
        types: list[tuple[GVK, CelType]] = []
        for gvk in gvks:
            found = await self.schemas.object_type(gvk)
            if found is not None:
                types.append((gvk, found))
        params = DYN
        kind = _d(_d(policy.get("spec")).get("paramKind"))
        if kind.get("apiVersion") and kind.get("kind"):
            group, _, version = str(kind["apiVersion"]).rpartition("/")
            params = await self.schemas.object_type((group, version, str(kind["kind"]))) or DYN
        return types, params

    async def reconcile(self, key: str) -> None:
        try:
            policy = self.policies.get(key)
        except errors.NotFound:
            return
        generation = int(_d(policy.get("metadata")).get("generation") or 0)
        status = _d(policy.get("status"))
        if generation and status.get("observedGeneration") == generation:
            return
        types, params = await self._types(policy)
        warnings = warnings_for(policy, types, params)
        new_status = {**status, "observedGeneration": generation,
                      "typeChecking": {"expressionWarnings": warnings} if warnings else {}}
        resource = await self._client.resource(API_VERSION, "validatingadmissionpolicies")
        await resource.update_status({**policy, "status": new_status})  # Conflict: the runner retries
        log.info("type-checked validatingadmissionpolicy name=%s generation=%d warnings=%d", key, generation,
                 len(warnings))
