"""Ranges of allocatable values and their bitmaps kept in the store (upstream's ``RangeAllocation``).

A :class:`StoredRange` keeps one bitmap under one key (``/registry/ranges/serviceips``,
``/registry/ranges/servicenodeports``, as kube-apiserver does) as a ``RangeAllocation`` JSON object
(``range`` = the range's text, ``data`` = the bitmap's bytes, base64). Every change reads the key, changes
the bitmap and writes it back with compare-and-swap on the version read, retrying on a concurrent write:
several API servers over one store never hand out the same value, and nothing but the store decides.
Within one process an ``asyncio.Lock`` serialises the changes, so concurrent requests do not fight over
the CAS. A stored bitmap whose ``range`` differs from the configured one (the flag changed) is dropped
and rebuilt by the repair loop from the services themselves.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

import orjson

from sampan.apiserver.services.bitmap import Bitmap
from sampan.storage import Conflict, KeyExists, KeyNotFound, Storage

log = logging.getLogger(__name__)

MAX_CAS_ATTEMPTS = 64


class AllocationError(Exception):
    """A value could not be allocated; the message is upstream's."""


class AlreadyAllocated(AllocationError):
    pass


class NotInRange(AllocationError):
    pass


class RangeFull(AllocationError):
    pass


class Domain(Protocol):
    """How values map to bitmap offsets."""

    @property
    def kind(self) -> str:
        """``IP`` or ``port`` (used in upstream's messages)."""
        ...

    @property
    def size(self) -> int: ...

    @property
    def text(self) -> str:
        """The range as its flag writes it (``100.96.0.0/16``, ``30000-32767``)."""
        ...

    def offset(self, value: str | int) -> int | None:
        """The value's offset, or None when outside the range."""
        ...

    def value(self, offset: int) -> str | int: ...


@dataclass(frozen=True)
class IPRange:
    """The usable addresses of a CIDR: network and broadcast addresses excluded (offset 0 = network+1)."""

    net: ipaddress.IPv4Network | ipaddress.IPv6Network
    kind: str = "IP"

    @classmethod
    def parse(cls, text: str) -> IPRange:
        try:
            net = ipaddress.ip_network(text.strip(), strict=True)
        except ValueError as err:
            raise ValueError(f"invalid service IP range {text!r}: {err}") from None
        if net.num_addresses < 4:
            raise ValueError(f"service IP range {text!r} is too small")
        if net.version == 6 and net.prefixlen < 108:
            raise ValueError(f"service IP range {text!r} is too large (at most /108 for IPv6)")
        if net.version == 4 and net.prefixlen < 12:
            raise ValueError(f"service IP range {text!r} is too large (at most /12 for IPv4)")
        return cls(net)

    @property
    def size(self) -> int:
        return int(self.net.num_addresses) - 2

    @property
    def text(self) -> str:
        return str(self.net)

    def offset(self, value: str | int) -> int | None:
        try:
            ip = ipaddress.ip_address(str(value))
        except ValueError:
            return None
        if ip.version != self.net.version or ip not in self.net:
            return None
        offset = int(ip) - int(self.net.network_address) - 1
        return offset if 0 <= offset < self.size else None

    def value(self, offset: int) -> str:
        return str(self.net.network_address + 1 + offset)

    def nth(self, n: int) -> str:
        """The n-th address of the range (1: the ``kubernetes`` Service's, 10: DNS's)."""
        return str(self.net.network_address + n)


@dataclass(frozen=True)
class PortRange:
    base: int
    last: int
    kind: str = "port"

    @classmethod
    def parse(cls, text: str) -> PortRange:
        """``30000-32767``, ``30000+2767`` or a single port, as upstream's ``utilnet.ParsePortRange``."""
        raw = text.strip()
        try:
            if "-" in raw:
                low, high = (int(p) for p in raw.split("-", 1))
            elif "+" in raw:
                low, extra = (int(p) for p in raw.split("+", 1))
                high = low + extra
            else:
                low = high = int(raw)
        except ValueError:
            raise ValueError(f"invalid port range {text!r}") from None
        if not (0 < low <= high <= 65535):
            raise ValueError(f"invalid port range {text!r}")
        return cls(low, high)

    @property
    def size(self) -> int:
        return self.last - self.base + 1

    @property
    def text(self) -> str:
        return f"{self.base}-{self.last}"

    def offset(self, value: str | int) -> int | None:
        try:
            port = int(value)
        except (TypeError, ValueError):
            return None
        return port - self.base if self.base <= port <= self.last else None

    def value(self, offset: int) -> int:
        return self.base + offset


def not_in_range_message(domain: Domain) -> str:
    plural = "IPs" if domain.kind == "IP" else "ports"
    return f"provided {domain.kind} is not in the valid range. The range of valid {plural} is {domain.text}"


def allocated_message(domain: Domain) -> str:
    return f"provided {domain.kind} is already allocated"


