"""Starting processes off the kubelet's event loop (docs/liveness.md).

Forking a large Python process and starting asyncio's per-child watcher thread costs the loop 2-3 ms per
process; 110 pods with an exec liveness and readiness probe each start 220 processes a second, which
kept the kubelet's loop busy half of the time. These helpers run the whole life of a short process —
spawn, wait, read its output, kill it on timeout — on a worker thread, so the loop only awaits the result.

Invariant: a process started here never outlives its timeout (its process group is SIGKILLed), and its
output is read in full (no pipe left half-drained).
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

SPAWN_WORKERS = 16
"""Threads for short-lived processes of one runtime (probes, shim starts): a slow probe holds one."""


def spawn_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=SPAWN_WORKERS, thread_name_prefix="sampan-spawn")


def run_captured(argv: list[str], *, env: Mapping[str, str] | None, cwd: str, timeout: float) -> tuple[int, bytes]:
    """Run ``argv`` in a new session with stdout and stderr captured together; ``(exit code, output)``.
    Raises ``TimeoutError`` (after killing the process group) when it runs longer than ``timeout``, and
    ``OSError`` when it cannot be started."""
    proc = subprocess.Popen(argv, env=dict(env) if env is not None else None, cwd=cwd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.communicate()
        raise TimeoutError(f"{argv[0]} timed out after {timeout:g}s") from None
    return proc.returncode or 0, out


def first_line(argv: list[str], *, timeout: float) -> bytes:
    """Start ``argv`` (a shim that reports one line and exits) in a new session; its first output line
    (b"" if it printed nothing). Raises ``TimeoutError`` if it has not exited within ``timeout``."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise TimeoutError(f"{argv[0]} did not report within {timeout:g}s") from None
    return out.split(b"\n", 1)[0]
