"""Strategies of replicationcontrollers, networking.k8s.io/v1 (ingresses, ingressclasses, networkpolicies)
and storage.k8s.io/v1 (storageclasses, csidrivers, csinodes, csistoragecapacities, volumeattachments):
upstream's defaults, causes and table cells; then the subresources and errors over HTTP."""

from __future__ import annotations

import copy
from typing import Any

from sampan.apiserver.registry.csidrivers import CSIDriverStrategy
from sampan.apiserver.registry.csinodes import CSINodeStrategy
from sampan.apiserver.registry.csistoragecapacities import CSIStorageCapacityStrategy
from sampan.apiserver.registry.ingressclasses import IngressClassStrategy
from sampan.apiserver.registry.ingresses import IngressStrategy
from sampan.apiserver.registry.networkpolicies import NetworkPolicyStrategy
from sampan.apiserver.registry.replicationcontrollers import ReplicationControllerStrategy
from sampan.apiserver.registry.storageclasses import StorageClassStrategy
from sampan.apiserver.registry.volumeattachments import VolumeAttachmentStrategy
from tests.apiserver.conftest import API

NOW = 1_700_000_000.0
MD = {"name": "x", "namespace": "ns", "creationTimestamp": "2023-11-14T22:00:00Z"}
CLUSTER_MD = {"name": "x", "creationTimestamp": "2023-11-14T22:00:00Z"}


def messages(causes: list[Any]) -> list[str]:
    return [f"{c.field}: {c.message}" for c in causes]


def created(strategy: Any, obj: dict[str, Any]) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    strategy.prepare_for_create(obj)
    return obj


# ---- replication controllers ------------------------------------------------------------------------

def rc(**spec: Any) -> dict[str, Any]:
    return {"metadata": dict(MD), "spec": {"template": {"metadata": {"labels": {"app": "web"}},
                                                        "spec": {"containers": [{"name": "c", "image": "i"}]}},
                                           **spec}}


