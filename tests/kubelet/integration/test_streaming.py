"""kubectl exec / port-forward / cp and the Python client's stream() and portforward(), end to end:
real kubectl binaries (SPDY: 1.27; WebSocket v5 and SPDY-over-WebSocket port-forward: 1.32, 1.33)
-> in-process API server (connect subresources, byte splice) -> kubelet streaming server -> process
runtime (nsenter, pty, sockets in the pod's namespace)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import socket
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.kubelet.integration.conftest import PY, Cluster, wait_for

KUBECTL_DIR = Path(os.path.realpath(shutil.which("kubectl") or "/nonexistent")).parent
VERSIONS = [v for v in ("1.27", "1.32", "1.33") if (KUBECTL_DIR / f"kubectl.{v}").exists()]
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not VERSIONS, reason="versioned kubectl binaries not installed")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def running(p: dict[str, Any]) -> bool:
    statuses = (p.get("status") or {}).get("containerStatuses") or [{}]
    return (p.get("status") or {}).get("phase") == "Running" and all("running" in c.get("state", {}) for c in statuses)


async def kubectl(cluster: Cluster, version: str, *args: str, stdin: bytes | None = None,
                  timeout: float = 60) -> tuple[int, bytes, bytes]:
    proc = await asyncio.create_subprocess_exec(
        str(KUBECTL_DIR / f"kubectl.{version}"), "--kubeconfig", str(cluster.server.kubeconfig), *args,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    return proc.returncode or 0, out, err


async def make_pod(cluster: Cluster, name: str, containers: list[dict[str, Any]]) -> dict[str, Any]:
    pods = await cluster.rc("v1", "pods")
    await pods.create({"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": name, "namespace": "default", "labels": {"app": name}},
                       "spec": {"nodeName": "node-1", "containers": containers}})
    return await wait_for(lambda: pods.get(name, namespace="default"), running, what=f"{name} Running")  # type: ignore[no-any-return]


@pytest.fixture
async def web(cluster: Cluster, tmp_path: Path) -> AsyncIterator[tuple[Cluster, int, Path]]:
    """A pod serving ``tmp_path/www`` over HTTP on a free port (host network), 10 MiB ``big.bin`` in it."""
    www = tmp_path / "www"
    www.mkdir()
    (www / "big.bin").write_bytes(os.urandom(10 * 1024 * 1024))
    (www / "index.html").write_text("hello from the pod\n")
    port = free_port()
    await make_pod(cluster, "web", [{"name": "c", "image": "python", "command": [
        PY, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(www)]}])
    return cluster, port, www


@pytest.mark.parametrize("version", VERSIONS)
async def test_exec_streams_and_exit_code(web: tuple[Cluster, int, Path], version: str) -> None:
    cluster, _port, _www = web
    code, out, err = await kubectl(cluster, version, "exec", "web", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert code == 3, err
    assert out == b"out\n"
    assert b"err\n" in err
    assert b"command terminated with exit code 3" in err
    code, out, err = await kubectl(cluster, version, "exec", "-i", "web", "--", "cat", stdin=b"hi\n")
    assert (code, out) == (0, b"hi\n"), err
    code, out, err = await kubectl(cluster, version, "exec", "web", "-c", "c", "--", "true")
    assert code == 0, err


async def _forward_checks(cluster: Cluster, version: str, target: str, remote: int, www: Path) -> None:
    """100 sequential requests, 20 concurrent connections and a 10 MiB download through port-forward."""
    local = free_port()
    proc = await asyncio.create_subprocess_exec(
        str(KUBECTL_DIR / f"kubectl.{version}"), "--kubeconfig", str(cluster.server.kubeconfig), "port-forward",
        target, f"{local}:{remote}", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert b"Forwarding from" in line
        url = f"http://127.0.0.1:{local}"

        def get(path: str) -> bytes:
            with urllib.request.urlopen(url + path, timeout=30) as r:
                return bytes(r.read())

        for _ in range(100):
            assert await asyncio.to_thread(get, "/index.html") == b"hello from the pod\n"
        bodies = await asyncio.gather(*(asyncio.to_thread(get, "/index.html") for _ in range(20)))
        assert bodies == [b"hello from the pod\n"] * 20
        big = await asyncio.to_thread(get, "/big.bin")
        assert hashlib.sha256(big).hexdigest() == hashlib.sha256((www / "big.bin").read_bytes()).hexdigest()
    finally:
        proc.terminate()
        await proc.wait()


@pytest.mark.parametrize("version", VERSIONS)
async def test_port_forward_pod(web: tuple[Cluster, int, Path], version: str) -> None:
    cluster, port, www = web
    await _forward_checks(cluster, version, "pod/web", port, www)


async def test_port_forward_service_and_proxies(web: tuple[Cluster, int, Path]) -> None:
    cluster, port, www = web
    services = await cluster.rc("v1", "services")
    meta = {"name": "websvc", "namespace": "default"}
    await services.create({"apiVersion": "v1", "kind": "Service", "metadata": meta,
                           "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80,
                                                                            "targetPort": port}]}})
    await _forward_checks(cluster, VERSIONS[-1], "svc/websvc", 80, www)
    version = VERSIONS[-1]
    code, out, err = await kubectl(cluster, version, "get", "--raw",
                                   f"/api/v1/namespaces/default/pods/web:{port}/proxy/index.html")
    assert (code, out) == (0, b"hello from the pod\n"), err
    code, out, err = await kubectl(cluster, version, "get", "--raw", "/api/v1/nodes/node-1/proxy/healthz")
    assert (code, out) == (0, b"ok"), err
    endpoints = await cluster.rc("v1", "endpoints")
    await endpoints.create({"apiVersion": "v1", "kind": "Endpoints", "metadata": meta, "subsets": [
        {"addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": "http", "port": port}]}]})
    code, out, err = await kubectl(cluster, version, "get", "--raw",
                                   "/api/v1/namespaces/default/services/websvc:http/proxy/index.html")
    assert (code, out) == (0, b"hello from the pod\n"), err


@pytest.mark.parametrize("version", VERSIONS)
async def test_cp_both_ways(web: tuple[Cluster, int, Path], version: str, tmp_path: Path) -> None:
    cluster, _port, _www = web
    src = tmp_path / "five.bin"
    src.write_bytes(os.urandom(5 * 1024 * 1024))
    inside = tmp_path / "inside"
    inside.mkdir()
    code, _out, err = await kubectl(cluster, version, "cp", str(src), f"default/web:{inside}/five.bin")
    assert code == 0, err
    assert (inside / "five.bin").read_bytes() == src.read_bytes()
    back = tmp_path / "back.bin"
    code, _out, err = await kubectl(cluster, version, "cp", f"default/web:{inside}/five.bin", str(back))
    assert code == 0, err
    assert back.read_bytes() == src.read_bytes()


async def test_errors_as_upstream(web: tuple[Cluster, int, Path]) -> None:
    cluster, _port, _www = web
    version = VERSIONS[-1]
    code, _out, err = await kubectl(cluster, version, "exec", "web", "-c", "nope", "--", "true")
    assert code != 0
    assert b"container nope is not valid for pod web" in err
    code, _out, err = await kubectl(cluster, version, "exec", "ghost", "--", "true")
    assert code != 0
    assert b'pods "ghost" not found' in err
    pods = await cluster.rc("v1", "pods")
    await pods.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "unbound", "namespace": "default"},
                       "spec": {"containers": [{"name": "c", "image": "x", "command": ["true"]}]}})
    code, _out, err = await kubectl(cluster, version, "exec", "unbound", "--", "true")
    assert code != 0
    assert b"pod unbound does not have a host assigned" in err


def _client(cluster: Cluster) -> Any:
    from kubernetes import client, config

    api_client = config.new_client_from_config(str(cluster.server.kubeconfig))
    return client.CoreV1Api(api_client)


async def test_python_client_exec_and_portforward(web: tuple[Cluster, int, Path]) -> None:
    cluster, port, _www = web
    from kubernetes.stream import portforward, stream

    api = _client(cluster)

    def run() -> tuple[str, int | None, str, str]:
        out = stream(api.connect_get_namespaced_pod_exec, "web", "default",
                     command=["sh", "-c", "echo out; echo err >&2; exit 3"], stderr=True, stdout=True, stdin=False,
                     tty=False, _preload_content=False)
        out.run_forever(timeout=30)
        code = out.returncode
        resp = stream(api.connect_get_namespaced_pod_exec, "web", "default", command=["cat"], stdin=True,
                      stdout=True, stderr=True, tty=False, _preload_content=False)
        resp.write_stdin("ping\n")
        line = ""
        while resp.is_open() and not line.endswith("\n"):
            resp.update(timeout=5)
            line += resp.read_stdout(timeout=1) or ""
        resp.close()
        plain = stream(api.connect_get_namespaced_pod_exec, "web", "default", command=["echo", "plain"],
                       stderr=True, stdout=True, stdin=False, tty=False)
        pf = portforward(api.connect_get_namespaced_pod_portforward, "web", "default", ports=str(port))
        sock = pf.socket(port)
        sock.setblocking(True)
        sock.sendall(b"GET /index.html HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        sock.close()
        pf.close()
        return data.decode(), code, line, plain

    body, code, line, plain = await asyncio.to_thread(run)
    assert code == 3
    assert line == "ping\n"
    assert plain == "plain\n"
    assert body.startswith("HTTP/1.0 200")
    assert body.endswith("hello from the pod\n")


async def test_tty_and_resize(web: tuple[Cluster, int, Path]) -> None:
    cluster, _port, _www = web
    for version in VERSIONS:
        script = (f"stty cols 91 rows 37; {KUBECTL_DIR}/kubectl.{version} --kubeconfig {cluster.server.kubeconfig} "
                  "exec -it web -- sh -c 'stty size; tty'")
        proc = await asyncio.create_subprocess_exec(
            "script", "-qec", script, "/dev/null", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(b""), 60)
        assert b"37 91" in out, (version, out, err)
        assert b"/dev/pts/" in out




async def test_attach_with_tty(cluster: Cluster) -> None:
    await make_pod(cluster, "tty", [{"name": "c", "image": "sh", "command": ["sh"], "stdin": True, "tty": True}])
    for version in VERSIONS:
        cmd = (f"stty cols 77 rows 22; {KUBECTL_DIR}/kubectl.{version} --kubeconfig {cluster.server.kubeconfig} "
               "attach -it tty")
        proc = await asyncio.create_subprocess_exec("script", "-qec", cmd, "/dev/null", stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.PIPE)
        assert proc.stdin is not None
        assert proc.stdout is not None
        out = b""
        try:
            while b"try pressing enter" not in out:
                out += await asyncio.wait_for(proc.stdout.read(4096), 30)
            proc.stdin.write(b"echo ATT$((40+2)); stty size\n")
            await proc.stdin.drain()
            while b"ATT42" not in out or b"22 77" not in out:
                out += await asyncio.wait_for(proc.stdout.read(4096), 30)
        finally:
            proc.kill()
            await proc.wait()
    await _debug_checks(cluster, VERSIONS[-1])


def _ephemeral(p: dict[str, Any], name: str) -> dict[str, Any]:
    return next((s for s in (p.get("status") or {}).get("ephemeralContainerStatuses") or [] if s["name"] == name), {})


async def _debug_checks(cluster: Cluster, version: str) -> None:
    """``kubectl debug`` into the running ``tty`` pod: ``-i`` attaches to the new ephemeral container, a
    plain one runs detached and ``kubectl logs -c`` reads it; each runs once (a failed one is never restarted,
    whatever the pod's restartPolicy) and is reported in ``ephemeralContainerStatuses``, never ready."""
    code, out, err = await kubectl(cluster, version, "debug", "-i", "tty", "--image=sh", "--target=c",
                                   "--container=dbg", "--", "sh", "-c", "read line; echo got-$line",
                                   stdin=b"hello\n")
    assert code == 0, err  # its output is checked in its log below: attach may end before the last bytes
    code, out, err = await kubectl(cluster, version, "debug", "tty", "--image=sh", "--container=dbg2", "--",
                                   "sh", "-c", "echo plain; exit 3")
    assert code == 0, err
    pods = await cluster.rc("v1", "pods")

    def both_done(p: dict[str, Any]) -> bool:
        return all("terminated" in _ephemeral(p, n).get("state", {}) for n in ("dbg", "dbg2"))

    got = await wait_for(lambda: pods.get("tty", namespace="default"), both_done, timeout=30,
                         what="both ephemeral containers terminated")
    dbg, dbg2 = _ephemeral(got, "dbg"), _ephemeral(got, "dbg2")
    assert dbg["state"]["terminated"]["exitCode"] == 0
    assert dbg2["state"]["terminated"]["exitCode"] == 3
    assert (dbg["ready"], dbg["restartCount"], "started" in dbg) == (False, 0, False)
    assert got["status"]["phase"] == "Running"
    assert "running" in got["status"]["containerStatuses"][0]["state"]
    code, out, err = await kubectl(cluster, version, "logs", "tty", "-c", "dbg")
    assert (code, out) == (0, b"got-hello\n"), err  # the line kubectl debug -i sent
    code, out, err = await kubectl(cluster, version, "logs", "tty", "-c", "dbg2")
    assert (code, out) == (0, b"plain\n"), err
    workers = cluster.kubelet.workers
    assert workers is not None
    worker = workers.workers[got["metadata"]["uid"]]
    syncs = worker.syncs
    await wait_for(lambda: asyncio.sleep(0, worker.syncs), lambda n: n >= syncs + 3, what="three more syncs")
    records = [r for sb in await cluster.kubelet.runtime.list_pod_sandboxes()
               for r in await cluster.kubelet.runtime.list_containers(sb.id) if r.name in ("dbg", "dbg2")]
    assert sorted(r.name for r in records) == ["dbg", "dbg2"]  # never restarted


def _processes_with(token: str) -> list[int]:
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


@pytest.mark.parametrize("version", VERSIONS)
async def test_client_disconnect_leaves_nothing_behind(web: tuple[Cluster, int, Path], version: str) -> None:
    cluster, _port, _www = web
    baseline = len(asyncio.all_tasks())
    token = f"{os.getpid()}{VERSIONS.index(version)}.5"  # an argument of sleep only this exec uses
    proc = await asyncio.create_subprocess_exec(
        str(KUBECTL_DIR / f"kubectl.{version}"), "--kubeconfig", str(cluster.server.kubeconfig), "exec", "-i", "web",
        "--", "sh", "-c", f"echo started; sleep {token}", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    assert await asyncio.wait_for(proc.stdout.readline(), 30) == b"started\n"
    assert _processes_with(f"sleep {token}")
    proc.kill()
    await proc.wait()
    await wait_for(lambda: asyncio.sleep(0, _processes_with(f"sleep {token}")), lambda pids: not pids,
                   what="the exec'd process to be killed")
    await wait_for(lambda: asyncio.sleep(0, len(asyncio.all_tasks())), lambda n: n <= baseline,
                   what="the streaming tasks to end")


async def test_idle_connections_are_closed(web: tuple[Cluster, int, Path]) -> None:
    cluster, _port, _www = web
    from sampan.kubelet.streaming.server import StreamingOptions

    assert cluster.kubelet.streaming is not None
    cluster.kubelet.streaming.options = StreamingOptions(idle_timeout=0.5)
    for version in VERSIONS:
        proc = await asyncio.create_subprocess_exec(
            str(KUBECTL_DIR / f"kubectl.{version}"), "--kubeconfig", str(cluster.server.kubeconfig), "exec", "-i",
            "web", "--", "cat", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        try:
            await asyncio.wait_for(proc.wait(), 30)  # stdin stays open: only the idle timeout ends it
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
