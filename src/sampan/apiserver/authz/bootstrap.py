"""The bootstrap RBAC policy: upstream's default ClusterRoles, Roles and bindings, plus sampan's own.

Every object carries ``kubernetes.io/bootstrapping: rbac-defaults`` and the annotation
``rbac.authorization.kubernetes.io/autoupdate: "true"``; :mod:`.reconcile` applies it at API server start.

Roles follow upstream's ``bootstrappolicy`` (trimmed to the resources sampan serves). Where sampan
differs:
* ``system:kube-controller-manager``: sampan's controller-manager runs every controller under one
  identity (no ``--use-service-account-credentials``), so its role is the union of upstream's
  per-controller roles: read, update, patch and delete anything (garbage collector, namespace and
  quota controllers need that upstream too), create only the kinds its controllers create, and
  ``escalate``/``bind`` on ClusterRoles for the aggregation controller;
* ``system:sampan:dns`` for sampan's DNS server (user ``system:sampan:dns``, and the ServiceAccount
  ``kube-system/kube-dns`` as upstream's ``system:kube-dns``): services, endpointslices and pods read;
* ``system:sampan:metrics-server`` for sampan's metrics-server (user ``system:metrics-server`` and SA
  ``kube-system/metrics-server``): nodes and pods read, ``nodes/metrics``, and — since it registers
  itself — services, endpoints and APIServices get/create/update; ``system:aggregated-metrics-reader``
  (metrics.k8s.io reads) aggregates into view/edit/admin, as upstream's manifests do;
* ``system:kubelet-api-admin`` (upstream's: the kubelet API) is bound to the API server's kubelet client
  (user ``kube-apiserver-kubelet-client``); metrics-server may read ``extension-apiserver-authentication``
  (``metrics-server-auth-reader``, as its upstream manifests);
* ``kubeadm:cluster-admins`` (group) is bound to ``cluster-admin``, as kubeadm does for its admin
  certificate.
"""

from __future__ import annotations

from typing import Any

AUTOUPDATE = "rbac.authorization.kubernetes.io/autoupdate"
BOOTSTRAP_LABELS = {"kubernetes.io/bootstrapping": "rbac-defaults"}
AGGREGATE_TO = "rbac.authorization.k8s.io/aggregate-to-"

READ = ["get", "list", "watch"]
READ_WRITE = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]
WRITE = ["create", "delete", "deletecollection", "patch", "update"]


def rule(verbs: list[str], groups: list[str] | None = None, resources: list[str] | None = None, *,
         names: list[str] | None = None, urls: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"verbs": list(verbs)}
    if urls is not None:
        out["nonResourceURLs"] = list(urls)
        return out
    out["apiGroups"] = list(groups or [""])
    out["resources"] = list(resources or [])
    if names:
        out["resourceNames"] = list(names)
    return out


def _role(kind: str, name: str, rules: list[dict[str, Any]], *, namespace: str = "",
          labels: dict[str, str] | None = None, aggregate: list[str] | None = None) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name, "labels": {**BOOTSTRAP_LABELS, **(labels or {})},
                          "annotations": {AUTOUPDATE: "true"}}
    if namespace:
        md["namespace"] = namespace
    obj: dict[str, Any] = {"kind": kind, "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": md,
                           "rules": rules}
    if aggregate is not None:
        obj["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {f"{AGGREGATE_TO}{a}": "true"}}
                                                           for a in aggregate]}
    return obj


def _subject(spec: str) -> dict[str, str]:
    """``User:name``, ``Group:name`` or ``ServiceAccount:ns/name``."""
    kind, _, name = spec.partition(":")
    if kind == "ServiceAccount":
        ns, _, sa = name.partition("/")
        return {"kind": kind, "name": sa, "namespace": ns}
    return {"kind": kind, "apiGroup": "rbac.authorization.k8s.io", "name": name}


def _binding(kind: str, name: str, role_kind: str, role: str, subjects: list[str], *,
             namespace: str = "") -> dict[str, Any]:
    md: dict[str, Any] = {"name": name, "labels": dict(BOOTSTRAP_LABELS), "annotations": {AUTOUPDATE: "true"}}
    if namespace:
        md["namespace"] = namespace
    return {"kind": kind, "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": md,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
            "subjects": [_subject(s) for s in subjects]}


