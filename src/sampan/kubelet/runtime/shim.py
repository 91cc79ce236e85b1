"""The per-container supervisor of the process runtime (our containerd-shim).

``python -m sampan.kubelet.runtime.shim <container-dir>`` reads ``config.json`` from the container's
state directory, daemonizes (double fork, new session: the kubelet may restart without touching it),
then:

1. when asked, joins the pod's network namespace (``setns`` on ``config.json``'s ``netns`` file), then
   enters a private mount namespace and bind-mounts each volume at its path;
2. starts ``argv`` as the leader of a new process group, joining the container's cgroups before exec;
3. writes ``started.json`` (pid, its /proc start time, shim pid) and reports the same line on stdout
   to the launcher, which then exits;
4. copies stdout/stderr into the CRI log file (``<RFC3339Nano> stdout F <line>``);
5. when the main process exits, SIGKILLs what is left of its group and writes ``exit.json``
   (exit code — 128+signal for a signal —, finish time, OOM kill).

Files are written atomically (temp file + rename): a reader sees the whole file or none.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import importlib.util
import json
import os
import selectors
import signal
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 32, 4096, 16384, 1 << 18
MAX_LINE = 16 * 1024


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def proc_start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/pid/stat); None if gone.

    The shim runs as a stand-alone script on the standard library alone, so it keeps its own reading of
    what :func:`sampan._lib.procstat.read_proc_stat` reads for the rest of sampan."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    return int(fields[19]) if len(fields) > 19 and fields[0] != "Z" else None


def rfc3339_nano(ns: int) -> str:
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def setup_mounts(mounts: list[dict[str, Any]]) -> None:
    """Private mount namespace with each volume bind-mounted (read-only when asked)."""
    libc = _libc()
    _check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
    for m in mounts:
        src, dst = m["host_path"], m["container_path"]
        if os.path.isdir(src):
            os.makedirs(dst, exist_ok=True)
        elif not os.path.exists(dst):
            os.makedirs(os.path.dirname(dst) or "/", exist_ok=True)
            Path(dst).touch()
        _check(libc.mount(src.encode(), dst.encode(), None, MS_BIND | MS_REC, None), f"bind {src} on {dst}")
        if m.get("read_only"):
            flags = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC
            _check(libc.mount(b"none", dst.encode(), None, flags, None), f"read-only remount of {dst}")


def join_netns(path: str) -> None:
    """Move this (single-threaded) process into the network namespace at ``path``."""
    fd = os.open(path, os.O_RDONLY)
    try:
        _check(_libc().setns(fd, CLONE_NEWNET), f"setns({path})")
    finally:
        os.close(fd)


class _LogWriter:
    """Turns pipe chunks into CRI log lines; a line longer than MAX_LINE is split with the ``P`` tag."""

    def __init__(self, path: str) -> None:
        self.out = open(path, "ab", buffering=0)  # noqa: SIM115 - lives as long as the shim
        self.pending: dict[str, bytes] = {"stdout": b"", "stderr": b""}

    def _emit(self, stream: str, line: bytes, tag: str) -> None:
        self.out.write(f"{rfc3339_nano(time.time_ns())} {stream} {tag} ".encode() + line + b"\n")

    def feed(self, stream: str, chunk: bytes) -> None:
        buf = self.pending[stream] + chunk
        while True:
            nl = buf.find(b"\n")
            if nl < 0:
                break
            line, buf = buf[:nl], buf[nl + 1 :]
            while len(line) > MAX_LINE:
                self._emit(stream, line[:MAX_LINE], "P")
                line = line[MAX_LINE:]
            self._emit(stream, line, "F")
        while len(buf) > MAX_LINE:
            self._emit(stream, buf[:MAX_LINE], "P")
            buf = buf[MAX_LINE:]
        self.pending[stream] = buf

    def flush(self) -> None:
        for stream, buf in self.pending.items():
            if buf:
                self._emit(stream, buf, "F")
        self.pending = {"stdout": b"", "stderr": b""}


def _join_cgroups(files: list[str]) -> None:
    pid = str(os.getpid())
    for f in files:
        with open(f, "w") as fh:
            fh.write(pid)


def _child_setup(procs: list[str], *, tty: bool) -> None:
    _join_cgroups(procs)
    if tty:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _load_attach() -> Any:
    """The attach module beside this file (the shim runs as a script, not from the package)."""
    spec = importlib.util.spec_from_file_location("sampan_shim_attach", Path(__file__).with_name("attach.py"))
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _kill_leftovers(pgid: int, procs_files: list[str]) -> None:
    """The rest of the container dies with its main process: its process group, and anything that left
    the group but not the container's cgroup."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass
    for f in procs_files[:1]:
        try:
            pids = [int(p) for p in Path(f).read_text().split()]
        except (OSError, ValueError):
            continue
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def exec_error(argv: list[str], err: OSError) -> str:
    if isinstance(err, FileNotFoundError) and "/" not in argv[0]:
        return f'exec: "{argv[0]}": executable file not found in $PATH'
    return f'exec: "{argv[0]}": {err.strerror or err}'


