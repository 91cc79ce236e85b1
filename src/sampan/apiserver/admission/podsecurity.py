"""``PodSecurity``: the Pod Security Standards enforced per namespace through its labels
``pod-security.kubernetes.io/<mode>`` (``enforce``, ``audit``, ``warn``; levels ``privileged``,
``baseline``, ``restricted``) and ``<mode>-version`` (``latest`` or ``v1.x``, default ``latest``), as
upstream's validating plugin. The checks are :mod:`sampan.api.podsecurity`.

* pods (create, or an update that changes the spec): ``enforce`` refuses with 403 ``pods "x" is
  forbidden: violates PodSecurity "restricted:latest": <reason (detail)>, ...``; ``warn`` adds the
  ``Warning`` ``would violate PodSecurity "baseline:latest": ...``; ``audit`` adds the audit annotation
  ``pod-security.kubernetes.io/audit-violations``.
* pod templates of workload resources (deployments, replicasets, statefulsets, daemonsets, jobs,
  cronjobs, replicationcontrollers, podtemplates): never refused; the ``enforce`` and ``warn`` levels
  give warnings and ``audit`` an annotation, as upstream.

Namespaces come from the watch cache; an unknown level label is ignored (privileged). Exemptions are
not implemented. Subresources other than ``ephemeralcontainers`` are not checked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sampan.api import podsecurity as pss
from sampan.apiserver.admission.interface import Attributes, PluginBase
from sampan.apiserver.admission.quotabatch import forbidden

if TYPE_CHECKING:
    from sampan.apiserver.context import ServerContext

PREFIX = "pod-security.kubernetes.io/"
MODES = ("enforce", "audit", "warn")
TEMPLATES: dict[tuple[str, str], tuple[str, ...]] = {
    ("apps", "deployments"): ("spec", "template"),
    ("apps", "replicasets"): ("spec", "template"),
    ("apps", "statefulsets"): ("spec", "template"),
    ("apps", "daemonsets"): ("spec", "template"),
    ("batch", "jobs"): ("spec", "template"),
    ("batch", "cronjobs"): ("spec", "jobTemplate", "spec", "template"),
    ("", "replicationcontrollers"): ("spec", "template"),
    ("", "podtemplates"): ("template",),
}


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def policies(labels: dict[str, str]) -> dict[str, tuple[str, str]]:
    """mode -> (level, version) for every mode the namespace labels set to a known level."""
    out: dict[str, tuple[str, str]] = {}
    for mode in MODES:
        level = labels.get(PREFIX + mode)
        if level in pss.LEVELS and level != pss.PRIVILEGED:
            out[mode] = (level, labels.get(f"{PREFIX}{mode}-version") or "latest")
    return out


class PodSecurityPlugin(PluginBase):
    name = "PodSecurity"

    def handles(self, attrs: Attributes) -> bool:
        if attrs.operation not in ("CREATE", "UPDATE") or attrs.obj is None or not attrs.namespace:
            return False
        if attrs.is_resource("", "pods"):
            return True
        if attrs.is_resource("", "pods", "ephemeralcontainers"):
            return True
        return attrs.subresource == "" and (attrs.group, attrs.resource) in TEMPLATES

    async def validate(self, ctx: ServerContext, attrs: Attributes) -> None:
        assert attrs.obj is not None
        modes = policies(_namespace_labels(ctx, attrs.namespace))
        if not modes:
            return
        if attrs.resource == "pods":
            if attrs.operation == "UPDATE" and attrs.old is not None and not attrs.subresource and \
                    _d(attrs.old.get("spec")) == _d(attrs.obj.get("spec")):
                return
            self._pod(attrs, modes)
        else:
            self._template(attrs, modes)

    def _pod(self, attrs: Attributes, modes: dict[str, tuple[str, str]]) -> None:
        assert attrs.obj is not None
        meta, spec = _d(attrs.obj.get("metadata")), _d(attrs.obj.get("spec"))
        results = {mode: pss.evaluate(level, meta, spec) for mode, (level, _) in modes.items()}
        if results.get("enforce"):
            level, version = modes["enforce"]
            raise forbidden(attrs, f'violates PodSecurity "{level}:{version}": {pss.describe(results["enforce"])}')
        if results.get("audit"):
            level, version = modes["audit"]
            attrs.annotations[PREFIX + "audit-violations"] = (
                f'would violate PodSecurity "{level}:{version}": {pss.describe(results["audit"])}')
        if results.get("warn"):
            level, version = modes["warn"]
            attrs.warnings.append(f'would violate PodSecurity "{level}:{version}": {pss.describe(results["warn"])}')

    def _template(self, attrs: Attributes, modes: dict[str, tuple[str, str]]) -> None:
        assert attrs.obj is not None
        template: Any = attrs.obj
        for key in TEMPLATES[(attrs.group, attrs.resource)]:
            template = _d(template).get(key)
        template = _d(template)
        if attrs.operation == "UPDATE" and attrs.old is not None:
            old: Any = attrs.old
            for key in TEMPLATES[(attrs.group, attrs.resource)]:
                old = _d(old).get(key)
            if _d(_d(old).get("spec")) == _d(template.get("spec")):
                return
        meta, spec = _d(template.get("metadata")), _d(template.get("spec"))
        seen: set[str] = set()
        for mode in ("enforce", "warn"):
            if mode not in modes:
                continue
            level, version = modes[mode]
            violations = pss.evaluate(level, meta, spec)
            text = f'would violate PodSecurity "{level}:{version}": {pss.describe(violations)}'
            if violations and text not in seen:
                seen.add(text)
                attrs.warnings.append(text)
        if "audit" in modes:
            level, version = modes["audit"]
            violations = pss.evaluate(level, meta, spec)
            if violations:
                attrs.annotations[PREFIX + "audit-violations"] = (
                    f'would violate PodSecurity "{level}:{version}": {pss.describe(violations)}')


def _namespace_labels(ctx: ServerContext, namespace: str) -> dict[str, str]:
    """The namespace's labels from the watch cache (none when it is not cached yet)."""
    scope = ctx.namespaces()
    cached = scope.cache.objects.get(scope.key("", namespace))
    labels = _d(cached.obj.get("metadata")).get("labels") if cached is not None else None
    return dict(labels) if isinstance(labels, dict) else {}