NODE_RULES: list[dict[str, Any]] = [
    rule(["create", "get", "list", "watch", "update", "patch", "delete"], [""], ["nodes"]),
    rule(["patch", "update"], [""], ["nodes/status"]),
    rule(["create", "update", "patch"], ["", "events.k8s.io"], ["events"]),
    rule(["get", "list", "watch", "create", "delete"], [""], ["pods"]),
    rule(["update", "patch"], [""], ["pods/status"]),
    rule(["create"], [""], ["pods/eviction"]),
    rule(READ, [""], ["services"]),
    rule(["get"], [""], ["secrets", "configmaps", "persistentvolumeclaims", "persistentvolumes"]),
    rule(["create"], [""], ["serviceaccounts/token"]),
    rule(["create"], ["authentication.k8s.io"], ["tokenreviews"]),
    rule(["create"], ["authorization.k8s.io"], ["subjectaccessreviews", "localsubjectaccessreviews"]),
    rule(["create", "get", "list", "watch"], ["certificates.k8s.io"], ["certificatesigningrequests"]),
    rule(["get", "create", "update", "patch", "delete"], ["coordination.k8s.io"], ["leases"]),
    rule(["get"], ["storage.k8s.io"], ["volumeattachments"]),
    rule(READ, ["storage.k8s.io"], ["csidrivers"]),
    rule(["get", "create", "update", "patch", "delete"], ["storage.k8s.io"], ["csinodes"]),
    rule(READ, ["node.k8s.io"], ["runtimeclasses"]),
]
"""What a kubelet may do beyond the graph-checked reads (upstream's ``NodeRules``)."""

_DISCOVERY_URLS = ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*",
                   "/readyz", "/version", "/version/"]
_PUBLIC_URLS = ["/healthz", "/livez", "/readyz", "/version", "/version/"]


