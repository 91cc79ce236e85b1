"""A fixed-size allocation bitmap over the offsets ``0 .. size-1`` (upstream's ``allocationBitmap``).

The bitmap is a Python int: bit ``i`` set <=> offset ``i`` is allocated. Its byte form is upstream's
(``big.Int.Bytes()``: big-endian, no leading zero bytes), so a stored ``RangeAllocation.data`` reads the
same in both. Pure and synchronous; :mod:`.ranges` stores it.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator


class Bitmap:
    """Allocated offsets of a range of ``size`` values. Invariant: no bit at or above ``size`` is set."""

    def __init__(self, size: int, bits: int = 0) -> None:
        if size < 0:
            raise ValueError("size must not be negative")
        self.size = size
        self.bits = bits & ((1 << size) - 1)

    @classmethod
    def from_bytes(cls, size: int, data: bytes) -> Bitmap:
        return cls(size, int.from_bytes(data, "big"))

    def to_bytes(self) -> bytes:
        return self.bits.to_bytes((self.bits.bit_length() + 7) // 8, "big")

    def has(self, offset: int) -> bool:
        return 0 <= offset < self.size and bool(self.bits >> offset & 1)

    def set(self, offset: int) -> None:
        if not 0 <= offset < self.size:
            raise IndexError(offset)
        self.bits |= 1 << offset

    def clear(self, offset: int) -> None:
        if 0 <= offset < self.size:
            self.bits &= ~(1 << offset)

    def count(self) -> int:
        return self.bits.bit_count()

    def offsets(self) -> Iterator[int]:
        bits = self.bits
        while bits:
            low = bits & -bits
            yield low.bit_length() - 1
            bits ^= low

    def next_free(self, *, start: int | None = None, exclude: Iterable[int] = ()) -> int | None:
        """A free offset not in ``exclude``: the first at or after ``start`` (random when None), wrapping
        around; None when every offset is taken."""
        if self.size == 0:
            return None
        taken = self.bits
        for offset in exclude:
            if 0 <= offset < self.size:
                taken |= 1 << offset
        free = ~taken & ((1 << self.size) - 1)
        if not free:
            return None
        begin = random.randrange(self.size) if start is None else start % self.size
        above = free >> begin
        if above:
            return begin + (above & -above).bit_length() - 1
        return (free & -free).bit_length() - 1
