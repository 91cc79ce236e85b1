"""One process as ``/proc/<pid>/stat`` describes it: its state, its parent and its start time.

A pid is reused once its process is gone; ``(pid, start_ticks)`` names one process for its whole life, so
anything that signals a pid it recorded earlier compares the start time first.
"""

from __future__ import annotations

from dataclasses import dataclass

PROC = "/proc"


@dataclass(frozen=True, slots=True)
class ProcStat:
    pid: int
    state: str
    """``R``, ``S``, ``Z`` (a zombie: exited, not yet reaped) …"""
    ppid: int
    start_ticks: int
    """``starttime``: clock ticks since boot when the process started."""


def read_proc_stat(pid: int, proc: str = PROC) -> ProcStat | None:
    """The process's stat line, or None when it is gone (or the line cannot be parsed)."""
    try:
        with open(f"{proc}/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    fields = raw[raw.rfind(b")") + 2:].split()  # after "pid (comm) ": the comm may hold spaces and ")"
    try:
        return ProcStat(pid, fields[0].decode(), int(fields[1]), int(fields[19]))
    except (IndexError, ValueError):
        return None
