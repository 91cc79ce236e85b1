"""Component processes a ``sampan up`` supervisor started, recorded so that ``sampan down`` can stop them
even when the supervisor itself is gone (killed, or died half-way through a failed start).

Each running component has ``<data-dir>/pids/<name>.pid`` holding ``"<pid> <start time>"``; the start time
(field 22 of ``/proc/<pid>/stat``, clock ticks since boot) tells a recorded process from a later one that
reused its pid, so only the very process that was started is ever signalled. Components run in their own
session (process group = pid): the whole group is signalled.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from sampan._lib.procstat import read_proc_stat


def _start_time(pid: int) -> str | None:
    st = read_proc_stat(pid)
    return str(st.start_ticks) if st is not None else None


def record(pid_dir: Path, name: str, pid: int) -> None:
    """Note that component ``name`` runs as ``pid`` (replacing an earlier record of it)."""
    pid_dir.mkdir(parents=True, exist_ok=True)
    (pid_dir / f"{name}.pid").write_text(f"{pid} {_start_time(pid) or ''}".strip())


def forget(pid_dir: Path, name: str) -> None:
    (pid_dir / f"{name}.pid").unlink(missing_ok=True)


def alive(pid_dir: Path) -> dict[str, int]:
    """Recorded components still running as the recorded process: name -> pid."""
    out: dict[str, int] = {}
    for path in sorted(pid_dir.glob("*.pid")):
        try:
            pid_text, _, started = path.read_text().strip().partition(" ")
            pid = int(pid_text)
        except (OSError, ValueError):
            continue
        now = _start_time(pid)
        if now is not None and (not started or now == started):
            out[path.stem] = pid
    return out


def stop_leftovers(pid_dir: Path, *, grace: float = 10.0) -> list[str]:
    """SIGTERM every recorded component still running (its process group), SIGKILL what is left after
    ``grace`` seconds, drop the records; the names stopped."""
    running = alive(pid_dir)
    for pid in running.values():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while alive(pid_dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in alive(pid_dir).values():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    for path in pid_dir.glob("*.pid"):
        path.unlink(missing_ok=True)
    return sorted(running)