def test_rc_defaults_from_template_and_validation() -> None:
    s = ReplicationControllerStrategy()
    obj = created(s, rc())
    assert obj["spec"]["selector"] == {"app": "web"}
    assert obj["metadata"]["labels"] == {"app": "web"}
    assert obj["spec"]["replicas"] == 1
    assert obj["status"] == {"replicas": 0}
    assert obj["spec"]["template"]["spec"]["restartPolicy"] == "Always"
    assert s.validate(obj) == []
    bad = created(s, rc(selector={"app": "other"}, replicas=-1, minReadySeconds=-2))
    bad["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    bad["spec"]["template"]["spec"]["activeDeadlineSeconds"] = 5
    assert messages(s.validate(bad)) == [
        "spec.minReadySeconds: Invalid value: -2: must be greater than or equal to 0",
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
        'spec.template.metadata.labels: Invalid value: map[string]string{"app":"web"}: selector does not match '
        "labels in spec.template",
        'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"',
        "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in ReplicationController is "
        "not Supported",
    ]
    no_template = {"metadata": dict(MD), "spec": {"selector": {}}}
    assert messages(s.validate(created(s, no_template))) == ["spec.selector: Required value",
                                                              "spec.template: Required value"]


def test_rc_selector_may_change_and_table() -> None:
    s = ReplicationControllerStrategy()
    old = created(s, rc())
    new = copy.deepcopy(old)
    new["spec"]["selector"] = {"app": "web"}
    new["spec"]["template"]["metadata"]["labels"] = {"app": "web", "v": "2"}
    assert s.validate_update(new, old) == []
    old["status"] = {"replicas": 2, "readyReplicas": 1}
    assert s.table_row(old, NOW) == ["x", 1, 2, 1, "13m", "c", "i", "app=web"]
    assert [c.name for c in s.table_columns()] == ["Name", "Desired", "Current", "Ready", "Age", "Containers",
                                                   "Images", "Selector"]
    assert s.table_columns()[1].description.startswith("Replicas is the number of desired replicas.")
    assert s.field_values(old)["status.replicas"] == "2"
    assert s.validate(old) == []
    old["status"] = {"replicas": 1, "readyReplicas": 2, "availableReplicas": 3, "observedGeneration": -1}
    assert messages(s.validate(old)) == [
        "status.observedGeneration: Invalid value: -1: must be greater than or equal to 0",
        "status.readyReplicas: Invalid value: 2: cannot be greater than status.replicas",
        "status.availableReplicas: Invalid value: 3: cannot be greater than status.replicas",
        "status.availableReplicas: Invalid value: 3: cannot be greater than readyReplicas",
    ]


# ---- ingresses --------------------------------------------------------------------------------------

def ingress(spec: dict[str, Any], **md: Any) -> dict[str, Any]:
    return {"metadata": {**MD, **md}, "spec": spec}


def path(p: str, path_type: str | None = "Prefix", backend: Any = None) -> dict[str, Any]:
    item: dict[str, Any] = {"path": p, "backend": backend or {"service": {"name": "svc", "port": {"number": 80}}}}
    if path_type is not None:
        item["pathType"] = path_type
    return item


def test_ingress_validation() -> None:
    s = IngressStrategy()
    assert messages(s.validate(ingress({}))) == [
        "spec: Invalid value: []networking.IngressRule(nil): either `defaultBackend` or `rules` must be specified"]
    spec = {"rules": [
        {"host": "10.0.0.1", "http": {"paths": [path("a", "Exact"), path("/x//y"), path("/z", None)]}},
        {"host": "*.ok.example.com", "http": {"paths": [path("/", "Regex")]}},
        {"host": "a.*.bad", "http": {"paths": []}},
    ], "tls": [{"hosts": ["Bad_Host"], "secretName": "Bad"}], "ingressClassName": "Nginx",
        "defaultBackend": {"service": {"name": "1svc", "port": {"name": "http", "number": 80}}}}
    msgs = messages(s.validate(ingress(spec)))
    assert 'spec.rules[0].host: Invalid value: "10.0.0.1": must be a DNS name, not an IP address' in msgs
    assert 'spec.rules[0].http.paths[0].path: Invalid value: "a": must be an absolute path' in msgs
    assert "spec.rules[0].http.paths[1].path: Invalid value: \"/x//y\": must not contain '//'" in msgs
    assert "spec.rules[0].http.paths[2].pathType: Required value: pathType must be specified" in msgs
    assert ('spec.rules[1].http.paths[0].pathType: Unsupported value: "Regex": supported values: "Exact", '
            '"ImplementationSpecific", "Prefix"') in msgs
    wildcard = 'spec.rules[2].host: Invalid value: "a.*.bad": a wildcard DNS-1123 subdomain'
    assert any(m.startswith(wildcard) for m in msgs)
    assert "spec.rules[2].http.paths: Required value" in msgs
    assert any(m.startswith('spec.tls[0].hosts[0]: Invalid value: "Bad_Host": a lowercase RFC 1123') for m in msgs)
    assert any(m.startswith('spec.tls[0].secretName: Invalid value: "Bad"') for m in msgs)
    assert any(m.startswith('spec.ingressClassName: Invalid value: "Nginx"') for m in msgs)
    assert any(m.startswith('spec.defaultBackend.service.name: Invalid value: "1svc": a DNS-1035 label') for m in msgs)
    assert 'spec.defaultBackend: Invalid value: "": cannot set both port name & port number' in msgs
    both = {"defaultBackend": {"service": {"name": "s", "port": {"number": 1}},
                               "resource": {"kind": "Bucket", "name": "b"}}}
    assert messages(s.validate(ingress(both))) == [
        'spec.defaultBackend: Invalid value: "": cannot set both resource and service backends']
    no_port = {"defaultBackend": {"service": {"name": "s"}}}
    assert messages(s.validate(ingress(no_port))) == [
        "spec.defaultBackend: Required value: port name or number is required"]
    resource = {"defaultBackend": {"resource": {"apiGroup": "k8s.example.com", "kind": "StorageBucket"}}}
    assert messages(s.validate(ingress(resource))) == ["spec.defaultBackend.resource.name: Required value"]


def test_ingress_class_annotation_checked_on_create_only() -> None:
    s = IngressStrategy()
    obj = created(s, ingress({"ingressClassName": "a", "defaultBackend": {"service": {"name": "s",
                                                                                     "port": {"number": 80}}}},
                             annotations={"kubernetes.io/ingress.class": "b"}))
    assert messages(s.validate(obj)) == [
        'annotations.kubernetes.io/ingress.class: Invalid value: "b": must match `ingressClassName` when both are '
        "specified"]
    assert s.validate_update(obj, copy.deepcopy(obj)) == []


def test_ingress_status_and_table() -> None:
    s = IngressStrategy()
    rules = [{"host": f"h{i}.example.com"} for i in range(5)]
    obj = created(s, ingress({"rules": rules, "tls": [{"hosts": ["h0.example.com"]}]}))
    assert obj["status"] == {"loadBalancer": {}}
    obj["status"] = {"loadBalancer": {"ingress": [{"ip": "192.0.2.9"}, {"hostname": "lb.example.com"},
                                                  {"ip": "192.0.2.1"}]}}
    assert s.table_row(obj, NOW) == ["x", "<none>", "h0.example.com,h1.example.com,h2.example.com + 2 more...",
                                     "192.0.2.1,192.0.2.9,lb.example.com", "80, 443", "13m"]
    obj["status"] = {"loadBalancer": {"ingress": [{"ip": "nope"}, {"hostname": "10.1.1.1"}]}}
    assert messages(s.validate(obj)) == [
        'status.loadBalancer.ingress[0].ip: Invalid value: "nope": must be a valid IP address, (e.g. 10.9.8.7 or '
        "2001:db8::ffff)",
        'status.loadBalancer.ingress[1].hostname: Invalid value: "10.1.1.1": must be a DNS name, not an IP address']
    assert s.table_row(created(s, ingress({"defaultBackend": {}})), NOW)[2] == "*"


def test_ingress_class() -> None:
    s = IngressClassStrategy()
    obj = created(s, {"metadata": dict(CLUSTER_MD), "spec": {"controller": "example.com/ctl",
                                                             "parameters": {"kind": "P", "name": "n"}}})
    assert obj["spec"]["parameters"]["scope"] == "Cluster"
    assert s.validate(obj) == []
    assert s.table_row(obj, NOW) == ["x", "example.com/ctl", "P/n", "13m"]
    bad = {"metadata": dict(CLUSTER_MD), "spec": {"controller": "ctl", "parameters": {
        "kind": "P", "name": "n", "scope": "Namespace"}}}
    assert messages(s.validate(bad)) == [
        'spec.controller: Invalid value: "ctl": must be a domain-prefixed path (such as "acme.io/foo")',
        "spec.parameters.namespace: Required value: `parameters.scope` is set to 'Namespace'"]
    assert messages(s.validate({"metadata": dict(CLUSTER_MD), "spec": {}})) == ["spec.controller: Required value"]
    changed = copy.deepcopy(obj)
    changed["spec"]["controller"] = "example.com/other"
    assert messages(s.validate_update(changed, obj)) == [
        'spec.controller: Invalid value: "example.com/other": field is immutable']


# ---- network policies ---------------------------------------------------------------------------------

def test_network_policy_defaults_and_validation() -> None:
    s = NetworkPolicyStrategy()
    obj = created(s, {"metadata": dict(MD), "spec": {"podSelector": {}, "ingress": [{"ports": [{"port": 80}]}]}})
    assert obj["spec"]["policyTypes"] == ["Ingress"]
    assert obj["spec"]["ingress"][0]["ports"] == [{"port": 80, "protocol": "TCP"}]
    assert s.validate(obj) == []
    assert s.table_row(obj, NOW) == ["x", "<none>", "13m"]
    spec = {"podSelector": {"matchExpressions": [{"key": "a", "operator": "In"}]},
            "ingress": [{"ports": [{"port": "http", "endPort": 90}, {"port": 90, "endPort": 80, "protocol": "ICMP"}],
                         "from": [{}, {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["11.0.0.0/16"]},
                                       "podSelector": {}}]}],
            "egress": [{"to": [{"ipBlock": {"cidr": "nope"}}]}],
            "policyTypes": ["Ingress", "Sideways"]}
    assert messages(s.validate(created(s, {"metadata": dict(MD), "spec": spec}))) == [
        "spec.podSelector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or "
        "'NotIn'",
        'spec.ingress[0].ports[0].endPort: Invalid value: 90: may not be specified when `port` is non-numeric',
        'spec.ingress[0].ports[1].protocol: Unsupported value: "ICMP": supported values: "TCP", "UDP", "SCTP"',
        "spec.ingress[0].ports[1].endPort: Invalid value: 80: must be greater than or equal to `port`",
        "spec.ingress[0].from[0]: Required value: must specify a peer",
        'spec.ingress[0].from[1].ipBlock.except[0]: Invalid value: "11.0.0.0/16": must be a strict subset of `cidr`',
        "spec.ingress[0].from[1]: Forbidden: may not specify both ipBlock and another peer",
        'spec.egress[0].to[0].ipBlock.cidr: Invalid value: "nope": must be a valid CIDR value, (e.g. 10.9.8.0/24 or '
        "2001:db8::/64)",
        'spec.policyTypes[1]: Unsupported value: "Sideways": supported values: "Ingress", "Egress"',
    ]


