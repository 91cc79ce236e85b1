"""Answers from the zone (pure): records, NODATA/NXDOMAIN with the SOA, pods, PTR, truncation."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
from hypothesis import given, settings
from hypothesis import strategies as st

from sampan.dns.answer import Answerer
from sampan.dns.forward import Forwarder
from sampan.dns.records import build_service_records
from sampan.dns.server import QueryHandler, _Pending
from sampan.dns.zone import Zone
from tests.dns.objects import endpoint, endpoint_slice, service


def make_zone() -> Zone:
    zone = Zone("cluster.local")
    objs = [
        (service("web"), [endpoint_slice("web", [endpoint("100.64.0.5")])]),
        (service("db", cluster_ip="None", ports=[]),
         [endpoint_slice("db", [endpoint("100.64.0.7", hostname="db-0"), endpoint("100.64.0.8")],
                         ports=[{"name": "pg", "port": 5432, "protocol": "TCP"}])]),
        (service("ext", external_name="example.org"), []),
        (service("alias", external_name="web.default.svc.cluster.local"), []),
        (service("kube-dns", "kube-system", cluster_ip="100.96.0.10"), []),
    ]
    for svc, slices in objs:
        key = f"{svc['metadata']['namespace']}/{svc['metadata']['name']}"
        zone.set_service(key, build_service_records(svc, slices, zone=zone.zone))
    return zone


def ask(answerer: Answerer, name: str, rdtype: str = "A") -> dns.message.Message:
    outcome = answerer.answer(dns.message.make_query(name, rdtype))
    assert outcome.response is not None
    return outcome.response


def answers(response: dns.message.Message) -> list[str]:
    return sorted(f"{rr.name} {dns.rdatatype.to_text(rr.rdtype)} {rd}" for rr in response.answer for rd in rr)


def test_service_a_with_ttl_and_aa() -> None:
    r = ask(Answerer(make_zone(), ttl=5), "web.default.svc.cluster.local")
    assert r.rcode() == dns.rcode.NOERROR
    assert r.flags & dns.flags.AA
    assert answers(r) == ["web.default.svc.cluster.local. A 100.96.0.20"]
    assert r.answer[0].ttl == 5


def test_query_case_is_preserved() -> None:
    r = ask(Answerer(make_zone()), "WEB.Default.svc.cluster.local")
    assert answers(r) == ["WEB.Default.svc.cluster.local. A 100.96.0.20"]


def test_aaaa_is_nodata_with_soa() -> None:
    r = ask(Answerer(make_zone()), "web.default.svc.cluster.local", "AAAA")
    assert r.rcode() == dns.rcode.NOERROR
    assert not r.answer
    assert r.authority[0].rdtype == dns.rdatatype.SOA
    soa = r.authority[0][0]
    assert str(soa.mname) == "ns.dns.cluster.local."
    assert str(soa.rname) == "hostmaster.cluster.local."
    assert soa.minimum == 5


def test_unknown_name_is_nxdomain_with_soa_but_empty_non_terminals_are_nodata() -> None:
    answerer = Answerer(make_zone())
    r = ask(answerer, "nope.default.svc.cluster.local")
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert r.authority[0].rdtype == dns.rdatatype.SOA
    r = ask(answerer, "google.com.default.svc.cluster.local")
    assert r.rcode() == dns.rcode.NXDOMAIN
    for ent in ("default.svc.cluster.local", "svc.cluster.local", "_tcp.db.default.svc.cluster.local"):
        r = ask(answerer, ent)
        assert (r.rcode(), r.answer) == (dns.rcode.NOERROR, []), ent
        assert r.authority[0].rdtype == dns.rdatatype.SOA


def test_headless_and_hostnames_and_srv_with_glue() -> None:
    answerer = Answerer(make_zone())
    assert answers(ask(answerer, "db.default.svc.cluster.local")) == [
        "db.default.svc.cluster.local. A 100.64.0.7", "db.default.svc.cluster.local. A 100.64.0.8"]
    assert answers(ask(answerer, "db-0.db.default.svc.cluster.local")) == [
        "db-0.db.default.svc.cluster.local. A 100.64.0.7"]
    r = ask(answerer, "_pg._tcp.db.default.svc.cluster.local", "SRV")
    assert answers(r) == [
        "_pg._tcp.db.default.svc.cluster.local. SRV 0 50 5432 100-64-0-8.db.default.svc.cluster.local.",
        "_pg._tcp.db.default.svc.cluster.local. SRV 0 50 5432 db-0.db.default.svc.cluster.local."]
    glue = sorted(f"{rr.name} {rd}" for rr in r.additional for rd in rr if rr.rdtype == dns.rdatatype.A)
    assert glue == ["100-64-0-8.db.default.svc.cluster.local. 100.64.0.8",
                    "db-0.db.default.svc.cluster.local. 100.64.0.7"]


def test_external_name_cname_outside_zone_is_chased_inside_zone_is_followed() -> None:
    answerer = Answerer(make_zone())
    outcome = answerer.answer(dns.message.make_query("ext.default.svc.cluster.local", "A"))
    assert outcome.response is not None
    assert str(outcome.chase) == "example.org."
    assert answers(outcome.response) == ["ext.default.svc.cluster.local. CNAME example.org."]
    r = ask(answerer, "alias.default.svc.cluster.local")
    assert answers(r) == ["alias.default.svc.cluster.local. CNAME web.default.svc.cluster.local.",
                          "web.default.svc.cluster.local. A 100.96.0.20"]


def test_pod_records_by_mode() -> None:
    zone = make_zone()
    assert answers(ask(Answerer(zone), "100-64-0-9.default.pod.cluster.local")) == [
        "100-64-0-9.default.pod.cluster.local. A 100.64.0.9"]
    assert ask(Answerer(zone), "not-an-ip.default.pod.cluster.local").rcode() == dns.rcode.NXDOMAIN
    assert ask(Answerer(zone), "default.pod.cluster.local").rcode() == dns.rcode.NOERROR
    assert ask(Answerer(zone, pods="disabled"), "100-64-0-9.default.pod.cluster.local").rcode() == dns.rcode.NXDOMAIN
    verified = Answerer(zone, pods="verified", pod_exists=lambda ns, ip: (ns, ip) == ("default", "100.64.0.9"))
    assert answers(ask(verified, "100-64-0-9.default.pod.cluster.local"))
    assert ask(verified, "100-64-0-9.other.pod.cluster.local").rcode() == dns.rcode.NXDOMAIN


def test_ptr_for_service_and_endpoint_ips_and_fallthrough() -> None:
    answerer = Answerer(make_zone())
    assert answers(ask(answerer, "20.0.96.100.in-addr.arpa", "PTR")) == [
        "20.0.96.100.in-addr.arpa. PTR web.default.svc.cluster.local."]
    assert answers(ask(answerer, "7.0.64.100.in-addr.arpa", "PTR")) == [
        "7.0.64.100.in-addr.arpa. PTR db-0.db.default.svc.cluster.local."]
    assert answerer.answer(dns.message.make_query("1.2.0.192.in-addr.arpa", "PTR")).response is None


def test_apex_soa_ns_and_schema_version() -> None:
    answerer = Answerer(make_zone())
    assert ask(answerer, "cluster.local", "SOA").answer[0].rdtype == dns.rdatatype.SOA
    assert answers(ask(answerer, "cluster.local", "NS")) == ["cluster.local. NS ns.dns.cluster.local."]
    assert answers(ask(answerer, "dns-version.cluster.local", "TXT")) == ['dns-version.cluster.local. TXT "1.1.0"']
    with_ips = Answerer(make_zone(), dns_ips=lambda: ["100.96.0.10"])
    assert answers(ask(with_ips, "ns.dns.cluster.local")) == ["ns.dns.cluster.local. A 100.96.0.10"]


def test_names_outside_the_zone_are_forwarded() -> None:
    assert Answerer(make_zone()).answer(dns.message.make_query("example.org", "A")).response is None


def test_zone_updates_replace_a_services_names() -> None:
    zone = make_zone()
    answerer = Answerer(zone)
    generation = zone.generation
    zone.set_service("default/db", None)
    assert zone.generation > generation
    assert ask(answerer, "db-0.db.default.svc.cluster.local").rcode() == dns.rcode.NXDOMAIN
    assert ask(answerer, "_tcp.db.default.svc.cluster.local").rcode() == dns.rcode.NXDOMAIN
    assert answerer.answer(dns.message.make_query("7.0.64.100.in-addr.arpa", "PTR")).response is None


def test_republishing_the_same_records_keeps_the_generation() -> None:
    zone = make_zone()
    generation = zone.generation
    slices = [endpoint_slice("web", [endpoint("100.64.0.5")])]
    zone.set_service("default/web", build_service_records(service("web"), slices, zone=zone.zone))
    zone.set_service("default/gone", None)
    assert zone.generation == generation


def _handler(zone: Zone) -> QueryHandler:
    return QueryHandler(Answerer(zone), Forwarder([]))


def test_udp_truncation_sets_tc_and_tcp_gets_everything() -> None:
    zone = Zone("cluster.local")
    eps = [endpoint(f"100.64.1.{i}") for i in range(1, 80)]
    zone.set_service("default/big", build_service_records(service("big", cluster_ip="None"),
                                                          [endpoint_slice("big", eps)], zone=zone.zone))
    handler = _handler(zone)
    wire = dns.message.make_query("big.default.svc.cluster.local", "A").to_wire()
    udp = handler.answer_now(wire, tcp=False)
    assert isinstance(udp, bytes)
    assert len(udp) <= 512
    r = dns.message.from_wire(udp)
    assert r.flags & dns.flags.TC
    assert not r.answer
    tcp = handler.answer_now(wire, tcp=True)
    assert isinstance(tcp, bytes)
    assert len(dns.message.from_wire(tcp).answer[0]) == 79


def test_wire_cache_answers_repeats_with_the_callers_id_and_forgets_on_change() -> None:
    zone = make_zone()
    handler = _handler(zone)
    q1 = dns.message.make_query("web.default.svc.cluster.local", "A")
    first = handler.answer_now(q1.to_wire(), tcp=False)
    q2 = dns.message.make_query("web.default.svc.cluster.local", "A")
    q2.id = (q1.id + 1) % 65536
    second = handler.answer_now(q2.to_wire(), tcp=False)
    assert isinstance(first, bytes)
    assert isinstance(second, bytes)
    assert dns.message.from_wire(second).id == q2.id
    assert first[2:] == second[2:]
    zone.set_service("default/web", build_service_records(service("web", cluster_ip="100.96.0.99"), [],
                                                          zone=zone.zone))
    third = handler.answer_now(q2.to_wire(), tcp=False)
    assert isinstance(third, bytes)
    assert answers(dns.message.from_wire(third)) == ["web.default.svc.cluster.local. A 100.96.0.99"]


def test_garbage_gets_formerr_or_nothing_and_outside_names_are_pending() -> None:
    handler = _handler(make_zone())
    assert handler.answer_now(b"\x00\x01", tcp=False) is None
    reply = handler.answer_now(b"\x12\x34" + b"\xff" * 20, tcp=False)
    assert isinstance(reply, bytes)
    assert reply[:2] == b"\x12\x34"
    assert dns.message.from_wire(reply).rcode() == dns.rcode.FORMERR
    pending = handler.answer_now(dns.message.make_query("example.org", "A").to_wire(), tcp=False)
    assert isinstance(pending, _Pending)
    assert pending.response is None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    result = _handler(make_zone()).answer_now(data, tcp=False)
    assert result is None or isinstance(result, (bytes, _Pending))
    if isinstance(result, bytes):
        assert result[:2] == data[:2]
        assert dns.message.from_wire(result).flags & dns.flags.QR


LABEL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=20)


@settings(max_examples=300, deadline=None)
@given(st.lists(LABEL, min_size=0, max_size=5), st.sampled_from(["A", "AAAA", "SRV", "PTR", "TXT", "ANY", "CNAME"]))
def test_any_name_in_the_zone_gets_an_authoritative_answer(labels: list[str], rdtype: str) -> None:
    name = ".".join([*labels, "cluster.local."])
    outcome = Answerer(make_zone()).answer(dns.message.make_query(name, rdtype))
    assert outcome.response is not None
    assert outcome.response.rcode() in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN)
    if not outcome.response.answer:
        assert outcome.response.authority[0].rdtype == dns.rdatatype.SOA
