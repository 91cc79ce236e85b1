"""The Node authorizer: what a kubelet (user ``system:node:<name>`` in group ``system:nodes``) may do.

As upstream's ``node`` authorizer:
* secrets, configmaps, persistentvolumeclaims and persistentvolumes may be read (get, or a list/watch
  naming one object) only when a pod bound to the node references them — directly (volumes,
  env/envFrom, image pull secrets, projected sources) or, for a PV, through a PVC such a pod mounts;
* ``serviceaccounts/token`` may be created only for the service account of a pod bound to the node;
* a Lease in ``kube-node-lease`` and a CSINode only under the node's own name;
* everything else by :data:`~sampan.apiserver.authz.bootstrap.NODE_RULES` (upstream's NodeRules); that
  a kubelet writes only its own Node and its own pods' status is NodeRestriction admission's job.
Other users get no opinion. Refusals carry upstream's reasons (``no relationship found between node
'n1' and this object``).

The graph (:class:`NodeGraph`) is kept from the pods and PVCs in the watch cache by
:class:`~sampan.apiserver.authz.cachefollow.CacheFollower` — no store read per request.
"""

from __future__ import annotations

import collections
from typing import Any

from sampan.api.podrefs import Ref, pod_references
from sampan.apiserver.authz.attributes import Attributes
from sampan.apiserver.authz.cachefollow import CacheFollower
from sampan.apiserver.authz.decision import ALLOW, NO_OPINION, Decision
from sampan.apiserver.authz.rules import compile_rules
from sampan.apiserver.context import ServerContext

NODE_PREFIX = "system:node:"
NODES_GROUP = "system:nodes"
LEASE_NAMESPACE = "kube-node-lease"


def node_name(attrs: Attributes) -> str | None:
    """The node a kubelet user stands for; None for any other user."""
    user = attrs.user
    if NODES_GROUP not in user.groups or not user.username.startswith(NODE_PREFIX):
        return None
    name = user.username[len(NODE_PREFIX):]
    return name or None


class NodeGraph:
    """Which nodes may reach which objects. Invariant: ``_nodes_of[ref][node]`` counts the pods bound
    to ``node`` that reference ``ref``; ``_pods[key]`` remembers a pod's node and refs for removal."""

    def __init__(self) -> None:
        self._pods: dict[str, tuple[str, frozenset[Ref]]] = {}
        self._nodes_of: dict[Ref, collections.Counter[str]] = {}

    def clear(self) -> None:
        self._pods.clear()
        self._nodes_of.clear()

    def upsert(self, key: str, obj: dict[str, Any]) -> None:
        self.remove(key)
        spec = obj.get("spec")
        node = spec.get("nodeName") if isinstance(spec, dict) else None
        if not node:
            return
        refs = frozenset(pod_references(obj))
        self._pods[key] = (str(node), refs)
        for ref in refs:
            self._nodes_of.setdefault(ref, collections.Counter())[str(node)] += 1

    def remove(self, key: str) -> None:
        old = self._pods.pop(key, None)
        if old is None:
            return
        node, refs = old
        for ref in refs:
            counter = self._nodes_of.get(ref)
            if counter is None:
                continue
            counter[node] -= 1
            if counter[node] <= 0:
                del counter[node]
            if not counter:
                del self._nodes_of[ref]

    def reaches(self, node: str, ref: Ref) -> bool:
        counter = self._nodes_of.get(ref)
        return counter is not None and counter.get(node, 0) > 0


class ClaimVolumes:
    """PV name -> the PVCs bound to it (``spec.volumeName``), from the PVC cache."""

    def __init__(self) -> None:
        self._volume_of: dict[str, tuple[str, str, str]] = {}
        self._claims_of: dict[str, set[tuple[str, str]]] = {}

    def clear(self) -> None:
        self._volume_of.clear()
        self._claims_of.clear()

    def upsert(self, key: str, obj: dict[str, Any]) -> None:
        self.remove(key)
        md, spec = obj.get("metadata") or {}, obj.get("spec") or {}
        volume = spec.get("volumeName") if isinstance(spec, dict) else None
        if not volume or not isinstance(md, dict):
            return
        claim = (str(md.get("namespace") or ""), str(md.get("name") or ""))
        self._volume_of[key] = (str(volume), *claim)
        self._claims_of.setdefault(str(volume), set()).add(claim)

    def remove(self, key: str) -> None:
        old = self._volume_of.pop(key, None)
        if old is None:
            return
        claims = self._claims_of.get(old[0])
        if claims is not None:
            claims.discard((old[1], old[2]))
            if not claims:
                del self._claims_of[old[0]]

    def claims(self, volume: str) -> set[tuple[str, str]]:
        return self._claims_of.get(volume, set())