def _aggregated_roles() -> list[dict[str, Any]]:
    view = [
        rule(READ, [""], ["pods", "replicationcontrollers", "replicationcontrollers/scale", "persistentvolumeclaims",
                          "persistentvolumeclaims/status", "configmaps", "endpoints", "services", "services/status",
                          "pods/log", "pods/status", "replicationcontrollers/status", "serviceaccounts",
                          "bindings", "events", "limitranges", "resourcequotas", "resourcequotas/status",
                          "namespaces/status", "namespaces"]),
        rule(READ, ["discovery.k8s.io"], ["endpointslices"]),
        rule(READ, ["apps"], ["controllerrevisions", "statefulsets", "statefulsets/scale", "statefulsets/status",
                              "daemonsets", "daemonsets/status", "deployments", "deployments/scale",
                              "deployments/status", "replicasets", "replicasets/scale", "replicasets/status"]),
        rule(READ, ["autoscaling"], ["horizontalpodautoscalers", "horizontalpodautoscalers/status"]),
        rule(READ, ["batch"], ["cronjobs", "cronjobs/status", "jobs", "jobs/status"]),
        rule(READ, ["policy"], ["poddisruptionbudgets", "poddisruptionbudgets/status"]),
        rule(READ, ["networking.k8s.io"], ["ingresses", "ingresses/status", "networkpolicies"]),
    ]
    edit = [
        rule(["create", "delete", "deletecollection", "patch", "update", "get", "list", "watch"], [""],
             ["pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets", "services/proxy"]),
        rule(["impersonate"], [""], ["serviceaccounts"]),
        rule(["create", "delete", "deletecollection", "patch", "update"], [""],
             ["pods", "replicationcontrollers", "replicationcontrollers/scale", "persistentvolumeclaims",
              "configmaps", "endpoints", "services", "serviceaccounts"]),
        rule(["create"], [""], ["serviceaccounts/token", "pods/eviction"]),
        rule(["create", "delete", "deletecollection", "patch", "update"], ["apps"],
             ["statefulsets", "statefulsets/scale", "daemonsets", "deployments", "deployments/scale",
              "deployments/rollback", "replicasets", "replicasets/scale"]),
        rule(["create", "delete", "deletecollection", "patch", "update"], ["autoscaling"],
             ["horizontalpodautoscalers"]),
        rule(["create", "delete", "deletecollection", "patch", "update"], ["batch"], ["cronjobs", "jobs"]),
        rule(["create", "delete", "deletecollection", "patch", "update"], ["policy"], ["poddisruptionbudgets"]),
        rule(["create", "delete", "deletecollection", "patch", "update"], ["networking.k8s.io"],
             ["ingresses", "networkpolicies"]),
        rule(["create", "delete", "deletecollection", "patch", "update"], ["coordination.k8s.io"], ["leases"]),
    ]
    admin = [
        rule(["create"], ["authorization.k8s.io"], ["localsubjectaccessreviews"]),
        rule(["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
             ["rbac.authorization.k8s.io"], ["rolebindings", "roles"]),
    ]
    return [
        _role("ClusterRole", "admin", [], aggregate=["admin"]),
        _role("ClusterRole", "edit", [], labels={f"{AGGREGATE_TO}admin": "true"}, aggregate=["edit"]),
        _role("ClusterRole", "view", [], labels={f"{AGGREGATE_TO}edit": "true"}, aggregate=["view"]),
        _role("ClusterRole", "system:aggregate-to-admin", admin, labels={f"{AGGREGATE_TO}admin": "true"}),
        _role("ClusterRole", "system:aggregate-to-edit", edit, labels={f"{AGGREGATE_TO}edit": "true"}),
        _role("ClusterRole", "system:aggregate-to-view", view, labels={f"{AGGREGATE_TO}view": "true"}),
    ]


def _component_roles() -> list[dict[str, Any]]:
    events = rule(["create", "patch", "update"], ["", "events.k8s.io"], ["events"])
    reviews = [rule(["create"], ["authentication.k8s.io"], ["tokenreviews"]),
               rule(["create"], ["authorization.k8s.io"], ["subjectaccessreviews"])]
    scheduler = [
        events,
        rule(["create"], ["coordination.k8s.io"], ["leases"]),
        rule(["get", "update"], ["coordination.k8s.io"], ["leases"], names=["kube-scheduler"]),
        rule(READ, [""], ["nodes", "namespaces", "services", "replicationcontrollers", "persistentvolumeclaims",
                          "persistentvolumes"]),
        rule(["get", "list", "watch", "delete"], [""], ["pods"]),
        rule(["create"], [""], ["bindings", "pods/binding"]),
        rule(["patch", "update"], [""], ["pods/status"]),
        rule(READ, ["apps"], ["replicasets", "statefulsets"]),
        rule(READ, ["policy"], ["poddisruptionbudgets"]),
        rule(READ, ["storage.k8s.io"], ["storageclasses", "csinodes", "csidrivers", "csistoragecapacities"]),
        rule(READ, ["scheduling.k8s.io"], ["priorityclasses"]),
        *reviews,
    ]
    controller_manager = [
        rule(["get", "list", "watch", "update", "patch", "delete", "deletecollection"], ["*"], ["*"]),
        rule(["create"], [""], ["pods", "events", "endpoints", "serviceaccounts", "serviceaccounts/token",
                                "secrets", "configmaps", "persistentvolumeclaims", "persistentvolumes",
                                "services", "namespaces", "pods/eviction", "pods/binding", "bindings"]),
        rule(["create"], ["apps"], ["replicasets", "controllerrevisions", "deployments", "statefulsets"]),
        rule(["create"], ["batch"], ["jobs"]),
        rule(["create"], ["discovery.k8s.io"], ["endpointslices"]),
        rule(["create"], ["events.k8s.io"], ["events"]),
        rule(["create"], ["coordination.k8s.io"], ["leases"]),
        rule(["create"], ["policy"], ["poddisruptionbudgets"]),
        rule(["create"], ["storage.k8s.io"], ["volumeattachments", "storageclasses"]),
        rule(["escalate", "bind"], ["rbac.authorization.k8s.io"], ["clusterroles"]),
        rule(["approve", "sign"], ["certificates.k8s.io"], ["signers"]),
        *reviews,
    ]
    proxier = [
        rule(["list", "watch"], [""], ["services", "endpoints"]),
        rule(READ, [""], ["nodes"]),
        rule(["list", "watch"], ["discovery.k8s.io"], ["endpointslices"]),
        events,
    ]
    node = [r for r in NODE_RULES]
    volume_scheduler = [
        rule(["get", "list", "watch", "patch", "update"], [""], ["persistentvolumes", "persistentvolumeclaims"]),
        rule(READ, ["storage.k8s.io"], ["storageclasses"]),
    ]
    metrics_server = [
        rule(["get"], [""], ["nodes/metrics"]),
        rule(READ, [""], ["nodes", "pods"]),
        rule(["get", "create", "update"], [""], ["services", "endpoints"]),  # sampan's self-registration
        rule(["get", "create", "update"], ["apiregistration.k8s.io"], ["apiservices"]),
        *reviews,
    ]
    dns = [rule(["list", "watch"], [""], ["services", "endpoints", "pods"]),
           rule(["list", "watch"], ["discovery.k8s.io"], ["endpointslices"]),
           # --publish-service: sampan's DNS keeps its own Service and EndpointSlice (no controller does)
           rule(["get", "create"], [""], ["services"]),
           rule(["get", "create", "update", "delete"], ["discovery.k8s.io"], ["endpointslices"])]
    return [
        _role("ClusterRole", "system:kube-scheduler", scheduler),
        _role("ClusterRole", "system:volume-scheduler", volume_scheduler),
        _role("ClusterRole", "system:kube-controller-manager", controller_manager),
        _role("ClusterRole", "system:node-proxier", proxier),
        _role("ClusterRole", "system:node", node),
        _role("ClusterRole", "system:kube-dns", dns),
        _role("ClusterRole", "system:sampan:metrics-server", metrics_server),
        # the deleter of the sampan.io/local-path provisioner, which runs in every kubelet (it must reach the
        # node's disk): released volumes belong to no pod, so the Node authorizer cannot relate them to a
        # node; upstream's local-path provisioner (rancher) has its own ClusterRole for the same reads
        _role("ClusterRole", "system:sampan:local-path-provisioner",
              [rule(["get", "list", "watch", "delete"], [""], ["persistentvolumes"])]),
        _role("ClusterRole", "system:aggregated-metrics-reader",
              [rule(READ, ["metrics.k8s.io"], ["pods", "nodes"])],
              labels={f"{AGGREGATE_TO}{r}": "true" for r in ("view", "edit", "admin")}),
        _role("ClusterRole", "system:sampan:dns", dns),
        _role("ClusterRole", "system:monitoring", [rule(["get"], urls=["/healthz", "/healthz/*", "/livez",
                                                                        "/livez/*", "/metrics", "/metrics/slis",
                                                                        "/readyz", "/readyz/*"])]),
        _role("ClusterRole", "system:auth-delegator", reviews),
        _role("ClusterRole", "system:kubelet-api-admin", [
            rule(["get", "list", "watch", "proxy"], [""], ["nodes"]),
            rule(["*"], [""], ["nodes/proxy", "nodes/metrics", "nodes/log", "nodes/spec", "nodes/stats"])]),
        _role("ClusterRole", "system:node-bootstrapper",
              [rule(["create", "get", "list", "watch"], ["certificates.k8s.io"], ["certificatesigningrequests"])]),
        *_certificate_roles(),
        _role("ClusterRole", "system:service-account-issuer-discovery",
              [rule(["get"], urls=["/.well-known/openid-configuration", "/.well-known/openid-configuration/",
                                   "/openid/v1/jwks", "/openid/v1/jwks/"])]),
    ]


def _certificate_roles() -> list[dict[str, Any]]:
    """Upstream's CSR roles, unbound by default (kubeadm binds the node-client ones to bootstrap tokens and
    nodes; ``sampan token create`` does the same)."""
    prefix = "system:certificates.k8s.io:"
    csrs = "certificatesigningrequests"
    roles = [_role("ClusterRole", f"{prefix}{csrs}:{sub}",
                   [rule(["create"], ["certificates.k8s.io"], [f"{csrs}/{sub}"])])
             for sub in ("nodeclient", "selfnodeclient")]
    for signer in ("kube-apiserver-client", "kube-apiserver-client-kubelet", "kubelet-serving", "legacy-unknown"):
        approve = rule(["approve"], ["certificates.k8s.io"], ["signers"], names=[f"kubernetes.io/{signer}"])
        roles.append(_role("ClusterRole", f"{prefix}{signer}-approver", [approve]))
    return roles


def cluster_roles() -> list[dict[str, Any]]:
    return [
        _role("ClusterRole", "cluster-admin", [rule(["*"], ["*"], ["*"]), rule(["*"], urls=["*"])]),
        _role("ClusterRole", "system:discovery", [rule(["get"], urls=_DISCOVERY_URLS)]),
        _role("ClusterRole", "system:public-info-viewer", [rule(["get"], urls=_PUBLIC_URLS)]),
        _role("ClusterRole", "system:basic-user", [
            rule(["create"], ["authorization.k8s.io"], ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]),
            rule(["create"], ["authentication.k8s.io"], ["selfsubjectreviews"])]),
        *_aggregated_roles(),
        *_component_roles(),
    ]


