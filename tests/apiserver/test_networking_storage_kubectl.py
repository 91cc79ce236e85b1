"""networking.k8s.io/v1 and storage.k8s.io/v1 with the real kubectl against a real ``sampan apiserver``
process: ``kubectl create ingress`` (JSON from 1.27, protobuf from 1.32 and 1.33), upstream's columns for
``get ing|ingressclass|netpol|sc|csidriver|csinode|csistoragecapacity|volumeattachment``, short names,
discovery, ``explain`` (OpenAPI) and validation errors as kubectl prints them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.apiserver.test_kubectl import Kubectl
from tests.apiserver.test_kubectl_matrix import versioned_kubectl
from tests.support.apiserver import APIServerHandle, run_apiserver_process

VERSIONS = ("1.27", "1.32", "1.33")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[APIServerHandle]:
    with run_apiserver_process(tmp_path_factory.mktemp("networking-storage")) as handle:
        yield handle


def kubectl_for(version: str, server: APIServerHandle, tmp_path: Path) -> Kubectl:
    binary = versioned_kubectl(version)
    if binary is None:
        pytest.skip(f"kubectl.{version} is not installed")
    return Kubectl(binary, server, tmp_path / "cache")


@pytest.fixture(params=VERSIONS)
def kubectl(request: pytest.FixtureRequest, server: APIServerHandle, tmp_path: Path) -> Kubectl:
    return kubectl_for(request.param, server, tmp_path)


@pytest.fixture
def kubectl_132(server: APIServerHandle, tmp_path: Path) -> Kubectl:
    return kubectl_for("1.32", server, tmp_path)


def namespace_for(kubectl: Kubectl) -> str:
    ns = "net-" + Path(kubectl.binary).name.replace("kubectl.", "").replace(".", "")
    if kubectl.run("get", "namespace", ns, check=False).returncode != 0:
        kubectl.out("create", "namespace", ns)
    return ns


def rows(text: str) -> list[list[str]]:
    """A kubectl table split on runs of 2+ spaces (cells such as ``80, 443`` hold single spaces)."""
    import re

    return [re.split(r"\s{2,}", line.strip()) for line in text.strip().splitlines()]


def test_create_ingress_generator(kubectl: Kubectl) -> None:
    ns = namespace_for(kubectl)
    out = kubectl.out("create", "ingress", "web", "-n", ns, "--rule=foo.com/bar=svc1:8080")
    assert out.strip() == "ingress.networking.k8s.io/web created"
    ing: dict[str, Any] = json.loads(kubectl.out("get", "ingress", "web", "-n", ns, "-o", "json"))
    assert ing["spec"]["rules"] == [{"host": "foo.com", "http": {"paths": [
        {"path": "/bar", "pathType": "Exact",
         "backend": {"service": {"name": "svc1", "port": {"number": 8080}}}}]}}]
    assert ing["status"] == {"loadBalancer": {}}
    assert ing["metadata"]["generation"] == 1
    table = rows(kubectl.out("get", "ing", "-n", ns))
    assert table[0] == ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"]
    assert table[1][:5] == ["web", "<none>", "foo.com", "80"] or table[1][:4] == ["web", "<none>", "foo.com", "80"]
    # a TLS ingress with a class and a default backend, through more generator flags
    out = kubectl.out("create", "ingress", "tls", "-n", ns, "--class=nginx", "--default-backend=svc2:http",
                      "--rule=a.example.com/*=svc3:80,tls=secret1", "--rule=*.b.example.com/=svc4:81")
    assert out.strip() == "ingress.networking.k8s.io/tls created"
    tls = json.loads(kubectl.out("get", "ingress", "tls", "-n", ns, "-o", "json"))
    assert tls["spec"]["ingressClassName"] == "nginx"
    assert tls["spec"]["defaultBackend"] == {"service": {"name": "svc2", "port": {"name": "http"}}}
    assert tls["spec"]["tls"] == [{"hosts": ["a.example.com"], "secretName": "secret1"}]
    line = rows(kubectl.out("get", "ingress", "tls", "-n", ns, "--no-headers"))[0]
    assert line[:5] == ["tls", "nginx", "a.example.com,*.b.example.com", "80, 443"] or \
        line[:3] == ["tls", "nginx", "a.example.com,*.b.example.com"]
    assert "80, 443" in line
    # server-side validation, with upstream's message
    bad = kubectl.run("create", "ingress", "bad", "-n", ns, "--rule=1.2.3.4/x=svc:80", check=False)
    assert bad.returncode != 0
    assert 'spec.rules[0].host: Invalid value: "1.2.3.4": must be a DNS name, not an IP address' in bad.stderr


def test_create_ingress_dry_run_server(kubectl_132: Kubectl) -> None:
    ns = namespace_for(kubectl_132)
    out = kubectl_132.out("create", "ingress", "dry", "-n", ns, "--rule=foo.com/=svc1:80", "--dry-run=server",
                          "-o", "json")
    assert json.loads(out)["metadata"]["uid"]
    assert kubectl_132.run("get", "ingress", "dry", "-n", ns, check=False).returncode != 0


INGRESS_CLASS = """
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: example}
spec:
  controller: example.com/ingress-controller
  parameters: {apiGroup: k8s.example.com, kind: IngressParameters, name: external-lb}
