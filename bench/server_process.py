"""Servers as child processes, for the bench scripts: a free loopback port, a process whose output goes to a
log file and that is always stopped (SIGTERM, then SIGKILL after ``grace`` seconds), waiting until a health
URL answers 200 (failing with the log's tail when the process dies or time runs out), and a process's CPU
seconds from /proc. The scripts import it as a sibling module (``python bench/<script>.py`` puts bench/ on
``sys.path``)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


REPO = Path(__file__).resolve().parent.parent
"""This repository (the benches' baselines are worktrees of it)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def py_spy() -> str:
    """The py-spy binary (``pip install py-spy``): on ``PATH`` or beside this interpreter (the virtualenv's
    ``bin``, which a bench run as ``.venv/bin/python`` does not have on ``PATH``); exits with one line
    when there is none."""
    found = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if found is None:
        raise SystemExit("py-spy not found (pip install py-spy): needed for --profile")
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    """Wait until ``url`` answers 200; if ``proc`` dies or time runs out, fail with its log's tail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1.0) as r:
            if r.status == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer; log tail:\n{log.read_text(errors='replace')[-3000:]}")


@contextlib.contextmanager
def process(argv: list[str], log: Path, *, env: dict[str, str] | None = None,
            grace: float = 15.0) -> Iterator[subprocess.Popen[bytes]]:
    """``argv`` running in its own session with stdout and stderr in ``log`` (``env`` added to ours); stopped
    on exit."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, **env} if env else None)
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(grace)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


@contextlib.contextmanager
def baseline_tree(rev: str, tmp: Path) -> Iterator[Path | None]:
    """``rev`` checked out (detached) into a temporary worktree of this repository; its ``src``. None when no
    baseline (``rev`` empty). The worktree is removed on exit."""
    if not rev:
        yield None
        return
    where = tmp / "baseline"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "-q", str(where), rev], check=True)
    try:
        yield where / "src"
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(where)], check=False)
