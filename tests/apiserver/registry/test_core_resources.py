"""Namespaces, configmaps, secrets, serviceaccounts, endpoints, nodes and services."""

from __future__ import annotations

import base64
import copy
from typing import Any

from sampan.apiserver.registry.configmaps import ConfigMapStrategy
from sampan.apiserver.registry.endpoints import EndpointsStrategy
from sampan.apiserver.registry.namespaces import NamespaceStrategy
from sampan.apiserver.registry.nodes import NodeStrategy
from sampan.apiserver.registry.secrets import SecretStrategy
from sampan.apiserver.registry.serviceaccounts import ServiceAccountStrategy
from sampan.apiserver.registry.services import ServiceStrategy

NOW = 1_704_067_200.0 + 5
CREATED = "2024-01-01T00:00:00Z"


def obj(name: str = "x", namespace: str | None = "default", **fields: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "creationTimestamp": CREATED}
    if namespace:
        meta["namespace"] = namespace
    return {"metadata": meta, **fields}


def described(strategy: Any, o: dict[str, Any]) -> list[str]:
    return [c.describe() for c in strategy.validate(o)]


def test_namespace() -> None:
    s = NamespaceStrategy()
    ns = obj("team-a", None, status={"phase": "Terminating"}, spec={"finalizers": ["example.com/f"]})
    s.prepare_for_create(ns)
    assert ns["status"] == {"phase": "Active"}
    assert ns["spec"]["finalizers"] == ["example.com/f", "kubernetes"]
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "team-a"}
    assert described(s, ns) == []
    assert s.table_row(ns, NOW) == ["team-a", "Active", "5s"]
    assert s.field_values(ns) == {"metadata.name": "team-a", "status.phase": "Active"}

    update = copy.deepcopy(ns)
    update["spec"]["finalizers"] = []
    update["status"] = {"phase": "Terminating"}
    s.prepare_for_update(update, ns)
    assert update["spec"]["finalizers"] == ["example.com/f", "kubernetes"]
    assert update["status"] == {"phase": "Active"}

    bad = obj("Bad_Name", None, spec={"finalizers": ["nope"]})
    s.prepare_for_create(bad)
    got = described(s, bad)
    assert got[0].startswith('metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 label')
    assert ('spec.finalizers[0]: Invalid value: "nope": name is neither a standard finalizer name nor is it fully '
            "qualified") in got
    in_ns = obj("a", "default")
    s.prepare_for_create(in_ns)
    assert "metadata.namespace: Forbidden: not allowed on this type" in described(s, in_ns)


def test_configmap() -> None:
    s = ConfigMapStrategy()
    cm = obj(data={"a": "1", "b.txt": "2"}, binaryData={"c": "AA=="})
    s.prepare_for_create(cm)
    assert described(s, cm) == []
    assert s.table_row(cm, NOW) == ["x", 3, "5s"]
    bad = obj(data={"bad key": "1", "dup": "x"}, binaryData={"dup": "AA=="})
    got = described(s, bad)
    assert any(g.startswith('data[bad key]: Invalid value: "bad key": a valid config key must consist') for g in got)
    assert any("duplicate of key present in data" in g for g in got)
    big = obj(data={"k": "x" * (1024 * 1024 + 1)})
    assert [c.type for c in s.validate(big)] == ["FieldValueTooLong"]

    frozen = obj(data={"a": "1"}, immutable=True)
    changed = copy.deepcopy(frozen)
    changed["data"]["a"] = "2"
    changed["immutable"] = False
    got = [c.describe() for c in s.validate_update(changed, frozen)]
    assert "immutable: Forbidden: field is immutable when `immutable` is set" in got
    assert "data: Forbidden: field is immutable when `immutable` is set" in got
    assert not s.spec_changed(changed, frozen)


def test_secret() -> None:
    s = SecretStrategy()
    sec = obj(stringData={"password": "hunter2"}, data={"user": base64.b64encode(b"me").decode()})
    s.prepare_for_create(sec)
    assert sec["type"] == "Opaque"
    assert "stringData" not in sec
    assert base64.b64decode(sec["data"]["password"]) == b"hunter2"
    assert described(s, sec) == []
    assert s.table_row(sec, NOW) == ["x", "Opaque", 2, "5s"]
    assert s.field_values(sec)["type"] == "Opaque"

    tls = obj(type="kubernetes.io/tls", data={"tls.crt": "AA==", "bad": "!!"})
    got = described(s, tls)
    assert "data[tls.key]: Required value" in got
    assert 'data[bad]: Invalid value: "<secret contents redacted>": illegal base64 data' in got
    sa = obj(type="kubernetes.io/service-account-token")
    assert "metadata.annotations[kubernetes.io/service-account.name]: Required value" in described(s, sa)

    changed = copy.deepcopy(sec)
    changed["type"] = "kubernetes.io/basic-auth"
    assert [c.field for c in s.validate_update(changed, sec)] == ["type"]


