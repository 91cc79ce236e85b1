"""One query against the cluster zone: an authoritative response, or "forward this".

Inside the cluster domain ``z`` (CoreDNS's kubernetes plugin, schema 1.1.0):

- a published name (:mod:`sampan.dns.records`) answers its records; a name holding a CNAME (an
  ExternalName Service) answers the CNAME for every query type, and the target is chased: inside the
  zone from the table, outside it through the forwarder (``Outcome.chase``);
- SRV answers carry the targets' A records in the additional section;
- ``<a-b-c-d>.<ns>.pod.z`` answers A ``a.b.c.d`` (pod mode ``insecure``, as kubeadm's Corefile), only for a
  pod with that IP in that namespace (``verified``), or never (``disabled``);
- ``dns-version.z`` TXT ``1.1.0``; the apex's SOA and NS (``ns.dns.z``, whose A records are the
  ``kube-system/kube-dns`` cluster IPs);
- a name that exists without the asked type (AAAA here: the cluster is IPv4-only), or an empty
  non-terminal (``ns.svc.z``), is NODATA: NOERROR, no answer, the SOA in authority;
- anything else in the zone is NXDOMAIN with the SOA in authority.

``in-addr.arpa`` PTR queries for a Service's cluster IP or a ready endpoint address are answered from
the table; other reverse names fall through to the forwarder (as kubeadm's ``fallthrough in-addr.arpa``),
and so does every name outside the zone. Every record has TTL ``ttl`` (5 s by default).
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.NS
import dns.rdtypes.ANY.PTR
import dns.rdtypes.ANY.SOA
import dns.rdtypes.ANY.TXT
import dns.rdtypes.IN.A
import dns.rrset

from sampan.dns.zone import Zone

IN = dns.rdataclass.IN
RT = dns.rdatatype
PodMode = Literal["insecure", "verified", "disabled"]
SCHEMA_VERSION = "1.1.0"
#: How many CNAMEs inside the zone are followed before giving up (a loop of ExternalNames).
MAX_CHASE = 8
#: EDNS payload size we advertise (the DNS flag day 2020 figure).
OUR_PAYLOAD = 1232


@dataclass
class Outcome:
    """``response`` None: forward the query. Otherwise the response to send, after appending what the
    forwarder says about ``chase`` (an out-of-zone CNAME target) when set. ``cacheable``: the response
    depends only on the query bytes and the zone's generation."""

    response: dns.message.Message | None
    chase: dns.name.Name | None = None
    cacheable: bool = True