def supervise(cdir: Path, cfg: dict[str, Any], report: int) -> int:
    """Run the container to completion; returns the shim's exit status."""
    exit_file = cdir / "exit.json"

    def fail(message: str, code: int = 128) -> int:
        data = {"exit_code": code, "reason": "StartError", "message": message, "finished_at": time.time()}
        write_json_atomic(exit_file, data)
        os.write(report, (json.dumps({"error": message}) + "\n").encode())
        os.close(report)
        return 0

    try:
        if cfg.get("netns"):
            join_netns(cfg["netns"])
    except OSError as err:
        return fail(f"joining the pod network namespace: {err}")
    try:
        if cfg.get("private_mounts") and cfg.get("mounts"):
            setup_mounts(cfg["mounts"])
    except OSError as err:
        return fail(f"mounting volumes: {err}")
    logs = _LogWriter(cfg["log_path"])
    procs: list[str] = cfg.get("cgroup_procs") or []
    argv: list[str] = cfg["argv"]
    tty, want_stdin = bool(cfg.get("tty")), bool(cfg.get("stdin"))
    master = slave = -1
    if tty:
        master, slave = os.openpty()
        stdio: dict[str, Any] = {"stdin": slave, "stdout": slave, "stderr": slave}
    else:
        stdio = {"stdin": subprocess.PIPE if want_stdin else subprocess.DEVNULL, "stdout": subprocess.PIPE,
                 "stderr": subprocess.PIPE}
    try:
        child = subprocess.Popen(
            argv, env=cfg["env"], cwd=cfg.get("cwd") or "/", start_new_session=True,
            preexec_fn=(lambda: _child_setup(procs, tty=tty)) if procs or tty else None,  # single-threaded shim
            **stdio,
        )
    except OSError as err:
        return fail(exec_error(argv, err))
    except subprocess.SubprocessError as err:
        return fail(f"starting {argv[0]!r}: {err}")
    finally:
        if slave >= 0:
            os.close(slave)
    hub = None
    if tty or want_stdin:
        attach = _load_attach()
        stdin_fd = master if tty else child.stdin.fileno()  # type: ignore[union-attr]
        hub = attach.TerminalHub(str(cdir / attach.SOCKET_NAME), input_fd=stdin_fd, pty_fd=master if tty else None)
    started = {"pid": child.pid, "start_ticks": proc_start_ticks(child.pid), "started_at": time.time(),
               "shim_pid": os.getpid(), "shim_start_ticks": proc_start_ticks(os.getpid())}
    write_json_atomic(cdir / "started.json", started)
    os.write(report, (json.dumps(started) + "\n").encode())
    os.close(report)

    sel = selectors.DefaultSelector()
    outputs: set[str] = set()
    if tty:
        sel.register(master, selectors.EVENT_READ, "stdout")
        outputs.add("stdout")
    else:
        assert child.stdout is not None
        assert child.stderr is not None
        sel.register(child.stdout, selectors.EVENT_READ, "stdout")
        sel.register(child.stderr, selectors.EVENT_READ, "stderr")
        outputs |= {"stdout", "stderr"}
    if hub is not None:
        sel.register(hub.listener, selectors.EVENT_READ, "accept")

    def drop(conns: list[Any]) -> None:
        for conn in conns:
            sel.unregister(conn)
            hub.drop(conn)  # type: ignore[union-attr]

    status: int | None = None
    drain_deadline: float | None = None
    try:
        while outputs:
            for key, _ in sel.select(timeout=0.05):
                if key.data == "accept":
                    conn = hub.accept()  # type: ignore[union-attr]
                    if conn is not None:
                        sel.register(conn, selectors.EVENT_READ, "client")
                    continue
                if key.data == "client":
                    if not hub.readable(key.fileobj):  # type: ignore[union-attr]
                        drop([key.fileobj])
                    continue
                try:
                    chunk = os.read(key.fd, 65536)
                except OSError:  # EIO: the terminal's last user is gone
                    chunk = b""
                if chunk:
                    logs.feed(key.data, chunk)
                    if hub is not None:
                        drop(hub.broadcast(1 if key.data == "stdout" else 2, chunk))
                else:
                    sel.unregister(key.fileobj)
                    outputs.discard(key.data)
            if status is None:
                status = child.poll()
                if status is not None:
                    _kill_leftovers(child.pid, procs)
                    drain_deadline = time.monotonic() + 0.5
            elif drain_deadline is not None and time.monotonic() > drain_deadline:
                break
        if status is None:  # both pipes closed while the process lives on
            status = child.wait()
            _kill_leftovers(child.pid, procs)
    except BaseException:
        _kill_leftovers(child.pid, procs)  # never leave a container running without its supervisor
        raise
    finally:
        if hub is not None:
            hub.close()
            with contextlib.suppress(OSError):
                os.unlink(cdir / "attach.sock")
    logs.flush()
    finished = time.time()
    oom = False
    if cfg.get("memory_oom_control"):
        try:
            oom = any(
                ln.startswith("oom_kill ") and int(ln.split()[1]) > 0
                for ln in Path(cfg["memory_oom_control"]).read_text().splitlines()
            )
        except (OSError, ValueError):
            oom = False
    code = 128 - status if status < 0 else status
    reason = "OOMKilled" if oom else ("Completed" if code == 0 else "Error")
    write_json_atomic(exit_file, {"exit_code": code, "signal": -status if status < 0 else 0,
                                  "reason": reason, "message": "", "finished_at": finished})
    for d in cfg.get("cgroup_dirs") or []:
        try:
            os.rmdir(d)
        except OSError:
            pass
    return 0


def main(argv: list[str]) -> int:
    cdir = Path(argv[1])
    cfg = json.loads((cdir / "config.json").read_text())
    r, w = os.pipe()
    pid = os.fork()
    if pid > 0:  # the launcher: relay the child's report, then leave (the shim is re-parented)
        os.close(w)
        with os.fdopen(r, "rb") as fh:
            line = fh.readline()
        sys.stdout.buffer.write(line or b'{"error": "shim died before starting the container"}\n')
        sys.stdout.flush()
        return 0
    os.close(r)
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(devnull, fd)
    err = os.open(str(cdir / "shim.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(err, 2)
    try:
        rc = supervise(cdir, cfg, w)
    except BaseException as exc:  # last resort: record it, never leave the kubelet guessing
        write_json_atomic(cdir / "exit.json", {"exit_code": 128, "reason": "StartError",
                                               "message": f"shim failed: {exc!r}", "finished_at": time.time()})
        rc = 1
    os._exit(rc)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
