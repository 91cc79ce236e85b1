"""``NodeRestriction``: a kubelet (``system:node:<name>`` in ``system:nodes``) may change only what is its
own, as upstream's plugin:

* Nodes: create, update or delete only its own Node (``node "n1" is not allowed to modify node "n2"``),
  and never set labels under ``node-restriction.kubernetes.io/``;
* Pods: create only mirror pods (``kubernetes.io/config.mirror``) bound to itself that use no secrets,
  configmaps, PVCs or service account; update status, delete and evict only pods bound to itself;
* Leases in ``kube-node-lease``: only the one named after the node.
Other users pass untouched. Refusals are 403 ``<resource> "<name>" is forbidden: <why>``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sampan.api import errors
from sampan.api.podrefs import pod_references
from sampan.apiserver.admission.interface import Attributes, PluginBase

if TYPE_CHECKING:
    from sampan.apiserver.context import ServerContext

NODE_PREFIX, NODES_GROUP = "system:node:", "system:nodes"
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
RESTRICTED_LABEL_DOMAIN = "node-restriction.kubernetes.io/"


def _node_of(attrs: Attributes) -> str | None:
    user = attrs.user
    if NODES_GROUP not in user.groups or not user.username.startswith(NODE_PREFIX):
        return None
    return user.username[len(NODE_PREFIX):] or None


def _forbidden(attrs: Attributes, why: str) -> errors.Forbidden:
    resource = f"{attrs.resource}.{attrs.group}" if attrs.group else attrs.resource
    target = f'{resource} "{attrs.name}"' if attrs.name else resource
    details: dict[str, Any] = {"kind": attrs.resource}
    if attrs.name:
        details["name"] = attrs.name
    if attrs.group:
        details["group"] = attrs.group
    return errors.Forbidden(f"{target} is forbidden: {why}", details=details)


def _bound_node(pod: dict[str, Any] | None) -> str:
    spec = (pod or {}).get("spec")
    return str(spec.get("nodeName") or "") if isinstance(spec, dict) else ""


def _uses_api_objects(pod: dict[str, Any]) -> str:
    spec = pod.get("spec") or {}
    if spec.get("serviceAccountName") not in (None, "", "default"):  # sampan's pod defaults set "default"
        return "service account"
    kinds = {kind for kind, _, _ in pod_references(pod) if kind != "serviceaccount"}
    names = {"secret": "secrets", "configmap": "configmaps", "pvc": "persistentvolumeclaims"}
    return names[sorted(kinds)[0]] if kinds else ""


class NodeRestrictionPlugin(PluginBase):
    name = "NodeRestriction"

    def handles(self, attrs: Attributes) -> bool:
        return _node_of(attrs) is not None and (
            attrs.is_resource("", "nodes", attrs.subresource) or attrs.is_resource("", "pods", attrs.subresource)
            or attrs.is_resource("coordination.k8s.io", "leases"))

    async def validate(self, ctx: ServerContext, attrs: Attributes) -> None:
        node = _node_of(attrs)
        assert node is not None
        if attrs.resource == "nodes":
            self._node(attrs, node)
        elif attrs.resource == "pods":
            self._pod(attrs, node)
        elif attrs.namespace == "kube-node-lease" and attrs.name and attrs.name != node:
            raise _forbidden(attrs, "can only access node lease with the same name as the requesting node")

    def _node(self, attrs: Attributes, node: str) -> None:
        name = attrs.name or str(((attrs.obj or {}).get("metadata") or {}).get("name") or "")
        if name != node:
            raise _forbidden(attrs, f'node "{node}" is not allowed to modify node "{name}"')
        if attrs.obj is not None:
            labels = (attrs.obj.get("metadata") or {}).get("labels") or {}
            old_labels = ((attrs.old or {}).get("metadata") or {}).get("labels") or {}
            for key, value in labels.items():
                domain = key.split("/", 1)[0] + "/" if "/" in key else ""
                if (domain == RESTRICTED_LABEL_DOMAIN or domain.endswith("." + RESTRICTED_LABEL_DOMAIN)) and \
                        old_labels.get(key) != value:
                    raise _forbidden(attrs, f'is not allowed to modify labels: {key}')

    def _pod(self, attrs: Attributes, node: str) -> None:
        if attrs.operation == "CREATE" and not attrs.subresource:
            pod = attrs.obj or {}
            annotations = (pod.get("metadata") or {}).get("annotations") or {}
            if MIRROR_ANNOTATION not in annotations:
                raise _forbidden(attrs, f'pod does not have "{MIRROR_ANNOTATION}" annotation, node "{node}" can '
                                        "only create mirror pods")
            if _bound_node(pod) != node:
                raise _forbidden(attrs, f'node "{node}" can only create pods with spec.nodeName set to itself')
            uses = _uses_api_objects(pod)
            if uses:
                raise _forbidden(attrs, f"node \"{node}\" can not create pods that reference {uses}")
            return
        if attrs.operation == "CREATE" and attrs.subresource == "eviction":
            return  # the pod is not at hand here; the eviction handler deletes through this plugin again
        if attrs.operation == "DELETE":
            if _bound_node(attrs.old) != node:
                raise _forbidden(attrs, f'node "{node}" can only delete pods with spec.nodeName set to itself')
            return
        if attrs.operation == "UPDATE" and attrs.subresource == "status":
            if _bound_node(attrs.old) != node:
                raise _forbidden(attrs, f'node "{node}" can only update pod status for pods with spec.nodeName '
                                        "set to itself")
            return
        raise _forbidden(attrs, f'node "{node}" is not allowed to {attrs.operation.lower()} pods')