_READ_KINDS = {"secrets": "secret", "configmaps": "configmap", "persistentvolumeclaims": "pvc"}


class NodeAuthorizer:
    name = "Node"

    def __init__(self, ctx: ServerContext, rules: list[dict[str, Any]]) -> None:
        pods = ctx.scope("", "v1", "pods")
        claims = ctx.scope("", "v1", "persistentvolumeclaims")
        assert pods is not None
        assert claims is not None
        self.graph = NodeGraph()
        self.volumes = ClaimVolumes()
        self._followers = (CacheFollower(pods.cache, self.graph), CacheFollower(claims.cache, self.volumes))
        self._rules = compile_rules(rules)

    def _sync(self) -> None:
        for f in self._followers:
            f.sync()

    def authorize(self, attrs: Attributes) -> Decision:
        node = node_name(attrs)
        if node is None:
            return Decision(NO_OPINION)
        if attrs.is_resource_request and attrs.api_group == "":
            if attrs.resource in _READ_KINDS or attrs.resource == "persistentvolumes":
                return self._read(node, attrs)
            if attrs.resource == "serviceaccounts" and attrs.subresource == "token":
                return self._create_token(node, attrs)
        if attrs.is_resource_request and attrs.api_group == "coordination.k8s.io" and attrs.resource == "leases":
            return self._own_object(node, attrs, namespace=LEASE_NAMESPACE, what="node lease")
        if attrs.is_resource_request and attrs.api_group == "storage.k8s.io" and attrs.resource == "csinodes":
            return self._own_object(node, attrs, namespace="", what="CSINode")
        if any(r.allows(attrs) for r in self._rules):
            return Decision(ALLOW)
        return Decision(NO_OPINION)

    def _read(self, node: str, attrs: Attributes) -> Decision:
        if attrs.verb not in ("get", "list", "watch"):
            return Decision(NO_OPINION, "can only read resources of this type")
        if attrs.subresource:
            return Decision(NO_OPINION, "cannot read subresource")
        namespaced = attrs.resource != "persistentvolumes"
        if namespaced and not attrs.namespace:
            return Decision(NO_OPINION, "can only read namespaced object of this type")
        if not attrs.name:
            return Decision(NO_OPINION, "No Object name found")
        self._sync()
        if namespaced:
            ok = self.graph.reaches(node, (_READ_KINDS[attrs.resource], attrs.namespace, attrs.name))
        else:
            ok = any(self.graph.reaches(node, ("pvc", ns, claim)) for ns, claim in self.volumes.claims(attrs.name))
        if ok:
            return Decision(ALLOW)
        return Decision(NO_OPINION, f"no relationship found between node '{node}' and this object")

    def _create_token(self, node: str, attrs: Attributes) -> Decision:
        if attrs.verb != "create" or not attrs.name:
            return Decision(NO_OPINION, "can only create tokens for individual service accounts")
        self._sync()
        if self.graph.reaches(node, ("serviceaccount", attrs.namespace, attrs.name)):
            return Decision(ALLOW)
        return Decision(NO_OPINION, f"no relationship found between node '{node}' and this object")

    def _own_object(self, node: str, attrs: Attributes, *, namespace: str, what: str) -> Decision:
        if attrs.verb not in ("get", "create", "update", "patch", "delete"):
            return Decision(NO_OPINION, f"can only get, create, update, patch, or delete a {what}")
        if attrs.namespace != namespace or (attrs.name and attrs.name != node):
            return Decision(NO_OPINION, f"can only access {what} with the same name as the requesting node")
        return Decision(ALLOW)