"""

NETPOL = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: test-network-policy}
spec:
  podSelector: {matchLabels: {role: db}}
  ingress:
  - from:
    - ipBlock: {cidr: 172.17.0.0/16, except: [172.17.1.0/24]}
    - namespaceSelector: {matchLabels: {project: myproject}}
      podSelector: {matchLabels: {role: frontend}}
    ports: [{port: 6379}]
  egress:
  - to: [{ipBlock: {cidr: 10.0.0.0/24}}]
    ports: [{protocol: TCP, port: 5978, endPort: 6000}]
"""


def test_networkpolicy_and_ingressclass_round_trip(kubectl: Kubectl) -> None:
    ns = namespace_for(kubectl)
    assert kubectl.out("apply", "-n", ns, "-f", "-", stdin=NETPOL).strip() == \
        "networkpolicy.networking.k8s.io/test-network-policy created"
    policy = json.loads(kubectl.out("get", "netpol", "test-network-policy", "-n", ns, "-o", "json"))
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert policy["spec"]["ingress"][0]["ports"] == [{"port": 6379, "protocol": "TCP"}]
    assert policy["spec"]["egress"][0]["ports"] == [{"port": 5978, "endPort": 6000, "protocol": "TCP"}]
    assert "status" not in policy
    table = rows(kubectl.out("get", "networkpolicies", "-n", ns))
    assert table[0] == ["NAME", "POD-SELECTOR", "AGE"]
    assert table[1][:2] == ["test-network-policy", "role=db"]
    # a re-apply (kubectl patches the atomic lists back) leaves the defaulted spec, and generation, as they were
    kubectl.out("apply", "-n", ns, "-f", "-", stdin=NETPOL)
    again = json.loads(kubectl.out("get", "netpol", "test-network-policy", "-n", ns, "-o", "json"))
    assert again["spec"] == policy["spec"]
    assert again["metadata"]["generation"] == 1
    out = kubectl.out("apply", "--server-side", "--force-conflicts", "-n", ns, "-f", "-", stdin=NETPOL)
    assert "serverside-applied" in out

    name = "example-" + ns
    kubectl.run("delete", "ingressclass", name, check=False)
    created = kubectl.out("create", "-f", "-", stdin=INGRESS_CLASS.replace("name: example", f"name: {name}"))
    assert created.strip() == f"ingressclass.networking.k8s.io/{name} created"
    cls = json.loads(kubectl.out("get", "ingressclass", name, "-o", "json"))
    assert cls["spec"]["parameters"]["scope"] == "Cluster"
    table = rows(kubectl.out("get", "ingressclass", name))
    assert table[0] == ["NAME", "CONTROLLER", "PARAMETERS", "AGE"]
    assert table[1][:3] == [name, "example.com/ingress-controller", "IngressParameters.k8s.example.com/external-lb"]

    bad = kubectl.run("apply", "-n", ns, "-f", "-", check=False,
                      stdin=NETPOL.replace("name: test-network-policy", "name: bad").replace("port: 6379",
                                                                                              "port: 70000"))
    assert bad.returncode != 0
    assert "spec.ingress[0].ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive" in bad.stderr


STORAGE = """
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: {sc}
  annotations: {{storageclass.kubernetes.io/is-default-class: "true"}}
provisioner: rancher.io/local-path
volumeBindingMode: WaitForFirstConsumer
allowVolumeExpansion: true
---
apiVersion: storage.k8s.io/v1
kind: CSIDriver
metadata: {{name: {driver}}}
spec:
  podInfoOnMount: true
  tokenRequests: [{{audience: vault}}]
---
apiVersion: storage.k8s.io/v1
kind: CSINode
metadata: {{name: {node}}}
spec:
  drivers: [{{name: {driver}, nodeID: node-1, topologyKeys: [topology.example.com/zone]}}]
---
apiVersion: storage.k8s.io/v1
kind: CSIStorageCapacity
metadata: {{name: cap1, namespace: default}}
storageClassName: {sc}
capacity: 10Gi
nodeTopology: {{matchLabels: {{topology.example.com/zone: a}}}}
---
apiVersion: storage.k8s.io/v1
kind: VolumeAttachment
metadata: {{name: {va}}}
spec:
  attacher: {driver}
  nodeName: {node}
  source: {{persistentVolumeName: pv-1}}
"""


