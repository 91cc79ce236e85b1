"""The ``MutatingAdmissionWebhook`` and ``ValidatingAdmissionWebhook`` plugins: every webhook of every
configuration (by configuration name, then in order) whose rules, selectors and match conditions
accept the request is called with an AdmissionReview.

* Mutating (``admit``): the object gets its strategy's defaults first (as upstream's decoding gives
  them), then the webhooks run one after another (DELETE too, with nothing to patch); a ``JSONPatch``
  response is applied to the object in the version the webhook matched and converted back;
  ``reinvocationPolicy: IfNeeded`` webhooks run once more when a later webhook changed the object
  after them.
* Validating (``validate``): all at once (``asyncio.gather``); the first refusal in webhook order wins.
* A webhook that cannot be called (down, timeout after ``timeoutSeconds``, bad TLS, nonsense answer):
  ``failurePolicy: Ignore`` skips it (logged), ``Fail`` refuses with 500 ``Internal error occurred:
  failed calling webhook "x": failed to call webhook: Post "https://…?timeout=10s": context deadline
  exceeded`` (upstream's words).
* A dry run reaching a webhook whose ``sideEffects`` is not ``None``/``NoneOnDryRun``: 400 ``admission
  webhook "x" does not support dry run``.
* ``warnings`` become ``Warning`` headers; ``auditAnnotations`` are kept as ``<webhook>/<key>``.

Requests on the webhook configurations and admission policies themselves never go to webhooks
(upstream exempts them, so a broken webhook cannot lock itself in). Configurations are read from the
watch cache on every request: a change applies without restart, as soon as the cache has it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import logging
from typing import TYPE_CHECKING, Any

import orjson

from sampan.api import errors, meta
from sampan.api.patches.jsonpatch import apply_json_patch
from sampan.apiserver.admission.interface import Attributes, PluginBase
from sampan.apiserver.admission.webhooks import conditions, matching
from sampan.apiserver.admission.webhooks.client import CallError, WebhookClient
from sampan.apiserver.admission.webhooks.review import build_request, denied, parse_response
from sampan.apiserver.cacher.watcher import Filter

if TYPE_CHECKING:
    from sampan.apiserver.context import Scope, ServerContext

log = logging.getLogger(__name__)

GROUP = "admissionregistration.k8s.io"
EXEMPT = frozenset({"mutatingwebhookconfigurations", "validatingwebhookconfigurations",
                    "validatingadmissionpolicies", "validatingadmissionpolicybindings",
                    "mutatingadmissionpolicies", "mutatingadmissionpolicybindings"})
SAFE_SIDE_EFFECTS = frozenset({"None", "NoneOnDryRun"})


class WebhookPlugin(PluginBase):
    """One of the two webhook plugins (``mutating`` picks which configurations and which hook)."""

    def __init__(self, *, mutating: bool) -> None:
        self.mutating = mutating
        self.name = "MutatingAdmissionWebhook" if mutating else "ValidatingAdmissionWebhook"
        self.resource = "mutatingwebhookconfigurations" if mutating else "validatingwebhookconfigurations"
        self.client = WebhookClient()

    def handles(self, attrs: Attributes) -> bool:
        return not (attrs.group == GROUP and attrs.resource in EXEMPT)

    def _hooks(self, ctx: ServerContext) -> list[dict[str, Any]]:
        scope = ctx.scope(GROUP, "v1", self.resource)
        if scope is None or not scope.cache.objects:  # no configuration at all: every write's common case
            return []
        out: list[dict[str, Any]] = []
        for co in scope.cache.sorted_objects(Filter()):
            out += [h for h in co.obj.get("webhooks") or [] if isinstance(h, dict)]
        return out

    async def admit(self, ctx: ServerContext, attrs: Attributes) -> None:
        if not self.mutating:
            return
        hooks = self._hooks(ctx)
        if not hooks:
            return
        _apply_defaults(ctx, attrs)
        last_change = -1
        for i, hook in enumerate(hooks):
            if await self._call(ctx, attrs, hook):
                last_change = i
        for hook in hooks[:max(last_change, 0)]:
            if hook.get("reinvocationPolicy") == "IfNeeded":
                await self._call(ctx, attrs, hook)

    async def validate(self, ctx: ServerContext, attrs: Attributes) -> None:
        if self.mutating:
            return
        hooks = self._hooks(ctx)
        if not hooks:
            return
        results = await asyncio.gather(*(self._call(ctx, attrs, h) for h in hooks), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    # ---- one webhook ------------------------------------------------------------------------------

    async def _call(self, ctx: ServerContext, attrs: Attributes, hook: dict[str, Any]) -> bool:
        """Call ``hook`` when it applies; True when it changed ``attrs.obj``."""
        name = str(hook.get("name") or "")
        request_scope = ctx.scope(attrs.group, attrs.version, attrs.resource)
        namespaced = request_scope.info.namespaced if request_scope is not None else bool(attrs.namespace)
        version = matching.matching_version(hook, attrs, namespaced=namespaced,
                                            served_versions=_served_versions(ctx, attrs))
        if version is None or not matching.object_selector_matches(hook, attrs):
            return False
        if not matching.namespace_selector_matches(hook, attrs, namespaced=namespaced,
                                                   namespace_labels=_namespace_labels(ctx, attrs.namespace)):
            return False
        target = ctx.scope(attrs.group, version, attrs.resource)
        obj = await _convert(attrs.obj, request_scope, target)
        old = await _convert(attrs.old, request_scope, target)
        review = build_request(attrs, version=version, obj=obj, old=old)
        fail_open = hook.get("failurePolicy") == "Ignore"
        try:
            if not conditions.evaluate(hook.get("matchConditions") or [],
                                       {"object": obj, "oldObject": old, "request": review["request"]}):
                return False
        except conditions.ConditionError as err:
            if fail_open:
                log.warning("webhook match condition failed open webhook=%s error=%s", name, err)
                return False
            raise internal_error(f'failed calling webhook "{name}": {err}') from None
        if attrs.dry_run and hook.get("sideEffects") not in SAFE_SIDE_EFFECTS:
            raise errors.BadRequest(f'admission webhook "{name}" does not support dry run')
        timeout = hook.get("timeoutSeconds") or 10
        try:
            answer = await self.client.post(ctx, hook.get("clientConfig") or {}, review, timeout=float(timeout))
            response = parse_response(answer, review["request"]["uid"])
        except CallError as err:
            if fail_open:
                log.warning("webhook call failed open webhook=%s error=%s", name, err)
                phase = "mutating" if self.mutating else "validating"
                attrs.annotations[f"failed-open.{phase}.webhook.admission.k8s.io/{name}"] = str(err)
                return False
            raise internal_error(f'failed calling webhook "{name}": {err}') from None
        for key, value in (response.get("auditAnnotations") or {}).items():
            attrs.annotations[f"{name}/{key}"] = str(value)
        attrs.warnings.extend(str(w) for w in response.get("warnings") or [] if w)
        if response.get("allowed") is not True:
            raise denied(name, response.get("result") or response.get("status"))
        if not self.mutating or not response.get("patch") or attrs.obj is None:
            return False
        return await self._apply_patch(attrs, name, response, obj, request_scope, target)

    async def _apply_patch(self, attrs: Attributes, name: str, response: dict[str, Any], obj: dict[str, Any] | None,
                     request_scope: Scope | None, target: Scope | None) -> bool:
        if response.get("patchType") != "JSONPatch":
            raise internal_error(f'failed calling webhook "{name}": unsupported patch type '
                                 f'"{response.get("patchType")}"')
        try:
            patch = orjson.loads(base64.b64decode(str(response["patch"]), validate=True))
            patched = apply_json_patch(obj, patch)
        except errors.APIError as err:
            raise internal_error(f'webhook "{name}" returned a patch that cannot be applied: {err.message}') from None
        except (binascii.Error, orjson.JSONDecodeError, ValueError) as err:
            raise internal_error(f'webhook "{name}" returned a malformed patch: {err}') from None
        if not isinstance(patched, dict) or patched == obj:
            return False
        back = await _convert(patched, target, request_scope)
        assert attrs.obj is not None
        assert back is not None
        attrs.obj.clear()
        attrs.obj.update(back)
        log.debug("webhook mutated object webhook=%s resource=%s name=%s", name, attrs.resource, attrs.name)
        return True

    async def close(self) -> None:
        await self.client.close()


def internal_error(text: str) -> errors.InternalError:
    """Upstream ``apierrors.NewInternalError``."""
    return errors.InternalError(f"Internal error occurred: {text}", details={"causes": [{"message": text}]})


def _apply_defaults(ctx: ServerContext, attrs: Attributes) -> None:
    """Upstream decodes a request with its defaults before admission: mutating webhooks see a defaulted
    object. sampan's strategies default later (idempotently), so do it here first; junk the defaulting
    cannot handle is left to the strategy's own checks."""
    scope = ctx.scope(attrs.group, attrs.version, attrs.resource)
    apply = getattr(scope.strategy, "apply_defaults", None) if scope is not None else None
    if attrs.obj is None or attrs.subresource or apply is None:
        return
    try:
        apply(attrs.obj)
    except Exception:  # a malformed object: its validation reports it
        log.debug("defaults before webhooks skipped resource=%s name=%s", attrs.resource, attrs.name)


def _served_versions(ctx: ServerContext, attrs: Attributes) -> list[str]:
    return [v for (g, v, r) in list(ctx.scopes) if g == attrs.group and r == attrs.resource]


def _namespace_labels(ctx: ServerContext, namespace: str) -> dict[str, str] | None:
    if not namespace:
        return None
    scope = ctx.namespaces()
    co = scope.cache.objects.get(scope.key("", namespace))
    return meta.labels(co.obj) if co is not None else None


async def _convert(obj: dict[str, Any] | None, source: Scope | None, target: Scope | None) -> dict[str, Any] | None:
    """``obj`` in ``source``'s form as ``target`` serves it (a deep copy; same scope: a copy); a conversion
    webhook is awaited, never called blocking."""
    if obj is None:
        return None
    if source is None or target is None or source is target:
        return copy.deepcopy(obj)
    if source.view is None:
        stored = copy.deepcopy(obj)
    elif source.view.remote is not None:
        stored = await source.view.remote.to_storage_one(obj)
    else:
        stored = source.view.to_storage(obj)
    if target.view is None:
        return stored
    if target.view.remote is not None:
        return (await target.view.remote.to_view_many([stored]))[0]
    return target.view.to_view(stored)