class Answerer:
    def __init__(self, zone: Zone, *, ttl: int = 5, pods: PodMode = "insecure",
                 pod_exists: Callable[[str, str], bool] | None = None,
                 dns_ips: Callable[[], list[str]] | None = None) -> None:
        """``pod_exists(namespace, ip)`` backs pod mode ``verified``; ``dns_ips()`` gives ``ns.dns.z``'s
        addresses (the kube-dns Service's cluster IPs)."""
        self.zone = zone
        self.ttl = ttl
        self.pods = pods
        self._pod_exists = pod_exists
        self._dns_ips = dns_ips or (lambda: [])
        self._zone_name = dns.name.from_text(zone.zone)
        self._ns_name = dns.name.from_text("ns.dns." + zone.zone)
        self._suffix = "." + zone.zone
        self._serial = (0, int(time.time()))

    # -- building blocks -------------------------------------------------------------------------------
    def serial(self) -> int:
        """Seconds since the epoch when the table last changed (CoreDNS: the API's last modification)."""
        if self._serial[0] != self.zone.generation:
            self._serial = (self.zone.generation, int(time.time()))
        return self._serial[1]

    def soa(self) -> dns.rrset.RRset:
        rd = dns.rdtypes.ANY.SOA.SOA(IN, RT.SOA, self._ns_name, dns.name.from_text("hostmaster." + self.zone.zone),
                                     self.serial(), 7200, 1800, 86400, self.ttl)
        return self._rrset(self._zone_name, RT.SOA, [rd])

    def _rrset(self, name: dns.name.Name, rdtype: int, rdatas: Sequence[dns.rdata.Rdata]) -> dns.rrset.RRset:
        rrset = dns.rrset.RRset(name, IN, dns.rdatatype.RdataType.make(rdtype))
        rrset.update_ttl(self.ttl)
        for rd in rdatas:
            rrset.add(rd)
        return rrset

    def _a_records(self, ips: list[str]) -> list[dns.rdata.Rdata]:
        return [dns.rdtypes.IN.A.A(IN, RT.A, ip) for ip in ips]

    # -- the query ------------------------------------------------------------------------------------
    def in_zone(self, name: str) -> bool:
        return name == self.zone.zone or name.endswith(self._suffix)

    def answer(self, query: dns.message.Message) -> Outcome:
        if len(query.question) != 1 or query.opcode() != dns.opcode.QUERY:
            response = dns.message.make_response(query, our_payload=OUR_PAYLOAD)
            response.set_rcode(dns.rcode.NOTIMP if query.opcode() != dns.opcode.QUERY else dns.rcode.FORMERR)
            return Outcome(response)
        question = query.question[0]
        qname, qtype = question.name, question.rdtype
        name = qname.to_text().lower()
        if question.rdclass != IN:
            return Outcome(None)
        if name.endswith(".in-addr.arpa."):
            targets = self.zone.ptr_targets(name)
            if not targets or qtype not in (RT.PTR, RT.ANY):
                return Outcome(None)
            response = self._response(query)
            ptrs = [dns.rdtypes.ANY.PTR.PTR(IN, RT.PTR, dns.name.from_text(t)) for t in targets]
            response.answer.append(self._rrset(qname, RT.PTR, ptrs))
            return Outcome(response)
        if not self.in_zone(name):
            return Outcome(None)
        response = self._response(query)
        chase = self._fill(response, qname, name, qtype, depth=0)
        return Outcome(response, chase=chase, cacheable=self.pods != "verified")

    def _response(self, query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query, recursion_available=True, our_payload=OUR_PAYLOAD)
        response.flags |= dns.flags.AA
        return response

    def _fill(self, response: dns.message.Message, qname: dns.name.Name, name: str, qtype: int, *,
              depth: int) -> dns.name.Name | None:
        """Put the answer for ``name`` into ``response``; an out-of-zone CNAME target to chase, if any."""
        records = self.zone.lookup(name) or self._synthetic(name)
        if records is None:
            if not self.zone.exists(name) and not self._pod_tree(name):
                response.set_rcode(dns.rcode.NXDOMAIN)
            response.authority.append(self.soa())
            return None
        cname = records.get(RT.CNAME)
        if cname and qtype != RT.CNAME:
            response.answer.append(self._rrset(qname, RT.CNAME, cname))
            target = cname[0].target  # type: ignore[attr-defined]
            target_text = target.to_text().lower()
            if self.in_zone(target_text) and depth < MAX_CHASE:
                return self._fill(response, target, target_text, qtype, depth=depth + 1)
            return target if not self.in_zone(target_text) else None
        types = sorted(records) if qtype == RT.ANY else [qtype]
        added = False
        for rdtype in types:
            if records.get(rdtype):
                response.answer.append(self._rrset(qname, rdtype, records[rdtype]))
                added = True
        if not added:  # NODATA
            response.authority.append(self.soa())
        if qtype in (RT.SRV, RT.ANY):
            self._glue(response, records.get(RT.SRV) or [])
        return None

    def _glue(self, response: dns.message.Message, srvs: list[dns.rdata.Rdata]) -> None:
        seen: set[str] = set()
        for rd in srvs:
            target = rd.target  # type: ignore[attr-defined]
            text = target.to_text().lower()
            if text in seen:
                continue
            seen.add(text)
            a = (self.zone.lookup(text) or {}).get(RT.A)
            if a:
                response.additional.append(self._rrset(target, RT.A, a))

    def _synthetic(self, name: str) -> dict[int, list[dns.rdata.Rdata]] | None:
        """Names not in the table: the apex, ``dns-version``, ``ns.dns`` and pod names."""
        zone = self.zone.zone
        if name == zone:
            ns = dns.rdtypes.ANY.NS.NS(IN, RT.NS, self._ns_name)
            return {RT.SOA: list(self.soa()), RT.NS: [ns]}
        if name == "dns-version." + zone:
            return {RT.TXT: [dns.rdtypes.ANY.TXT.TXT(IN, RT.TXT, [SCHEMA_VERSION.encode()])]}
        if name == "ns.dns." + zone:
            return {RT.A: self._a_records(self._dns_ips())}
        labels = name[: -len(self._suffix)].split(".")
        if len(labels) == 3 and labels[2] == "pod" and self.pods != "disabled":
            ip = _undash(labels[0])
            if ip is None:
                return None
            if self.pods == "verified" and not (self._pod_exists and self._pod_exists(labels[1], ip)):
                return None
            return {RT.A: self._a_records([ip])}
        return None

    def _pod_tree(self, name: str) -> bool:
        """``pod.z`` and ``<ns>.pod.z`` exist (empty non-terminals) when pod records are served."""
        if self.pods == "disabled":
            return False
        labels = name[: -len(self._suffix)].split(".")
        return labels[-1] == "pod" and len(labels) <= 2


def _undash(label: str) -> str | None:
    """``100-64-0-5`` -> ``100.64.0.5``; None when it is not an IPv4 address in dashed form."""
    parts = label.split("-")
    if len(parts) != 4:
        return None
    try:
        return str(ipaddress.IPv4Address(".".join(parts)))
    except ValueError:
        return None