class StoredRange:
    """One range's bitmap at ``key`` in ``store``; see the module docstring for the invariants."""

    def __init__(self, store: Storage, key: str, domain: Domain, *, reserved: Iterable[int] = ()) -> None:
        self.store = store
        self.key = key
        self.domain = domain
        self.reserved = frozenset(reserved)
        """Offsets :meth:`allocate_next` never hands out (an explicit request may take them)."""
        self._lock = asyncio.Lock()
        self._cached: tuple[Bitmap, int] | None = None
        """The bitmap as this process last wrote it, with that write's revision (may be stale)."""

    # -- stored form ------------------------------------------------------------------------------

    def _encode(self, bitmap: Bitmap) -> bytes:
        return orjson.dumps({"kind": "RangeAllocation", "apiVersion": "v1", "metadata": {},
                             "range": self.domain.text, "data": base64.b64encode(bitmap.to_bytes()).decode()})

    def _decode(self, value: bytes) -> Bitmap:
        try:
            obj = orjson.loads(value)
            if obj.get("range") != self.domain.text:
                log.warning("stored range differs from the configured one, rebuilding key=%s stored=%s now=%s",
                            self.key, obj.get("range"), self.domain.text)
                return Bitmap(self.domain.size)
            return Bitmap.from_bytes(self.domain.size, base64.b64decode(obj.get("data") or ""))
        except (orjson.JSONDecodeError, ValueError, AttributeError, TypeError):
            log.error("unreadable range allocation, rebuilding key=%s", self.key)
            return Bitmap(self.domain.size)

    async def snapshot(self) -> tuple[Bitmap, int]:
        """The stored bitmap and its mod revision (0 when nothing is stored yet)."""
        try:
            kv = await self.store.get(self.key)
        except KeyNotFound:
            return Bitmap(self.domain.size), 0
        return self._decode(kv.value), kv.mod_revision

    async def change(self, mutate: Callable[[Bitmap], bool]) -> Bitmap:
        """Apply ``mutate`` (returns whether it changed anything; may raise to abort) to the stored bitmap
        with compare-and-swap, retrying on concurrent writers; the bitmap as written.

        The bitmap this process last wrote (and its revision) is tried first, saving a read; the CAS
        fails if anyone wrote since, and then the stored one is read. A refusal (``mutate`` raising) or a
        no-op decided on that cached copy is only believed after a fresh read confirms it."""
        async with self._lock:
            for attempt in range(MAX_CAS_ATTEMPTS):
                cached = self._cached if attempt == 0 else None
                if cached is not None:
                    bitmap, rev = Bitmap(cached[0].size, cached[0].bits), cached[1]
                else:
                    bitmap, rev = await self.snapshot()
                try:
                    changed = mutate(bitmap)
                except AllocationError:
                    if cached is not None:
                        continue
                    raise
                if not changed:
                    if cached is not None:
                        continue
                    return bitmap
                try:
                    if rev == 0:
                        written = await self.store.create(self.key, self._encode(bitmap))
                    else:
                        written = await self.store.update(self.key, self._encode(bitmap), expected_mod_revision=rev)
                except (Conflict, KeyExists, KeyNotFound):
                    self._cached = None
                    continue
                except BaseException:
                    self._cached = None
                    raise
                self._cached = (bitmap, written)
                return bitmap
        raise AllocationError(f"the range at {self.key} is being changed too often; try again")

    # -- operations -------------------------------------------------------------------------------

    def _offset(self, value: str | int) -> int:
        offset = self.domain.offset(value)
        if offset is None:
            raise NotInRange(not_in_range_message(self.domain))
        return offset

    async def allocate(self, value: str | int, *, dry: bool = False) -> None:
        """Take ``value``; AlreadyAllocated / NotInRange otherwise. ``dry``: check only."""
        offset = self._offset(value)

        def take(bitmap: Bitmap) -> bool:
            if bitmap.has(offset):
                raise AlreadyAllocated(allocated_message(self.domain))
            bitmap.set(offset)
            return not dry

        if dry:
            bitmap, _ = await self.snapshot()
            take(bitmap)
            return
        await self.change(take)

    async def allocate_next(self, *, dry: bool = False) -> str | int:
        """Take a free value chosen at random (never a reserved one); RangeFull when none is left."""
        chosen: list[int] = []

        def take(bitmap: Bitmap) -> bool:
            offset = bitmap.next_free(exclude=self.reserved)
            if offset is None:
                raise RangeFull("range is full")
            chosen[:] = [offset]
            bitmap.set(offset)
            return not dry

        if dry:
            bitmap, _ = await self.snapshot()
            take(bitmap)
        else:
            await self.change(take)
        return self.domain.value(chosen[0])

    async def release(self, values: Iterable[str | int]) -> None:
        """Give ``values`` back (values outside the range are ignored, as upstream)."""
        offsets = [o for o in (self.domain.offset(v) for v in values) if o is not None]
        if not offsets:
            return

        def free(bitmap: Bitmap) -> bool:
            changed = False
            for offset in offsets:
                if bitmap.has(offset):
                    bitmap.clear(offset)
                    changed = True
            return changed

        await self.change(free)

    async def allocated(self) -> set[str | int]:
        bitmap, _ = await self.snapshot()
        return {self.domain.value(o) for o in bitmap.offsets()}