# ---- storage ------------------------------------------------------------------------------------------

def test_storage_class() -> None:
    s = StorageClassStrategy()
    obj = created(s, {"metadata": dict(CLUSTER_MD), "provisioner": "example.com/nfs"})
    assert (obj["reclaimPolicy"], obj["volumeBindingMode"]) == ("Delete", "Immediate")
    assert s.validate(obj) == []
    assert s.table_row(obj, NOW) == ["x", "example.com/nfs", "Delete", "Immediate", False, "13m"]
    obj["metadata"]["annotations"] = {"storageclass.kubernetes.io/is-default-class": "true"}
    assert s.table_row(obj, NOW)[0] == "x (default)"
    bad = {"metadata": dict(CLUSTER_MD), "reclaimPolicy": "Recycle", "volumeBindingMode": "Later",
           "parameters": {"": "v"},
           "allowedTopologies": [{"matchLabelExpressions": [{"key": "zone", "values": []},
                                                            {"key": "zone", "values": ["a", "a"]}]}]}
    assert messages(s.validate(bad)) == [
        "provisioner: Required value",
        'parameters: Invalid value: "": field can not be empty.',
        'reclaimPolicy: Unsupported value: "Recycle": supported values: "Delete", "Retain"',
        'volumeBindingMode: Unsupported value: "Later": supported values: "Immediate", "WaitForFirstConsumer"',
        "allowedTopologies[0].matchLabelExpressions[0].values: Required value",
        'allowedTopologies[0].matchLabelExpressions[1].values[1]: Duplicate value: "a"',
        'allowedTopologies[0].matchLabelExpressions[1].key: Duplicate value: "zone"',
    ]
    new = copy.deepcopy(obj)
    new.update(provisioner="example.com/other", parameters={"a": "b"}, reclaimPolicy="Retain",
               volumeBindingMode="WaitForFirstConsumer", allowVolumeExpansion=True)
    assert messages(s.validate_update(new, obj)) == [
        "parameters: Forbidden: updates to parameters are forbidden.",
        "provisioner: Forbidden: updates to provisioner are forbidden.",
        "reclaimPolicy: Forbidden: updates to reclaimPolicy are forbidden.",
        'volumeBindingMode: Invalid value: "WaitForFirstConsumer": field is immutable',
    ]


