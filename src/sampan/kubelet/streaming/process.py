"""The process runtime's side of the streaming seam.

exec: the command runs as ``nsenter -t <container pid> -m -n -- cmd`` (the container's mount namespace
when it has a private one, and its pod's network namespace), with the container's environment and
working directory, joining its cgroups before it execs, in a new session whose process group dies with
the request (cancellation SIGKILLs the group, so a client that goes away leaves nothing behind). With a
TTY the command gets a pseudo-terminal as its controlling terminal; resizes set its window size.

attach: the shim of a container started with ``stdin``/``tty`` serves its stdio on
``<container dir>/attach.sock`` (see :mod:`sampan.kubelet.runtime.attach`).

port-forward: a socket created inside the sandbox's network namespace (``setns`` on a worker thread,
then back), connected to ``127.0.0.1:<port>`` there; a host-network pod connects on the host.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import logging
import os
import signal
import socket
import struct
import termios
from collections.abc import AsyncIterator, Callable

from sampan.kubelet.runtime import attach as attach_socket
from sampan.kubelet.runtime import shim
from sampan.kubelet.runtime.interface import NotFoundError
from sampan.kubelet.runtime.process import ExecSpec, ProcessRuntime
from sampan.kubelet.streaming.interface import CommandIO, Sink, StreamingError, TCPConnection
from sampan.streaming.channels import TerminalSize

log = logging.getLogger(__name__)

CLONE_NEWNET = 0x40000000
READ_CHUNK = 64 * 1024
FIRST_SIZE_WAIT = 1.0
"""How long a TTY exec waits for the client's terminal size before starting the command."""


def _preexec(cgroup_procs: tuple[str, ...], *, terminal: int = -1) -> Callable[[], None] | None:
    """Runs in the forked child before exec: join the container's cgroups, take the pty slave ``terminal``
    (when >= 0) as the controlling terminal. Only system calls (no Python locks), as required in a threaded
    parent.

    Independent of where the event loop runs it: CPython's subprocess calls it after the stdio dup2s and
    ``start_new_session``'s setsid, uvloop right after fork, before libuv's setsid and dup2s (fd 0 is not
    the pty yet, the child no session leader). So it starts the session itself unless it already leads
    one (libuv's later setsid fails harmlessly) and names the slave by its own descriptor, open in the
    child either way."""
    if not cgroup_procs and terminal < 0:
        return None

    def setup() -> None:
        pid = str(os.getpid()).encode()
        for f in cgroup_procs:
            fd = os.open(f, os.O_WRONLY)
            try:
                os.write(fd, pid)
            finally:
                os.close(fd)
        if terminal >= 0:
            if os.getsid(0) != os.getpid():
                os.setsid()
            fcntl.ioctl(terminal, termios.TIOCSCTTY, 0)

    return setup


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _set_winsize(fd: int, size: TerminalSize) -> None:
    if size.width > 0 and size.height > 0:
        with contextlib.suppress(OSError):
            fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", size.height, size.width, 0, 0))


async def _copy_out(source: asyncio.StreamReader, sink: Sink) -> None:
    while True:
        try:
            chunk = await source.read(READ_CHUNK)
        except OSError:  # EIO: the pty's last slave closed
            return
        if not chunk:
            return
        await sink(chunk)


async def _write_fd(fd: int, data: bytes) -> None:
    """Write all of ``data`` to a non-blocking fd (the pty master)."""
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
            view = view[n:]
        except BlockingIOError:
            await asyncio.sleep(0.005)


async def _finish(tasks: list[asyncio.Task[None]]) -> None:
    for t in tasks:
        t.cancel()
    for t in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await t


def _socket_in_netns(netns: str) -> socket.socket:
    """A TCP socket created inside ``netns`` (this worker thread enters it and returns to its own)."""
    libc = ctypes.CDLL(None, use_errno=True)
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(netns, os.O_RDONLY)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({netns}): {os.strerror(err)}")
        try:
            return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        finally:
            if libc.setns(own, CLONE_NEWNET) != 0:  # cannot happen; never leave a pool thread elsewhere
                os.abort()
    finally:
        os.close(own)
        os.close(target)


