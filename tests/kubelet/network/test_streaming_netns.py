"""The process runtime's streaming seam in a pod with its own network namespace: exec runs inside it
(it sees the pod's address), port-forward reaches a port bound only there, a refused port is a
StreamingError, and cancelling an exec kills its process."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest

from sampan.kubelet.streaming.interface import CommandIO, StreamingError
from sampan.kubelet.streaming.process import ProcessStreaming
from tests.kubelet.network.conftest import PY, NetNode, needs_netns

pytestmark = [needs_netns, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]


async def _no_stdin() -> AsyncIterator[bytes]:
    return
    yield b""


async def test_exec_and_port_forward_inside_the_pod_namespace(netnode: NetNode) -> None:
    sid = await netnode.sandbox("web")
    cid = await netnode.run(sid, PY, "-m", "http.server", "8080", "--bind", "127.0.0.1")
    ip = await netnode.ip(sid)
    streaming = ProcessStreaming(netnode.runtime)
    out = bytearray()

    async def collect(data: bytes) -> None:
        out.extend(data)

    code = await streaming.exec(cid, ["ip", "-4", "-o", "addr"], CommandIO(stdin=None, stdout=collect, stderr=collect))
    assert code == 0
    assert f"inet {ip}/" in out.decode()

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while True:  # the server binds the pod's loopback only: the host cannot reach it, port-forward can
        try:
            conn = await streaming.port_forward(sid, 8080)
            break
        except StreamingError:
            assert loop.time() < deadline
            await asyncio.sleep(0.1)
    await conn.write(b"GET / HTTP/1.0\r\n\r\n")
    answer = b""
    while chunk := await conn.read():
        answer += chunk
    assert answer.startswith(b"HTTP/1.0 200")
    await conn.close()
    with pytest.raises(StreamingError, match="connection refused"):
        await streaming.port_forward(sid, 8081)

    token = f"{os.getpid()}.25"
    task = asyncio.ensure_future(streaming.exec(cid, ["sleep", token], CommandIO(stdin=_no_stdin(), stdout=collect,
                                                                                 stderr=None)))
    await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not [p for p in os.listdir("/proc") if p.isdigit() and _cmdline(p).endswith(f"sleep\0{token}\0")]


def _cmdline(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline") as fh:
            return fh.read()
    except OSError:
        return ""