def test_csi_driver() -> None:
    s = CSIDriverStrategy()
    obj = created(s, {"metadata": dict(CLUSTER_MD), "spec": {}})
    assert obj["spec"] == {"attachRequired": True, "podInfoOnMount": False, "storageCapacity": False,
                           "fsGroupPolicy": "ReadWriteOnceWithFSType", "requiresRepublish": False,
                           "seLinuxMount": False, "volumeLifecycleModes": ["Persistent"]}
    assert s.validate(obj) == []
    assert s.table_row(obj, NOW) == ["x", True, False, False, "<unset>", False, "Persistent", "13m"]
    obj["spec"].update(fsGroupPolicy="Sometimes", volumeLifecycleModes=["Forever"],
                       tokenRequests=[{"audience": "a", "expirationSeconds": 60}, {"audience": "a"}])
    assert messages(s.validate(obj)) == [
        'spec.fsGroupPolicy: Unsupported value: "Sometimes": supported values: "File", "None", '
        '"ReadWriteOnceWithFSType"',
        "spec.tokenRequests[0].expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes",
        'spec.tokenRequests[1].audience: Duplicate value: "a"',
        'spec.volumeLifecycleModes: Unsupported value: "Forever": supported values: "Persistent", "Ephemeral"',
    ]
    old = created(s, {"metadata": dict(CLUSTER_MD), "spec": {}})
    new = copy.deepcopy(old)
    new["spec"]["attachRequired"] = False
    new["spec"]["podInfoOnMount"] = True
    assert messages(s.validate_update(new, old)) == ["spec.attachedRequired: Invalid value: false: field is immutable"]