def test_serviceaccount() -> None:
    s = ServiceAccountStrategy()
    sa = obj(secrets=[{"name": "a"}, {"name": "b"}])
    assert described(s, sa) == []
    assert s.table_row(sa, NOW) == ["x", 2, "5s"]
    assert described(s, obj(secrets=[{"name": "Bad_"}]))[0].startswith('secrets[0].name: Invalid value: "Bad_"')


def test_endpoints() -> None:
    s = EndpointsStrategy()
    ep = obj(subsets=[{"addresses": [{"ip": f"10.0.0.{i}"} for i in range(1, 4)] + [{"ip": "fd00::1"}],
                       "ports": [{"port": 80}]}])
    s.prepare_for_create(ep)
    assert ep["subsets"][0]["ports"][0]["protocol"] == "TCP"
    assert described(s, ep) == []
    assert s.table_row(ep, NOW) == ["x", "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 1 more...", "5s"]
    assert s.table_row(obj(), NOW)[1] == "<none>"
    bad = obj(subsets=[{"addresses": [{"ip": "nope"}], "ports": [{"port": 0}, {"port": 1, "protocol": "X"}]}])
    got = described(s, bad)
    assert "subsets[0].addresses[0].ip: Invalid value: \"nope\": must be a valid IP address, (e.g. 10.9.8.7 or " \
           "2001:db8::ffff)" in got
    assert "subsets[0].ports[0].port: Required value" in got
    assert "subsets[0].ports[0].name: Required value" in got


def node(**fields: Any) -> dict[str, Any]:
    return obj("node-1", None, **fields)