def cluster_role_bindings() -> list[dict[str, Any]]:
    crb = "ClusterRoleBinding"
    return [
        _binding(crb, "cluster-admin", "ClusterRole", "cluster-admin", ["Group:system:masters"]),
        _binding(crb, "kubeadm:cluster-admins", "ClusterRole", "cluster-admin", ["Group:kubeadm:cluster-admins"]),
        _binding(crb, "system:discovery", "ClusterRole", "system:discovery", ["Group:system:authenticated"]),
        _binding(crb, "system:basic-user", "ClusterRole", "system:basic-user", ["Group:system:authenticated"]),
        _binding(crb, "system:public-info-viewer", "ClusterRole", "system:public-info-viewer",
                 ["Group:system:authenticated", "Group:system:unauthenticated"]),
        _binding(crb, "system:monitoring", "ClusterRole", "system:monitoring", ["Group:system:monitoring"]),
        _binding(crb, "system:kube-scheduler", "ClusterRole", "system:kube-scheduler", ["User:system:kube-scheduler"]),
        _binding(crb, "system:volume-scheduler", "ClusterRole", "system:volume-scheduler",
                 ["User:system:kube-scheduler"]),
        _binding(crb, "system:kube-controller-manager", "ClusterRole", "system:kube-controller-manager",
                 ["User:system:kube-controller-manager"]),
        _binding(crb, "system:node-proxier", "ClusterRole", "system:node-proxier", ["User:system:kube-proxy"]),
        _binding(crb, "system:kube-dns", "ClusterRole", "system:kube-dns", ["ServiceAccount:kube-system/kube-dns"]),
        _binding(crb, "system:sampan:dns", "ClusterRole", "system:sampan:dns", ["User:system:sampan:dns"]),
        _binding(crb, "system:sampan:metrics-server", "ClusterRole", "system:sampan:metrics-server",
                 ["User:system:metrics-server", "ServiceAccount:kube-system/metrics-server"]),
        _binding(crb, "system:node", "ClusterRole", "system:node", []),
        _binding(crb, "system:sampan:local-path-provisioner", "ClusterRole", "system:sampan:local-path-provisioner",
                 ["Group:system:nodes"]),
        _binding(crb, "system:sampan:kube-apiserver-kubelet-client", "ClusterRole", "system:kubelet-api-admin",
                 ["User:kube-apiserver-kubelet-client"]),
        _binding(crb, "system:service-account-issuer-discovery", "ClusterRole",
                 "system:service-account-issuer-discovery", ["Group:system:serviceaccounts"]),
    ]


