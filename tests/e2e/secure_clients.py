"""Manifests and scripts for the e2e checks of clients under TLS + RBAC (``test_cluster.py``): a pod using
the official ``kubernetes`` client's in-cluster config through the ``kubernetes`` Service, a kopf operator
running as a pod with its own ServiceAccount, and CSRs for ``kubectl certificate approve|deny``.

Process-runtime pods run host commands, so the pods run this interpreter (``sys.executable``, whose
environment has ``kubernetes`` and ``kopf``); the ``image`` is only recorded.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import yaml

from sampan._lib import csr, pki

IN_CLUSTER = """\
import os
from kubernetes import client, config
config.load_incluster_config()
print("HOST", client.Configuration.get_default_copy().host, os.environ["KUBERNETES_SERVICE_HOST"], flush=True)
v1 = client.CoreV1Api()
print("PODS", " ".join(sorted(p.metadata.name for p in v1.list_namespaced_pod("default").items)), flush=True)
try:
    v1.list_namespaced_secret("default")
    print("SECRETS 200", flush=True)
except client.exceptions.ApiException as e:
    print("SECRETS", e.status, flush=True)
"""

LISTER_RBAC = """\
apiVersion: v1
kind: ServiceAccount
metadata: {name: pod-lister}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pod-lister}
rules: [{apiGroups: [""], resources: [pods], verbs: [list]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: pod-lister}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-lister}
subjects: [{kind: ServiceAccount, name: pod-lister, namespace: default}]
"""

OPERATOR = """\
import kopf
import kubernetes

@kopf.on.create("sampan.test", "v1", "widgets")
def create_fn(spec, name, namespace, **_):
    kubernetes.config.load_incluster_config()
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{name}-made"},
          "data": {"size": str(spec.get("size", 0))}}
    kubernetes.client.CoreV1Api().create_namespaced_config_map(namespace, cm)
    return {"made": f"{name}-made"}
"""

# kopf's documented needs: the custom resources and events in its namespace, CRDs and namespaces cluster-wide
OPERATOR_RBAC = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.sampan.test}
spec:
  group: sampan.test
  names: {kind: Widget, plural: widgets, singular: widget}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: widget-operator}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: widget-operator}
rules:
- {apiGroups: [sampan.test], resources: [widgets], verbs: [get, list, watch, patch]}
- {apiGroups: [""], resources: [configmaps], verbs: [create]}
- {apiGroups: ["", events.k8s.io], resources: [events], verbs: [create]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: widget-operator}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: widget-operator}
subjects: [{kind: ServiceAccount, name: widget-operator, namespace: default}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: widget-operator}
rules:
- {apiGroups: [apiextensions.k8s.io], resources: [customresourcedefinitions], verbs: [list, watch]}
- {apiGroups: [""], resources: [namespaces], verbs: [list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: widget-operator}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: widget-operator}
subjects: [{kind: ServiceAccount, name: widget-operator, namespace: default}]
"""

WIDGET = "apiVersion: sampan.test/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {size: 3}\n"


def python_pod(name: str, account: str, argv: list[str], *, restart: str = "Never") -> str:
    """A pod running this interpreter with ``argv`` as ``account``."""
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                       "spec": {"serviceAccountName": account, "restartPolicy": restart,
                                "terminationGracePeriodSeconds": 1,
                                "containers": [{"name": "c", "image": "python", "command": [sys.executable, *argv]}]}})


def operator_pod(script_dir: Path) -> str:
    path = script_dir / "widget_operator.py"
    path.write_text(OPERATOR)
    return python_pod("widget-operator", "widget-operator",
                      ["-m", "kopf", "run", "--standalone", "--namespace", "default", str(path)], restart="Always")


def client_csr(name: str, user: str) -> str:
    """A kube-apiserver-client CSR for ``user`` (group ``dev``), one day."""
    request = csr.make_request(pki.new_key(), common_name=user, organizations=["dev"])
    return yaml.safe_dump({"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
                           "metadata": {"name": name},
                           "spec": {"request": base64.b64encode(request).decode(), "expirationSeconds": 86400,
                                    "signerName": "kubernetes.io/kube-apiserver-client",
                                    "usages": ["client auth"]}})
