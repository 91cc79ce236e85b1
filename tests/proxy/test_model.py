from __future__ import annotations

from sampan.proxy.changes import ChangeTracker
from sampan.proxy.model import Endpoint, ServiceKey, ServicePortName, service_ports, slice_endpoints
from sampan.proxy.topology import categorize
from tests.proxy.builders import endpoint, endpoint_slice, service

PN = ServicePortName("default", "web", "http", "TCP")


def test_service_ports_cluster_ip_and_node_port() -> None:
    ports = service_ports(service("web", "100.96.0.20", type_="NodePort", node_port=30080, affinity=60))
    svc = ports[PN]
    assert (svc.cluster_ip, svc.port, svc.node_port, svc.affinity_timeout) == ("100.96.0.20", 80, 30080, 60)
    assert svc.externally_accessible
    assert svc.uses_cluster_endpoints
    assert not svc.uses_local_endpoints


def test_ignored_services() -> None:
    assert service_ports(service("h", "None")) == {}
    assert service_ports(service("n", "")) == {}
    ext = service("x", "100.96.0.1")
    ext["spec"]["type"] = "ExternalName"
    assert service_ports(ext) == {}
    assert service_ports(None) == {}


def test_load_balancer_ips_only_for_load_balancers() -> None:
    lb = service_ports(service("web", "100.96.0.20", type_="LoadBalancer", node_port=30001, lb_ips=("100.127.0.5",)))
    assert lb[PN].load_balancer_ips == ("100.127.0.5",)
    plain = service_ports(service("web", "100.96.0.20", lb_ips=("100.127.0.5",)))
    assert plain[PN].load_balancer_ips == ()


def test_default_affinity_timeout_and_policies() -> None:
    s = service("web", "100.96.0.20", type_="NodePort", node_port=30080, etp="Local", itp="Local")
    s["spec"]["sessionAffinity"] = "ClientIP"
    svc = service_ports(s)[PN]
    assert svc.affinity_timeout == 10800
    assert svc.external_policy_local
    assert svc.internal_policy_local
    assert not svc.uses_cluster_endpoints
    assert svc.uses_local_endpoints


def test_slice_conditions() -> None:
    eps = slice_endpoints(endpoint_slice("web", [endpoint("100.64.0.5"),
                                                 endpoint("100.64.0.6", ready=False, serving=True, terminating=True),
                                                 {"addresses": ["100.64.0.7"]}]))
    assert eps[PN] == (Endpoint("100.64.0.5", 8080, node_name="n1"),
                       Endpoint("100.64.0.6", 8080, ready=False, serving=True, terminating=True, node_name="n1"),
                       Endpoint("100.64.0.7", 8080))


def test_tracker_merges_slices_and_marks_pending() -> None:
    t = ChangeTracker()
    assert t.service_updated(service("web", "100.96.0.20"))
    assert not t.service_updated(service("web", "100.96.0.20"))  # same ports: nothing to program
    assert t.slice_updated(endpoint_slice("web", [endpoint("100.64.0.5")], name="a"))
    assert t.slice_updated(endpoint_slice("web", [endpoint("100.64.0.6"), endpoint("100.64.0.5")], name="b"))
    assert [e.ip for e in t.endpoints[PN]] == ["100.64.0.5", "100.64.0.6"]
    pending, _ = t.take_pending()
    assert pending == {ServiceKey("default", "web")}
    assert not t.slice_updated(endpoint_slice("web", [endpoint("100.64.0.6"), endpoint("100.64.0.5")], name="b"))
    assert t.slice_updated(endpoint_slice("web", [], name="b"), deleted=True)
    assert [e.ip for e in t.endpoints[PN]] == ["100.64.0.5"]
    assert t.slice_updated(endpoint_slice("web", [], name="a"), deleted=True)
    assert PN not in t.endpoints
    assert t.service_deleted(service("web", "100.96.0.20"))
    assert t.take_pending()[0] == {ServiceKey("default", "web")}


def test_categorize_ready_then_terminating_fallback() -> None:
    svc = service_ports(service("web", "100.96.0.20"))[PN]
    ready = Endpoint("100.64.0.5", 8080, node_name="n1")
    term = Endpoint("100.64.0.6", 8080, ready=False, serving=True, terminating=True, node_name="n1")
    gone = Endpoint("100.64.0.7", 8080, ready=False, serving=False, terminating=True, node_name="n1")
    assert categorize([ready, term, gone], svc, "n1").cluster == (ready,)
    fallback = categorize([term, gone], svc, "n1")
    assert fallback.cluster == (term,)
    assert fallback.has_any
    assert not categorize([gone], svc, "n1").has_any


def test_categorize_local_policy() -> None:
    svc = service_ports(service("web", "100.96.0.20", type_="NodePort", node_port=30080, etp="Local"))[PN]
    mine = Endpoint("100.64.0.5", 8080, node_name="n1")
    theirs = Endpoint("100.64.1.5", 8080, node_name="n2")
    c = categorize([mine, theirs], svc, "n1")
    assert c.cluster == (mine, theirs)
    assert c.local == (mine,)
    assert c.has_any
    c2 = categorize([theirs], svc, "n1")
    assert c2.local == ()
    assert c2.has_any