def namespaced_roles() -> list[dict[str, Any]]:
    lock = ["get", "update"]
    return [
        _role("Role", "extension-apiserver-authentication-reader",
              [rule(READ, [""], ["configmaps"], names=["extension-apiserver-authentication"])],
              namespace="kube-system"),
        _role("Role", "system::leader-locking-kube-controller-manager",
              [rule(["watch"], [""], ["configmaps"]),
               rule(lock, [""], ["configmaps"], names=["kube-controller-manager"])], namespace="kube-system"),
        _role("Role", "system::leader-locking-kube-scheduler",
              [rule(["watch"], [""], ["configmaps"]),
               rule(lock, [""], ["configmaps"], names=["kube-scheduler"])], namespace="kube-system"),
    ]


def role_bindings() -> list[dict[str, Any]]:
    rb = "RoleBinding"
    return [
        _binding(rb, "system::extension-apiserver-authentication-reader", "Role",
                 "extension-apiserver-authentication-reader",
                 ["User:system:kube-controller-manager", "User:system:kube-scheduler"], namespace="kube-system"),
        _binding(rb, "metrics-server-auth-reader", "Role", "extension-apiserver-authentication-reader",
                 ["User:system:metrics-server", "ServiceAccount:kube-system/metrics-server"], namespace="kube-system"),
        _binding(rb, "system::leader-locking-kube-controller-manager", "Role",
                 "system::leader-locking-kube-controller-manager",
                 ["User:system:kube-controller-manager", "ServiceAccount:kube-system/kube-controller-manager"],
                 namespace="kube-system"),
        _binding(rb, "system::leader-locking-kube-scheduler", "Role", "system::leader-locking-kube-scheduler",
                 ["User:system:kube-scheduler", "ServiceAccount:kube-system/kube-scheduler"], namespace="kube-system"),
    ]