def test_storage_kinds_round_trip_with_upstream_columns(kubectl: Kubectl) -> None:
    suffix = Path(kubectl.binary).name.replace("kubectl.", "").replace(".", "")
    names = {"sc": f"local-{suffix}", "driver": f"csi{suffix}.example.com", "node": f"node-{suffix}",
             "va": f"va-{suffix}"}
    manifest = STORAGE.format(**names).replace("name: cap1", f"name: cap-{suffix}")
    out = kubectl.out("create", "-f", "-", stdin=manifest).splitlines()
    assert out == [f"storageclass.storage.k8s.io/{names['sc']} created",
                   f"csidriver.storage.k8s.io/{names['driver']} created",
                   f"csinode.storage.k8s.io/{names['node']} created",
                   f"csistoragecapacity.storage.k8s.io/cap-{suffix} created",
                   f"volumeattachment.storage.k8s.io/{names['va']} created"]

    sc = rows(kubectl.out("get", "sc", names["sc"]))
    assert sc[0] == ["NAME", "PROVISIONER", "RECLAIMPOLICY", "VOLUMEBINDINGMODE", "ALLOWVOLUMEEXPANSION", "AGE"]
    assert sc[1][:5] == [f"{names['sc']} (default)", "rancher.io/local-path", "Delete", "WaitForFirstConsumer",
                         "true"]
    driver = json.loads(kubectl.out("get", "csidriver", names["driver"], "-o", "json"))
    assert driver["spec"] == {"attachRequired": True, "podInfoOnMount": True, "storageCapacity": False,
                              "fsGroupPolicy": "ReadWriteOnceWithFSType", "requiresRepublish": False,
                              "seLinuxMount": False, "volumeLifecycleModes": ["Persistent"],
                              "tokenRequests": [{"audience": "vault"}]}
    table = rows(kubectl.out("get", "csidrivers", names["driver"]))
    assert table[0] == ["NAME", "ATTACHREQUIRED", "PODINFOONMOUNT", "STORAGECAPACITY", "TOKENREQUESTS",
                        "REQUIRESREPUBLISH", "MODES", "AGE"]
    assert table[1][:7] == [names["driver"], "true", "true", "false", "vault", "false", "Persistent"]
    table = rows(kubectl.out("get", "csinode", names["node"]))
    assert table[0] == ["NAME", "DRIVERS", "AGE"]
    assert table[1][:2] == [names["node"], "1"]
    table = rows(kubectl.out("get", "csistoragecapacities", f"cap-{suffix}"))
    assert table == [["NAME", "STORAGECLASSNAME", "CAPACITY"], [f"cap-{suffix}", names["sc"], "10Gi"]]
    table = rows(kubectl.out("get", "volumeattachment", names["va"]))
    assert table[0] == ["NAME", "ATTACHER", "PV", "NODE", "ATTACHED", "AGE"]
    assert table[1][:5] == [names["va"], names["driver"], "pv-1", names["node"], "false"]

    # immutability, with upstream's messages
    patched = kubectl.run("patch", "sc", names["sc"], "-p", '{"provisioner":"other.io/x"}', check=False)
    assert patched.returncode != 0
    assert "provisioner: Forbidden: updates to provisioner are forbidden." in patched.stderr
    patched = kubectl.run("patch", "volumeattachment", names["va"], "-p", '{"spec":{"nodeName":"elsewhere"}}',
                          check=False)
    assert patched.returncode != 0
    assert "field is immutable" in patched.stderr
    # allowVolumeExpansion may change; the Table follows
    kubectl.out("patch", "sc", names["sc"], "-p", '{"allowVolumeExpansion":false}')
    assert rows(kubectl.out("get", "sc", names["sc"], "--no-headers"))[0][4] == "false"


def test_discovery_short_names_and_explain(kubectl_132: Kubectl) -> None:
    resources = kubectl_132.out("api-resources", "--api-group=storage.k8s.io", "-o", "name").split()
    assert resources == ["csidrivers.storage.k8s.io", "csinodes.storage.k8s.io",
                         "csistoragecapacities.storage.k8s.io", "storageclasses.storage.k8s.io",
                         "volumeattachments.storage.k8s.io"]
    resources = kubectl_132.out("api-resources", "--api-group=networking.k8s.io", "-o", "name").split()
    assert resources == ["ingressclasses.networking.k8s.io", "ingresses.networking.k8s.io",
                         "networkpolicies.networking.k8s.io"]
    wide = kubectl_132.out("api-resources", "--api-group=networking.k8s.io")
    assert any(line.split()[:2] == ["ingresses", "ing"] for line in wide.splitlines())
    assert any(line.split()[:2] == ["networkpolicies", "netpol"] for line in wide.splitlines())
    core = kubectl_132.out("api-resources", "--api-group=", "--namespaced=true")
    assert any(line.split()[:2] == ["replicationcontrollers", "rc"] for line in core.splitlines())
    assert any(line.split()[:2] == ["storageclasses", "sc"]
               for line in kubectl_132.out("api-resources", "--api-group=storage.k8s.io").splitlines())
    explained = kubectl_132.out("explain", "ingress.spec.rules.http.paths.pathType")
    assert "pathType" in explained
    assert "Exact" in explained
    assert "provisioner" in kubectl_132.out("explain", "storageclass")
