"""exec, cp, port-forward and the Python client's stream()/portforward() into containerd pods, end to end:
the real kubectl (1.27: SPDY/3.1; 1.33: WebSocket v5 and SPDY-in-WebSocket port-forward) -> in-process
API server -> the kubelet's streaming server -> CRI Exec/PortForward -> containerd's streaming server
(the kubelet is a SPDY client of it). Multi-MB transfers in both directions go through each path, and the
pods' containerIDs carry upstream's ``containerd://`` scheme."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import socket
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.kubelet.cri.conftest import SHELL, Containerd, pytestmark  # noqa: F401
from tests.kubelet.cri.test_kubelet_containerd import Node, cs, pod, running, running_node
from tests.kubelet.integration.conftest import wait_for
from tests.support.apiserver import InProcessAPIServer

KUBECTL_DIR = Path(os.path.realpath(shutil.which("kubectl") or "/nonexistent")).parent
VERSIONS = [v for v in ("1.27", "1.33") if (KUBECTL_DIR / f"kubectl.{v}").exists()]
MiB = 1024 * 1024
PIPE = asyncio.subprocess.PIPE
WEB = ("mkdir -p /www && echo hello from the pod > /www/index.html && head -c 10485760 /dev/urandom > /www/big.bin"
       " && sha256sum /www/big.bin > /www/big.sha && exec httpd -f -p 8080 -h /www")


@pytest.fixture
async def node(inproc_apiserver: InProcessAPIServer, containerd: Containerd, tmp_path: Path) -> AsyncIterator[Node]:
    async with running_node(inproc_apiserver, containerd, tmp_path) as n:
        yield n


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def kubectl(node: Node, version: str, *args: str, stdin: bytes | None = None) -> tuple[int, bytes, bytes]:
    proc = await asyncio.create_subprocess_exec(
        str(KUBECTL_DIR / f"kubectl.{version}"), "--kubeconfig", str(node.server.kubeconfig), *args,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(stdin), 90)
    return proc.returncode or 0, out, err


async def port_forward_download(node: Node, version: str) -> tuple[bytes, bytes]:
    """index.html and big.bin through ``kubectl port-forward pod/web``."""
    local = free_port()
    proc = await asyncio.create_subprocess_exec(
        str(KUBECTL_DIR / f"kubectl.{version}"), "--kubeconfig", str(node.server.kubeconfig), "port-forward",
        "pod/web", f"{local}:8080", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        assert b"Forwarding from" in await asyncio.wait_for(proc.stdout.readline(), 30)

        def get(path: str) -> bytes:
            with urllib.request.urlopen(f"http://127.0.0.1:{local}{path}", timeout=60) as r:
                return bytes(r.read())

        small = await asyncio.gather(*(asyncio.to_thread(get, "/index.html") for _ in range(5)))
        assert set(small) == {b"hello from the pod\n"}
        return small[0], await asyncio.to_thread(get, "/big.bin")
    finally:
        proc.terminate()
        await proc.wait()


def host_processes_with(token: str) -> list[int]:
    """Host pids whose command line contains ``token`` (a container's processes are visible here)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    if token.encode() in fh.read():
                        pids.append(int(entry))
            except OSError:
                continue
    return pids


async def disconnect_kills_the_exec(node: Node, version: str) -> None:
    token = f"{os.getpid()}{VERSIONS.index(version)}.7"  # an argument of sleep only this exec uses
    proc = await asyncio.create_subprocess_exec(
        str(KUBECTL_DIR / f"kubectl.{version}"), "--kubeconfig", str(node.server.kubeconfig), "exec", "-i", "web",
        "--", "sh", "-c", f"echo started; sleep {token}; echo never", stdin=PIPE, stdout=PIPE)
    assert proc.stdout is not None
    assert await asyncio.wait_for(proc.stdout.readline(), 30) == b"started\n"
    assert host_processes_with(f"sleep {token}")
    proc.kill()
    await proc.wait()
    await wait_for(lambda: asyncio.sleep(0, host_processes_with(token)), lambda pids: not pids, timeout=30,
                   what="the exec'd sh and sleep to be killed")


@pytest.mark.slow
@pytest.mark.skipif(not VERSIONS, reason="versioned kubectl binaries not installed")
async def test_exec_cp_and_port_forward_into_containerd_pods(node: Node, tmp_path: Path) -> None:
    pods = await node.pods()
    await pods.create(pod("web", [{"name": "c", "image": SHELL, "command": ["sh", "-c", WEB]}]))
    web = await wait_for(lambda: pods.get("web", namespace="default"), running, timeout=60, what="web Running")
    assert cs(web)["containerID"].startswith("containerd://")
    [sandbox] = [sb for sb in await node.kubelet.runtime.list_pod_sandboxes()
                 if sb.config.uid == web["metadata"]["uid"]]
    big_sha = ""
    src = tmp_path / "five.bin"
    src.write_bytes(os.urandom(5 * MiB))
    for version in VERSIONS:
        code, out, err = await kubectl(node, version, "exec", "web", "--", "sh", "-c",
                                       "echo out; echo err >&2; exit 3")
        assert code == 3, err
        assert out == b"out\n"
        assert b"err\n" in err
        assert b"command terminated with exit code 3" in err
        code, out, err = await kubectl(node, version, "exec", "-i", "web", "--", "cat", stdin=b"hi\n")
        assert (code, out) == (0, b"hi\n"), err
        code, out, err = await kubectl(node, version, "exec", "web", "--", "hostname")
        assert (code, out) == (0, b"web\n"), err  # inside the container, not on the host
        while not big_sha:
            code, out, err = await kubectl(node, version, "exec", "web", "--", "cat", "/www/big.sha")
            big_sha = out.split()[0].decode() if code == 0 and out else ""

        # kubectl cp (tar through exec) 5 MiB in and back out, through SPDY (1.27) and WebSocket (1.33)
        code, _out, err = await kubectl(node, version, "cp", str(src), f"default/web:/tmp/five-{version}.bin")
        assert code == 0, err
        code, out, err = await kubectl(node, version, "exec", "web", "--", "sha256sum", f"/tmp/five-{version}.bin")
        assert out.split()[0].decode() == hashlib.sha256(src.read_bytes()).hexdigest(), err
        back = tmp_path / f"back-{version}.bin"
        code, _out, err = await kubectl(node, version, "cp", f"default/web:/tmp/five-{version}.bin", str(back))
        assert code == 0, err
        assert back.read_bytes() == src.read_bytes()

        # a client that goes away mid-command: its process tree in the container is killed (containerd alone
        # would leave it running: CRI has no call to end an exec)
        await disconnect_kills_the_exec(node, version)

        # port-forward: 10 MiB from httpd in the pod arrives intact
        index, big = await port_forward_download(node, version)
        assert index == b"hello from the pod\n"
        assert hashlib.sha256(big).hexdigest() == big_sha

    # a port nothing listens on: containerd's refusal comes back on the error stream
    streaming = node.kubelet.streaming
    assert streaming is not None
    conn = await streaming.runtime.port_forward(sandbox.id, 8099)
    assert await conn.read() == b""
    assert "8099" in await conn.error()
    await conn.close()


async def test_python_client_stream_and_portforward(node: Node) -> None:
    pytest.importorskip("kubernetes")
    from kubernetes import client, config
    from kubernetes.stream import portforward, stream

    pods = await node.pods()
    await pods.create(pod("web", [{"name": "c", "image": SHELL, "command": ["sh", "-c", WEB]}]))
    await wait_for(lambda: pods.get("web", namespace="default"), running, timeout=60, what="web Running")
    api = client.CoreV1Api(config.new_client_from_config(str(node.server.kubeconfig)))

    def run() -> tuple[int | None, str, str, bytes]:
        resp = stream(api.connect_get_namespaced_pod_exec, "web", "default",
                      command=["sh", "-c", "echo out; echo err >&2; exit 3"], stderr=True, stdout=True, stdin=False,
                      tty=False, _preload_content=False)
        resp.run_forever(timeout=30)
        out, code = resp.read_stdout(), resp.returncode
        plain = stream(api.connect_get_namespaced_pod_exec, "web", "default", command=["echo", "plain"],
                       stderr=True, stdout=True, stdin=False, tty=False)
        data = b""
        for _ in range(50):  # httpd may still be starting
            pf = portforward(api.connect_get_namespaced_pod_portforward, "web", "default", ports="8080")
            sock = pf.socket(8080)
            sock.setblocking(True)
            sock.sendall(b"GET /index.html HTTP/1.0\r\n\r\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
            sock.close()
            pf.close()
            if data:
                break
            time.sleep(0.2)
        return code, out, plain, data

    code, out, plain, body = await asyncio.to_thread(run)
    assert code == 3
    assert out == "out\n"
    assert plain == "plain\n"
    assert body.startswith(b"HTTP/1.1 200 OK")
    assert body.endswith(b"hello from the pod\n")



@pytest.mark.skipif(not VERSIONS or shutil.which("script") is None, reason="needs kubectl binaries and script(1)")
async def test_tty_exec_resize_and_attach(node: Node) -> None:
    pods = await node.pods()
    await pods.create(pod("tty", [{"name": "c", "image": SHELL, "command": ["sh"], "stdin": True, "tty": True}]))
    await wait_for(lambda: pods.get("tty", namespace="default"), running, timeout=60, what="tty Running")
    for version in VERSIONS:
        kubectl_cmd = f"{KUBECTL_DIR}/kubectl.{version} --kubeconfig {node.server.kubeconfig}"
        # the size reaches the runtime on the resize stream while the command starts: ask after a moment
        script = f"stty cols 91 rows 37; {kubectl_cmd} exec -it tty -- sh -c 'sleep 1; stty size; tty'"
        proc = await asyncio.create_subprocess_exec("script", "-qec", script, "/dev/null", stdin=PIPE, stdout=PIPE,
                                                    stderr=PIPE)
        out, err = await asyncio.wait_for(proc.communicate(b""), 60)
        assert b"37 91" in out, (version, out, err)
        assert b"/dev/pts/" in out

        attach = f"stty cols 77 rows 22; {kubectl_cmd} attach -it tty"
        proc = await asyncio.create_subprocess_exec("script", "-qec", attach, "/dev/null", stdin=PIPE, stdout=PIPE,
                                                    stderr=PIPE)
        assert proc.stdin is not None
        assert proc.stdout is not None
        seen = b""
        try:
            while b"try pressing enter" not in seen:
                seen += await asyncio.wait_for(proc.stdout.read(4096), 30)
            # typed-ahead input may reach the shell before the runtime applied the size (as upstream): ask later
            proc.stdin.write(f"echo ATT$((40+{VERSIONS.index(version)})); sleep 1; stty size\n".encode())
            await proc.stdin.drain()
            want = f"ATT{40 + VERSIONS.index(version)}".encode()
            while want not in seen or b"22 77" not in seen:
                seen += await asyncio.wait_for(proc.stdout.read(4096), 30)
        finally:
            proc.kill()
            await proc.wait()

    # kubectl debug --target: the ephemeral container joins the target's pid namespace (its pid 1 is the
    # target's ``sh``); without --target it has its own (its pid 1 is itself); each runs once
    # it reads a line first, so it cannot finish before kubectl has attached (without stdin: EOF at once)
    show_init = ["--", "sh", "-c", "read go; tr '\\0' ' ' < /proc/1/cmdline; echo"]
    code, out, err = await kubectl(node, VERSIONS[-1], "debug", "-i", "tty", f"--image={SHELL}", "--target=c",
                                   "--container=dbg", *show_init, stdin=b"go\n")
    assert code == 0, err  # its output is read from its log below: attach may end before the last bytes
    code, _out, err = await kubectl(node, VERSIONS[-1], "debug", "tty", f"--image={SHELL}", "--container=own",
                                    *show_init)
    assert code == 0, err

    def done(p: dict[str, Any]) -> bool:
        states = {s["name"]: s["state"] for s in p["status"].get("ephemeralContainerStatuses") or []}
        return all("terminated" in states.get(n, {}) for n in ("dbg", "own"))

    got = await wait_for(lambda: pods.get("tty", namespace="default"), done, timeout=60, what="debug containers done")
    assert [s["state"]["terminated"]["exitCode"] for s in got["status"]["ephemeralContainerStatuses"]] == [0, 0]
    assert all(s["containerID"].startswith("containerd://") for s in got["status"]["ephemeralContainerStatuses"])
    code, out, err = await kubectl(node, VERSIONS[-1], "logs", "tty", "-c", "dbg")
    assert out.strip() == b"sh", (out, err)  # the target's
    code, out, err = await kubectl(node, VERSIONS[-1], "logs", "tty", "-c", "own")
    assert out.strip().startswith(b"sh -c"), (out, err)  # its own