def test_node() -> None:
    s = NodeStrategy()
    n = node(metadata={"name": "node-1", "creationTimestamp": CREATED,
                       "labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "worker"}},
             spec={"unschedulable": True},
             status={"capacity": {"cpu": "2"}, "conditions": [{"type": "Ready", "status": "True"}],
                     "addresses": [{"type": "InternalIP", "address": "10.0.0.5"}],
                     "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "Debian"}})
    s.prepare_for_create(n)
    assert n["status"]["allocatable"] == {"cpu": "2"}  # nodes keep their status on create
    assert described(s, n) == []
    assert [c.name for c in s.table_columns()] == [
        "Name", "Status", "Roles", "Age", "Version", "Internal-IP", "External-IP", "OS-Image", "Kernel-Version",
        "Container-Runtime"]
    assert s.table_row(n, NOW) == ["node-1", "Ready,SchedulingDisabled", "control-plane,worker", "5s", "v1.32.0",
                                   "10.0.0.5", "<none>", "Debian", "<unknown>", "<unknown>"]
    assert s.field_values(n)["spec.unschedulable"] == "true"
    assert s.table_row(node(), NOW)[1:3] == ["Unknown", "<none>"]

    tainted = node(spec={"taints": [{"key": "a", "effect": "Sometimes"}, {"effect": "NoSchedule"}]})
    got = described(s, tainted)
    assert any(g.startswith('spec.taints[0].effect: Unsupported value: "Sometimes"') for g in got)
    assert "spec.taints[1].key: Required value" in got

    old = node(spec={"podCIDR": "10.1.0.0/24", "providerID": "p"})
    new = copy.deepcopy(old)
    new["spec"]["podCIDR"] = "10.2.0.0/24"
    assert [c.field for c in s.validate_update(new, old)] == ["spec.podCIDR"]


def svc(**spec: Any) -> dict[str, Any]:
    return obj("web", spec={"selector": {"app": "web"}, "ports": [{"port": 80}], **spec})


def test_service_defaults_and_table() -> None:
    s = ServiceStrategy()
    o = svc(clusterIP="100.96.0.10")
    s.prepare_for_create(o)
    spec = o["spec"]
    assert spec["type"] == "ClusterIP"
    assert spec["sessionAffinity"] == "None"
    assert spec["clusterIPs"] == ["100.96.0.10"]
    assert spec["ipFamilies"] == ["IPv4"]
    assert spec["ipFamilyPolicy"] == "SingleStack"
    assert spec["internalTrafficPolicy"] == "Cluster"
    assert spec["ports"][0] == {"port": 80, "protocol": "TCP", "targetPort": 80}
    assert o["status"] == {"loadBalancer": {}}
    assert described(s, o) == []
    assert [c.name for c in s.table_columns()] == [
        "Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age", "Selector"]
    assert s.table_row(o, NOW) == ["web", "ClusterIP", "100.96.0.10", "<none>", "80/TCP", "5s", "app=web"]

    lb = svc(type="LoadBalancer", ports=[{"port": 80, "nodePort": 30080}])
    s.prepare_for_create(lb)
    assert lb["spec"]["externalTrafficPolicy"] == "Cluster"
    row = s.table_row(lb, NOW)
    assert row[2:5] == ["<none>", "<pending>", "80:30080/TCP"]
    lb["status"] = {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}
    assert s.table_row(lb, NOW)[3] == "1.2.3.4"

    ext = obj("ext", spec={"type": "ExternalName", "externalName": "example.com"})
    s.prepare_for_create(ext)
    assert described(s, ext) == []
    assert s.table_row(ext, NOW)[1:5] == ["ExternalName", "<none>", "example.com", "<none>"]


def test_service_validation_and_update() -> None:
    s = ServiceStrategy()
    bad = obj("1web", spec={"type": "Weird", "ports": [{"port": 80}, {"port": 70000, "name": "b"}],
                            "clusterIP": "nope"})
    s.prepare_for_create(bad)
    got = described(s, bad)
    assert got[0].startswith('metadata.name: Invalid value: "1web": a DNS-1035 label must consist')
    assert any(g.startswith('spec.type: Unsupported value: "Weird"') for g in got)
    assert "spec.ports[0].name: Required value" in got
    assert "spec.ports[1].port: Invalid value: 70000: must be between 1 and 65535, inclusive" in got
    assert any(g.startswith('spec.clusterIPs[0]: Invalid value: "nope"') for g in got)
    no_ports = obj("web", spec={})
    s.prepare_for_create(no_ports)
    assert "spec.ports: Required value" in described(s, no_ports)
    no_name = obj("ext", spec={"type": "ExternalName"})
    s.prepare_for_create(no_name)
    assert "spec.externalName: Required value" in described(s, no_name)

    old = svc(clusterIP="100.96.0.10")
    s.prepare_for_create(old)
    put = svc()  # a PUT without the allocated IP keeps it
    s.prepare_for_update(put, old)
    assert put["spec"]["clusterIP"] == "100.96.0.10"
    assert s.validate_update(put, old) == []
    moved = copy.deepcopy(old)
    moved["spec"]["clusterIP"] = moved["spec"]["clusterIPs"][0] = "100.96.0.11"
    assert [c.describe() for c in s.validate_update(moved, old)] == [
        'spec.clusterIPs[0]: Invalid value: []string{"100.96.0.11"}: may not change once set']  # upstream 1.32


def test_service_put_keeps_node_ports() -> None:
    s = ServiceStrategy()
    old = svc(type="NodePort", clusterIP="100.96.0.9", ports=[{"port": 80, "nodePort": 30080}, {"port": 81,
                                                                                                 "name": "b"}])
    old["spec"]["ports"][0]["name"] = "a"
    s.prepare_for_create(old)
    put = svc(type="NodePort", ports=[{"port": 80, "name": "a"}, {"port": 81, "name": "b"}])
    s.prepare_for_update(put, old)
    assert [p.get("nodePort") for p in put["spec"]["ports"]] == [30080, None]
    assert put["spec"]["clusterIP"] == "100.96.0.9"


def test_ephemeral_containers_may_not_be_removed_or_changed() -> None:
    from sampan.apiserver.registry import pod_ephemeral

    old = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x"}],
                                               "ephemeralContainers": [{"name": "d", "image": "busybox",
                                                                        "imagePullPolicy": "Always",
                                                                        "terminationMessagePolicy": "File"}]}}
    removed = copy.deepcopy(old)
    removed["spec"]["ephemeralContainers"] = []
    assert [c.describe() for c in pod_ephemeral.validate_update(removed, old)] == [
        'spec.ephemeralContainers: Forbidden: existing ephemeral containers "d" may not be removed\n']
    clash = copy.deepcopy(old)
    clash["spec"]["ephemeralContainers"].append({"name": "c", "image": "i", "imagePullPolicy": "Always",
                                                 "terminationMessagePolicy": "File", "readinessProbe": {}})
    assert [c.describe() for c in pod_ephemeral.validate_update(clash, old)] == [
        'spec.ephemeralContainers[1].name: Duplicate value: "c"',
        "spec.ephemeralContainers[1].readinessProbe: Forbidden: cannot be set for an Ephemeral Container"]