def test_csi_node() -> None:
    s = CSINodeStrategy()
    driver = {"name": "csi.example.com", "nodeID": "n1", "topologyKeys": ["topology.example.com/zone"]}
    obj = created(s, {"metadata": dict(CLUSTER_MD), "spec": {"drivers": [driver]}})
    assert s.validate(obj) == []
    assert s.table_row(obj, NOW) == ["x", 1, "13m"]
    bad = {"metadata": dict(CLUSTER_MD), "spec": {"drivers": [
        {"name": "Bad_Name", "nodeID": "n" * 193, "allocatable": {"count": -1}},
        {"name": "Bad_Name", "nodeID": "", "topologyKeys": ["k", "k"]}]}}
    msgs = messages(s.validate(bad))
    assert any(m.startswith('spec.drivers[0].name: Invalid value: "Bad_Name": a lowercase RFC 1123') for m in msgs)
    assert f'spec.drivers[0].nodeID: Invalid value: "{"n" * 193}": must be 192 characters or less' in msgs
    assert "spec.drivers[0].allocatable.count: Invalid value: -1: must be greater than or equal to 0" in msgs
    assert 'spec.drivers[1].name: Duplicate value: "Bad_Name"' in msgs
    assert "spec.drivers[1].nodeID: Required value" in msgs
    assert 'spec.drivers[1]: Duplicate value: "k"' in msgs
    changed = copy.deepcopy(obj)
    changed["spec"]["drivers"][0]["nodeID"] = "n2"
    changed["spec"]["drivers"].append({"name": "other.example.com", "nodeID": "n1"})
    [cause] = s.validate_update(changed, obj)
    assert cause.field == "spec.drivers"
    assert cause.message.endswith("field is immutable")


def test_csi_storage_capacity() -> None:
    s = CSIStorageCapacityStrategy()
    obj = created(s, {"metadata": dict(MD), "storageClassName": "fast", "capacity": "1024Mi"})
    assert s.validate(obj) == []
    assert s.table_row(obj, NOW) == ["x", "fast", "1Gi"]
    assert s.table_row({**obj, "capacity": None}, NOW) == ["x", "fast", "<unset>"]
    bad = {"metadata": dict(MD), "capacity": "-1", "nodeTopology": {"matchLabels": {"a/b/c": "x"}}}
    msgs = messages(s.validate(bad))
    assert msgs[0].startswith('nodeTopology.matchLabels: Invalid value: "a/b/c": a qualified name')
    assert msgs[1].startswith('storageClassName: Invalid value: "": a lowercase RFC 1123 subdomain')
    assert msgs[2] == 'capacity: Invalid value: "-1": must be greater than or equal to 0'
    changed = {**obj, "storageClassName": "slow", "capacity": "2Gi"}
    assert messages(s.validate_update(changed, obj)) == ['storageClassName: Invalid value: "slow": field is immutable']


