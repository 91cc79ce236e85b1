"""File-backed host-local IPAM over one pod CIDR (the CNI ``host-local`` plugin's model).

Layout under ``state_dir``: one file per allocated address, named by the address, holding the owner's
sandbox id and, on a second line, a free-form note (the sandbox's state directory); plus
``last_reserved`` (the last address handed out; the next search starts after it so a freed address is
not reused at once). Invariants: a file exists for an address iff it is allocated; an address is
created with ``O_EXCL``, so two allocators on one directory never hand out the same address; the
network address, the gateway (first host address: the bridge's) and the broadcast address are never
allocated; every address lies in 100.64.0.0/10. With ``is_live`` given, an allocation whose owner is no
longer live (``is_live(owner, note)`` is False: its kubelet went away without tearing down) is
reclaimed before the search and ignored by :meth:`live_allocations`. Callers serialise mutations across
processes (``PodNetwork`` holds a lock file).
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

log = logging.getLogger(__name__)

SHARED_RANGE = ipaddress.IPv4Network("100.64.0.0/10")
DEFAULT_POD_CIDR = "100.64.0.0/24"


class IPAMError(Exception):
    """Bad CIDR, or no address left."""


def parse_pod_cidr(text: str) -> ipaddress.IPv4Network:
    """The pod CIDR ``text`` names; IPAMError (one line) unless it is an IPv4 network inside
    100.64.0.0/10 with room for a gateway and at least one pod (prefix /8 … /30)."""
    try:
        net = ipaddress.ip_network(text.strip(), strict=True)
    except ValueError as err:
        raise IPAMError(f"pod CIDR {text!r} is not a network address: {err}") from None
    if not isinstance(net, ipaddress.IPv4Network) or not net.subnet_of(SHARED_RANGE):
        raise IPAMError(f"pod CIDR {text!r} must lie inside {SHARED_RANGE} (shared address space)")
    if net.prefixlen > 30:
        raise IPAMError(f"pod CIDR {text!r} is too small: it needs a gateway and a pod address (at most /30)")
    return net


def gateway(net: ipaddress.IPv4Network) -> ipaddress.IPv4Address:
    """The bridge's address: the first host address of the CIDR."""
    return net.network_address + 1


class HostLocalIPAM:
    """Allocates addresses of ``net`` to sandbox ids, persisting every allocation under ``state_dir``."""

    def __init__(self, net: ipaddress.IPv4Network, state_dir: Path, *,
                 is_live: Callable[[str, str], bool] | None = None) -> None:
        self.net = net
        self.dir = Path(state_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.is_live = is_live

    def _candidates(self) -> Iterator[ipaddress.IPv4Address]:
        first, last = int(gateway(self.net)) + 1, int(self.net.broadcast_address) - 1
        start = first
        try:
            prev = int(ipaddress.IPv4Address((self.dir / "last_reserved").read_text().strip()))
            if first <= prev < last:
                start = prev + 1
        except (OSError, ValueError):
            pass
        for i in itertools.chain(range(start, last + 1), range(first, start)):
            yield ipaddress.IPv4Address(i)

    def allocate(self, owner: str, *, note: str = "",
                 entries: dict[ipaddress.IPv4Address, tuple[str, str]] | None = None) -> ipaddress.IPv4Address:
        """An address for ``owner`` (its existing one when it already has one). ``entries``: a scan the
        caller just made under the same lock (:meth:`entries`, stale owners already released); without
        it the directory is scanned once and stale owners are reclaimed first."""
        if entries is None:
            entries = self.entries()
            stale = {ip for ip, (who, note_) in entries.items()
                     if self.is_live is not None and not self.is_live(who, note_)}
            for ip in stale:
                log.info("reclaiming a stale address owner=%s", entries[ip][0][:12])
                self._unlink(ip)
            entries = {ip: e for ip, e in entries.items() if ip not in stale}
        existing = next((ip for ip, (who, _) in entries.items() if who == owner), None)
        if existing is not None:
            return existing
        for ip in self._candidates():
            if ip in entries:
                continue
            try:
                fd = os.open(self.dir / str(ip), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                continue
            with os.fdopen(fd, "w") as fh:
                fh.write(f"{owner}\n{note}")
            tmp = self.dir / ".last_reserved.tmp"
            tmp.write_text(str(ip))
            os.replace(tmp, self.dir / "last_reserved")
            log.debug("ip allocated ip=%s owner=%s", ip, owner[:12])
            return ip
        raise IPAMError(f"no free address left in pod CIDR {self.net}")

    def entries(self) -> dict[ipaddress.IPv4Address, tuple[str, str]]:
        """Every allocated address with its owner and note (one directory scan)."""
        out = {}
        with os.scandir(self.dir) as it:
            for f in it:
                if not f.name[:1].isdigit():
                    continue  # lock, last_reserved, temporary files
                try:
                    ip = ipaddress.IPv4Address(f.name)
                    with open(f.path, encoding="utf-8") as fh:
                        owner, _, note = fh.read().strip().partition("\n")
                except (ValueError, OSError):
                    continue
                out[ip] = (owner, note)
        return out

    def _unlink(self, ip: ipaddress.IPv4Address) -> bool:
        try:
            os.unlink(self.dir / str(ip))
            return True
        except FileNotFoundError:
            return False

    def allocations(self) -> dict[ipaddress.IPv4Address, str]:
        """Every allocated address and its owner."""
        return {ip: owner for ip, (owner, _) in self.entries().items()}

    def live_allocations(self) -> dict[ipaddress.IPv4Address, str]:
        """Allocations whose owner is live (all of them without ``is_live``)."""
        return {ip: who for ip, (who, note) in self.entries().items()
                if self.is_live is None or self.is_live(who, note)}

    def reclaim(self) -> int:
        """Free the addresses of owners that are no longer live; how many."""
        stale = set(self.allocations().values()) - set(self.live_allocations().values())
        for owner in stale:
            log.info("reclaiming a stale address owner=%s", owner[:12])
            self.release(owner)
        return len(stale)

    def lookup(self, owner: str) -> ipaddress.IPv4Address | None:
        return next((ip for ip, who in self.allocations().items() if who == owner), None)

    def release(self, owner: str) -> bool:
        """Free ``owner``'s addresses; True if it had any (releasing twice is harmless)."""
        released = False
        for ip, who in self.allocations().items():
            if who == owner:
                released = self._unlink(ip) or released
        return released
