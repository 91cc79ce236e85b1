"""Simulated sandbox and container IDs: unique in the process, hex, the lengths CRI runtimes use."""

from __future__ import annotations

import re

from sampan.kubelet.runtime.simulated import new_id


def test_ids_are_unique_hex_of_the_asked_length() -> None:
    ids = [new_id(64) for _ in range(10_000)] + [new_id(32) for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-f]{64}", i) for i in ids[:10_000])
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids[10_000:])
