"""The cluster host process seen from its parent: launch, read its JSON-line answers, stop it.

The host (:mod:`sampan.cli.cluster_host`) is started by module name, so nothing here imports the API
server. It gets a fresh work directory ``<tmp>/sampan-testcluster-<parent pid>-<random>`` and removes it when it
exits; the parent holds the only write end of its stdin, whose EOF is the host's signal to stop, so a
killed parent still leaves nothing behind. :func:`reap_stale_workdirs` removes directories whose parent
died while the host was ``kill -9``-ed as well (the one case the host cannot clean up itself).

States of :class:`HostProcess`: launched -> ready (``server`` known) -> stopped; a launch that fails to
become ready is stopped and raises :class:`ClusterError` quoting the host's log.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

WORKDIR_PREFIX = "sampan-testcluster-"
_WORKDIR_RE = re.compile(rf"^{WORKDIR_PREFIX}(\d+)-")
#: Seconds the host gets to stop on stdin EOF (it cancels its tasks and removes its directory) before
#: SIGKILL.
STOP_GRACE = 10.0


class ClusterError(RuntimeError):
    """The test cluster could not start, or did not do what was asked in time."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_stale_workdirs(base: Path | None = None) -> list[Path]:
    """Remove ``sampan-testcluster-<pid>-*`` directories whose creating process is gone; returns them."""
    base = Path(base or tempfile.gettempdir())
    removed: list[Path] = []
    with contextlib.suppress(OSError):
        for entry in base.iterdir():
            match = _WORKDIR_RE.match(entry.name)
            if match and entry.is_dir() and not _pid_alive(int(match.group(1))):
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
    return removed


class HostProcess:
    """One cluster host. ``server`` is its API server URL once :meth:`wait_ready` returned."""

    def __init__(self, *, storage: str = "memory", base_dir: Path | None = None) -> None:
        reap_stale_workdirs(base_dir)
        self.workdir = Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-", dir=base_dir))
        self.log_path = self.workdir / "host.log"
        self.kubeconfig = self.workdir / "kubeconfig"
        self.server = ""
        self._buffer = b""
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "sampan.cli.cluster_host", "--workdir", str(self.workdir),
                 "--storage", storage],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _read_message(self, timeout: float) -> dict[str, Any]:
        """The next JSON object the host printed (other lines are skipped); ClusterError on timeout/exit."""
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self._buffer:
                line, self._buffer = self._buffer.split(b"\n", 1)
                with contextlib.suppress(ValueError):
                    message = json.loads(line)
                    if isinstance(message, dict):
                        return message
            left = deadline - time.monotonic()
            if left <= 0:
                raise ClusterError(f"the test cluster did not answer within {timeout:g}s; log:\n{self.log_tail()}")
            readable, _, _ = select.select([fd], [], [], left)
            if readable:
                chunk = os.read(fd, 65536)
                if not chunk:
                    code = self.process.wait()
                    raise ClusterError(f"the test cluster exited (code {code}); log:\n{self.log_tail()}")
                self._buffer += chunk

    def wait_ready(self, timeout: float) -> str:
        """Block until the API server serves; returns its URL."""
        if self.server:
            return self.server
        try:
            message = self._read_message(timeout)
        except ClusterError:
            self.stop()
            raise
        if "server" not in message:
            self.stop()
            raise ClusterError(f"the test cluster failed to start: {message.get('error')}\n{self.log_tail()}")
        self.server = str(message["server"])
        return self.server

    def request(self, message: dict[str, Any], *, timeout: float) -> dict[str, Any]:
        """Send one request line and return the answer; ClusterError for an ``error`` answer."""
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(message).encode() + b"\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            raise ClusterError(f"the test cluster is gone: {e}; log:\n{self.log_tail()}") from None
        answer = self._read_message(timeout)
        if "error" in answer:
            raise ClusterError(f"the test cluster refused {message}: {answer['error']}")
        return answer

    def stop(self) -> None:
        """Close stdin (the host stops and removes its directory), SIGKILL after :data:`STOP_GRACE`; then
        make sure the directory is gone."""
        proc = self.process
        if proc.stdin is not None and not proc.stdin.closed:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        try:
            proc.wait(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        shutil.rmtree(self.workdir, ignore_errors=True)
