"""The in-memory table cluster DNS answers from: every published name with its records, built per Service.

Invariants (one owner: the event-loop task that feeds informer events in; mutators are synchronous):

- ``names[n]`` is the record set of exactly one Service, ``owner[n]`` (names end in that Service's
  ``s.n.svc.z``, so two Services never publish the same name);
- ``ptrs[ip]`` holds, per Service key, the names pointing back at ``ip``;
- ``ents[n]`` counts the published names below ``n`` (down to the zone apex): ``n`` exists as an empty
  non-terminal while the count is positive (NODATA rather than NXDOMAIN, RFC 8020);
- ``generation`` grows with every change, so answers cached against an older generation are stale.
"""

from __future__ import annotations

from collections import Counter

import dns.rdata

from sampan.dns.records import NameTable, ServiceRecords, names_between, reverse_name


class Zone:
    def __init__(self, zone: str) -> None:
        self.zone = zone.lower().rstrip(".") + "."
        self.names: NameTable = {}
        self.owner: dict[str, str] = {}
        self.ptrs: dict[str, dict[str, list[str]]] = {}
        self.ents: Counter[str] = Counter()
        self.generation = 0
        self._by_service: dict[str, ServiceRecords] = {}

    def set_service(self, key: str, records: ServiceRecords | None) -> None:
        """Replace what Service ``key`` (``ns/name``) publishes; None removes it. Publishing the same
        records again (a status update, a resync) changes nothing, not even the generation."""
        if self._by_service.get(key) == records:
            return
        old = self._by_service.pop(key, None)
        if old is not None:
            for name in old.names:
                if self.owner.get(name) == key:
                    del self.names[name]
                    del self.owner[name]
                    for parent in names_between(name, self.zone):
                        self.ents[parent] -= 1
                        if self.ents[parent] <= 0:
                            del self.ents[parent]
            for ip in old.ptrs:
                rev = reverse_name(ip)
                claims = self.ptrs.get(rev)
                if claims is not None:
                    claims.pop(key, None)
                    if not claims:
                        del self.ptrs[rev]
        if records is not None:
            self._by_service[key] = records
            for name, rrs in records.names.items():
                if name in self.owner:  # another Service's name (cannot happen for valid objects): keep theirs
                    continue
                self.names[name] = rrs
                self.owner[name] = key
                for parent in names_between(name, self.zone):
                    self.ents[parent] += 1
            for ip, targets in records.ptrs.items():
                self.ptrs.setdefault(reverse_name(ip), {})[key] = targets
        self.generation += 1

    def lookup(self, name: str) -> dict[int, list[dns.rdata.Rdata]] | None:
        """The records of ``name`` (lower-case, absolute), or None when nothing is published there."""
        return self.names.get(name)

    def exists(self, name: str) -> bool:
        """Whether ``name`` is published or is an empty non-terminal of a published name."""
        return name in self.names or name in self.ents or name == self.zone

    def ptr_targets(self, reverse: str) -> list[str]:
        claims = self.ptrs.get(reverse)
        if not claims:
            return []
        out: list[str] = []
        for key in sorted(claims):
            out.extend(t for t in claims[key] if t not in out)
        return out

    def service_keys(self) -> list[str]:
        return sorted(self._by_service)
