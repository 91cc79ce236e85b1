"""The record builder (pure): what one Service and its EndpointSlices publish."""

from __future__ import annotations

from sampan.dns.records import CNAME, SRV, A, build_service_records, names_between, reverse_name
from tests.dns.objects import endpoint, endpoint_slice, service

ZONE = "cluster.local."


def texts(records: dict[int, list], rdtype: int) -> list[str]:  # type: ignore[type-arg]
    return [rd.to_text() for rd in records.get(rdtype, [])]


def test_cluster_ip_service_a_srv_and_ptr() -> None:
    svc = service("web", ports=[{"name": "http", "port": 80, "protocol": "TCP"},
                                {"name": "dns", "port": 53, "protocol": "UDP"}, {"port": 9000}])
    recs = build_service_records(svc, [endpoint_slice("web", [endpoint("100.64.0.5")])], zone=ZONE)
    owner = "web.default.svc.cluster.local."
    assert texts(recs.names[owner], A) == ["100.96.0.20"]
    assert texts(recs.names["_http._tcp." + owner], SRV) == ["0 100 80 web.default.svc.cluster.local."]
    assert texts(recs.names["_dns._udp." + owner], SRV) == ["0 100 53 web.default.svc.cluster.local."]
    assert sorted(texts(recs.names[owner], SRV)) == ["0 100 53 " + owner, "0 100 80 " + owner]
    assert not any(n.startswith("_9000") for n in recs.names)  # unnamed ports publish no SRV
    assert recs.ptrs["100.96.0.20"] == [owner]
    # a ClusterIP Service's endpoints get PTRs (dashed name) but no A records of their own
    assert recs.ptrs["100.64.0.5"] == ["100-64-0-5." + owner]
    assert "100-64-0-5." + owner not in recs.names


def test_headless_ready_endpoints_only_with_hostnames() -> None:
    svc = service("db", cluster_ip="None", ports=[])
    slices = [
        endpoint_slice("db", [endpoint("100.64.0.7", hostname="db-0"), endpoint("100.64.0.8", ready=False),
                              endpoint("100.64.0.9", ready=None)],
                       ports=[{"name": "pg", "port": 5432, "protocol": "TCP"}]),
        endpoint_slice("db", [endpoint("fd00::1")], name="db-v6", address_type="IPv6"),
    ]
    recs = build_service_records(svc, slices, zone=ZONE)
    owner = "db.default.svc.cluster.local."
    assert texts(recs.names[owner], A) == ["100.64.0.7", "100.64.0.9"]
    assert texts(recs.names["db-0." + owner], A) == ["100.64.0.7"]
    assert texts(recs.names["100-64-0-9." + owner], A) == ["100.64.0.9"]
    assert "100-64-0-8." + owner not in recs.names
    assert sorted(texts(recs.names["_pg._tcp." + owner], SRV)) == [
        "0 50 5432 100-64-0-9.db.default.svc.cluster.local.", "0 50 5432 db-0.db.default.svc.cluster.local."]
    assert recs.ptrs == {"100.64.0.7": ["db-0." + owner], "100.64.0.9": ["100-64-0-9." + owner]}


def test_headless_without_endpoints_still_exists() -> None:
    recs = build_service_records(service("empty", cluster_ip="None"), [], zone=ZONE)
    assert recs.names == {"empty.default.svc.cluster.local.": {}}


def test_external_name_is_a_cname_only() -> None:
    recs = build_service_records(service("ext", external_name="example.org"), [], zone=ZONE)
    assert list(recs.names) == ["ext.default.svc.cluster.local."]
    assert list(recs.names["ext.default.svc.cluster.local."]) == [CNAME]
    assert texts(recs.names["ext.default.svc.cluster.local."], CNAME) == ["example.org."]
    assert recs.ptrs == {}


def test_names_are_lower_case_and_zone_configurable() -> None:
    recs = build_service_records(service("Web", "Prod"), [], zone="corp.example.")
    assert "web.prod.svc.corp.example." in recs.names


def test_service_without_cluster_ip_yet_has_no_a_records() -> None:
    recs = build_service_records(service("pending", cluster_ip=None), [], zone=ZONE)
    assert recs.names == {"pending.default.svc.cluster.local.": {}}


def test_helpers() -> None:
    assert reverse_name("100.96.0.10") == "10.0.96.100.in-addr.arpa."
    assert names_between("a.web.default.svc.cluster.local.", ZONE) == [
        "web.default.svc.cluster.local.", "default.svc.cluster.local.", "svc.cluster.local.", "cluster.local."]