def test_volume_attachment() -> None:
    s = VolumeAttachmentStrategy()
    spec = {"attacher": "csi.example.com", "nodeName": "n1", "source": {"persistentVolumeName": "pv1"}}
    obj = created(s, {"metadata": dict(CLUSTER_MD), "spec": spec, "status": {"attached": True}})
    assert obj["status"] == {"attached": False}
    assert s.validate(obj) == []
    assert s.table_row(obj, NOW) == ["x", "csi.example.com", "pv1", "n1", False, "13m"]
    bad = {"metadata": dict(CLUSTER_MD), "spec": {"attacher": "csi.example.com", "nodeName": "n1",
                                                  "source": {"persistentVolumeName": "pv", "inlineVolumeSpec": {}}},
           "status": {"attachError": {"message": "m" * 1025}}}
    assert messages(s.validate(bad)) == [
        "spec.source: Forbidden: must specify exactly one of inlineVolumeSpec and persistentVolumeName",
        "status.attachError.message: Too long: may not be more than 262144 bytes",
    ]
    missing = messages(s.validate({"metadata": dict(CLUSTER_MD), "spec": {"nodeName": "n"}}))
    assert missing[:2] == ["spec.attacher: Required value", "spec.source: Required value: must specify exactly "
                           "one of inlineVolumeSpec and persistentVolumeName"]
    moved = copy.deepcopy(obj)
    moved["spec"]["nodeName"] = "n2"
    [cause] = s.validate_update(moved, obj)
    assert (cause.field, cause.message.endswith("field is immutable")) == ("spec", True)
    attached = copy.deepcopy(obj)
    attached["status"] = {"attached": True}
    assert s.validate_update(attached, obj) == []


# ---- over HTTP ----------------------------------------------------------------------------------------

ING = "/apis/networking.k8s.io/v1/namespaces/default/ingresses"
VA = "/apis/storage.k8s.io/v1/volumeattachments"


async def test_ingress_status_subresource(api: API) -> None:
    body = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "web"},
            "spec": {"defaultBackend": {"service": {"name": "svc", "port": {"number": 80}}}},
            "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}}
    r = await api.post(ING, body)
    assert r.status == 201, r.body
    assert r.body["status"] == {"loadBalancer": {}}
    ing = r.body
    ing["status"] = {"loadBalancer": {"ingress": [{"ip": "192.0.2.7", "ports": [{"port": 80, "protocol": "TCP"}]}]}}
    r = await api.put(f"{ING}/web/status", ing)
    assert r.status == 200, r.body
    assert r.body["status"]["loadBalancer"]["ingress"][0]["ip"] == "192.0.2.7"
    assert r.body["metadata"]["generation"] == 1
    # a main-resource write keeps the status; a spec change bumps the generation
    main = r.body
    main["status"] = {}
    main["spec"]["defaultBackend"]["service"]["port"]["number"] = 81
    r = await api.put(f"{ING}/web", main)
    assert r.status == 200, r.body
    assert r.body["status"]["loadBalancer"]["ingress"][0]["ip"] == "192.0.2.7"
    assert r.body["metadata"]["generation"] == 2
    bad = r.body
    bad["status"] = {"loadBalancer": {"ingress": [{"ip": "999.1.1.1"}]}}
    r = await api.put(f"{ING}/web/status", bad)
    assert r.status == 422, r.body
    assert r.body["details"]["causes"][0]["field"] == "status.loadBalancer.ingress[0].ip"
    table = await api.request("GET", ING, headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    assert table.status == 200
    assert table.body["rows"][0]["cells"][:5] == ["web", "<none>", "*", "192.0.2.7", "80"]


async def test_volume_attachment_status_and_invalid_create(api: API) -> None:
    body = {"apiVersion": "storage.k8s.io/v1", "kind": "VolumeAttachment", "metadata": {"name": "va"},
            "spec": {"attacher": "csi.example.com", "nodeName": "n1", "source": {"persistentVolumeName": "pv"}}}
    r = await api.post(VA, body)
    assert r.status == 201, r.body
    va = r.body
    va["status"] = {"attached": True, "attachmentMetadata": {"devicePath": "/dev/sdb"}}
    r = await api.put(f"{VA}/va/status", va)
    assert r.status == 200, r.body
    assert r.body["status"]["attached"] is True
    r = await api.post(VA, {**body, "metadata": {"name": "bad"}, "spec": {"nodeName": "n1"}})
    assert r.status == 422, r.body
    assert r.body["reason"] == "Invalid"
    assert r.body["message"].startswith('VolumeAttachment.storage.k8s.io "bad" is invalid: [spec.attacher: '
                                        "Required value")
    r = await api.get("/apis/storage.k8s.io/v1/namespaces/default/volumeattachments")
    assert r.status == 404
