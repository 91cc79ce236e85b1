"""Node-wide CPU and memory from ``/proc`` (what cAdvisor reports for the root cgroup)."""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")


def cpu_usage_ns(proc: Path = PROC) -> int:
    """Cumulative busy CPU time of all cores (``/proc/stat`` minus idle and iowait), in nanoseconds."""
    fields = (proc / "stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(f) for f in fields[:8]]  # user nice system idle iowait irq softirq steal
    busy = sum(ticks) - ticks[3] - ticks[4]
    return busy * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def memory(proc: Path = PROC) -> tuple[int, int, int]:
    """(capacity, usage, working set) in bytes from ``/proc/meminfo``; the working set excludes free
    memory, buffers and inactive file pages, as cAdvisor's root working set does."""
    info: dict[str, int] = {}
    for line in (proc / "meminfo").read_text().splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts:
            info[key] = int(parts[0]) * 1024
    total = info.get("MemTotal", 0)
    usage = total - info.get("MemFree", 0)
    working = usage - info.get("Inactive(file)", 0)
    return total, usage, max(0, working)