class ProcessStreaming:
    """:class:`~sampan.kubelet.streaming.interface.StreamingRuntime` for the process runtime."""

    def __init__(self, runtime: ProcessRuntime) -> None:
        self._runtime = runtime

    async def _spec(self, container_id: str, cmd: list[str]) -> ExecSpec:
        try:
            return await self._runtime.exec_spec(container_id, cmd)
        except NotFoundError as err:
            raise StreamingError(err.message, code=404) from None

    async def exec(self, container_id: str, cmd: list[str], io: CommandIO) -> int:
        spec = await self._spec(container_id, cmd)
        if io.tty:
            return await self._exec_tty(spec, io)
        return await self._exec_pipes(spec, io)

    async def _exec_pipes(self, spec: ExecSpec, io: CommandIO) -> int:
        pipe, null = asyncio.subprocess.PIPE, asyncio.subprocess.DEVNULL
        try:
            proc = await asyncio.create_subprocess_exec(
                *spec.argv, env=spec.env, cwd=spec.cwd, stdin=pipe if io.stdin else null,
                stdout=pipe if io.stdout else null, stderr=pipe if io.stderr else null,
                start_new_session=True, preexec_fn=_preexec(spec.cgroup_procs))
        except OSError as err:
            raise StreamingError(shim.exec_error(spec.argv, err)) from None
        outputs: list[asyncio.Task[None]] = []
        inputs: list[asyncio.Task[None]] = []
        try:
            for pipe_out, sink in ((proc.stdout, io.stdout), (proc.stderr, io.stderr)):
                if pipe_out is not None and sink is not None:
                    outputs.append(asyncio.create_task(_copy_out(pipe_out, sink)))
            if io.stdin is not None and proc.stdin is not None:
                inputs.append(asyncio.create_task(self._copy_in(io.stdin, proc.stdin)))
            if outputs:
                await asyncio.gather(*outputs)
            return await proc.wait()
        finally:
            if proc.returncode is None:
                _kill_group(proc.pid)
                with contextlib.suppress(ProcessLookupError):
                    await asyncio.shield(proc.wait())
            await _finish(inputs + outputs)

    @staticmethod
    async def _copy_in(stdin: AsyncIterator[bytes], writer: asyncio.StreamWriter) -> None:
        try:
            async for chunk in stdin:
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, BrokenPipeError):
            return
        finally:
            with contextlib.suppress(ConnectionError, BrokenPipeError, RuntimeError):
                writer.close()

    async def _exec_tty(self, spec: ExecSpec, io: CommandIO) -> int:
        master, slave = os.openpty()
        sized = asyncio.Event()
        resizer: list[asyncio.Task[None]] = []
        if io.resize is not None:
            async def resize(sizes: AsyncIterator[TerminalSize]) -> None:
                async for size in sizes:
                    _set_winsize(master, size)
                    sized.set()

            resizer.append(asyncio.create_task(resize(io.resize)))
            # clients send the terminal's size first thing: apply it before the command starts
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sized.wait(), FIRST_SIZE_WAIT)
        try:
            proc = await asyncio.create_subprocess_exec(
                *spec.argv, env=spec.env, cwd=spec.cwd, stdin=slave, stdout=slave, stderr=slave,
                start_new_session=True, preexec_fn=_preexec(spec.cgroup_procs, terminal=slave))
        except OSError as err:
            os.close(master)
            await _finish(resizer)
            raise StreamingError(shim.exec_error(spec.argv, err)) from None
        finally:
            os.close(slave)
        try:
            return await self._serve_terminal(master, io, proc_wait=proc.wait)
        finally:
            await _finish(resizer)
            if proc.returncode is None:
                _kill_group(proc.pid)
                with contextlib.suppress(ProcessLookupError):
                    await asyncio.shield(proc.wait())

    @staticmethod
    async def _serve_terminal(master: int, io: CommandIO, *, proc_wait: Callable[[], object]) -> int:
        """Copy between ``io`` and the pty master until the terminal closes; then the exit code."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader),
                                                    os.fdopen(os.dup(master), "rb", buffering=0))
        tasks: list[asyncio.Task[None]] = []
        try:
            if io.stdin is not None:
                async def copy_in(stdin: AsyncIterator[bytes]) -> None:
                    async for chunk in stdin:
                        await _write_fd(master, chunk)

                tasks.append(asyncio.create_task(copy_in(io.stdin)))
            sink = io.stdout or io.stderr
            if sink is not None:
                await _copy_out(reader, sink)
            code = await proc_wait()  # type: ignore[misc]
            return int(code)
        finally:
            transport.close()
            await _finish(tasks)
            os.close(master)

    async def attach(self, container_id: str, io: CommandIO) -> None:
        try:
            path = self._runtime.attach_socket(container_id)
            await attach_socket.connect(path, io)
        except NotFoundError as err:
            raise StreamingError(err.message, code=404) from None
        except (FileNotFoundError, ConnectionRefusedError):
            raise StreamingError("the container was not started with stdin or tty: nothing to attach to",
                                 code=400) from None

    async def port_forward(self, sandbox_id: str, port: int) -> TCPConnection:
        try:
            netns = self._runtime.sandbox_netns(sandbox_id)
        except NotFoundError as err:
            raise StreamingError(err.message, code=404) from None
        sock = await asyncio.to_thread(_socket_in_netns, netns) if netns else socket.socket()
        sock.setblocking(False)
        where = f'inside namespace "{netns}"' if netns else "on the host network"
        try:
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        except OSError as err:
            sock.close()
            raise StreamingError(f"failed to connect to localhost:{port} {where}, IPv4: dial tcp4 "
                                 f"127.0.0.1:{port}: connect: {os.strerror(err.errno or 0).lower()}") from None
        return TCPConnection(*await asyncio.open_connection(sock=sock))
