"""Streaming benchmark: exec round trips and port-forward throughput through the whole chain
(client -> API server -> kubelet -> process runtime), beside the same request sent straight to the pod.

    .venv/bin/python bench/streaming.py            # ~1-2 minutes
    .venv/bin/python bench/streaming.py --quick    # fewer rounds
    .venv/bin/python bench/streaming.py --quick --runtime containerd   # through CRI streaming

With ``--runtime containerd`` a private containerd is started (as the CRI tests do), the pod runs busybox
``httpd`` in its own network namespace, and "direct" is a download from the pod IP; every streaming path
then goes kubelet -> CRI Exec/PortForward -> containerd's streaming server.

It runs an API server and a kubelet (process runtime, host network, so the "pod IP" is 127.0.0.1 and
the direct figure is a plain loopback connection) in this process, starts a pod serving a file over
HTTP, and prints:

- exec round trip p50/p99 of ``kubectl exec POD -- true`` for each kubectl (1.27: SPDY; 1.33:
  WebSocket v5) — mostly kubectl's own start-up, printed beside ``kubectl version --client`` — and of
  the Python client's ``stream(connect_get_namespaced_pod_exec, ...)``;
- download MB/s of a 64 MiB file through ``kubectl port-forward`` (1.27 SPDY, 1.33 SPDY-over-WebSocket)
  and through the Python client's ``portforward()``, beside the direct download.

Run it under ``flock /tmp/sampan-net.lock`` like the process-runtime tests. 2 shared cores: the
figures are lower bounds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.apiserver import run_apiserver_inprocess

from sampan.client import Client, load_config
from sampan.kubelet.kubelet import Kubelet, KubeletOptions

KUBECTL_DIR = Path(os.path.realpath(shutil.which("kubectl") or "/nonexistent")).parent
SIZE = 64 * 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


async def timed_runs(argv: list[str], rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.DEVNULL,
                                                    stderr=asyncio.subprocess.DEVNULL)
        await proc.wait()
        out.append(time.perf_counter() - start)
    return out


def download(url: str) -> float:
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as r:
        n = len(r.read())
    assert n == SIZE, n
    return n / (time.perf_counter() - start) / 1e6


def serving(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError as err:
        return bool(getattr(err, "code", None))  # an HTTP error answer (404...) is a server too


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runtime", choices=("process", "containerd"), default="process")
    args = parser.parse_args()
    rounds = 5 if args.quick else 20
    tmp = Path(tempfile.mkdtemp(prefix="sampan-bench-streaming-"))
    www = tmp / "www"
    www.mkdir()
    (www / "big.bin").write_bytes(os.urandom(SIZE))
    port = free_port()
    containerd = start_containerd(tmp) if args.runtime == "containerd" else None
    async with run_apiserver_inprocess(tmp / "apiserver") as server:
        client = Client(load_config(str(server.kubeconfig)))
        options = KubeletOptions(node_name="node-1", root_dir=tmp / "node", port=0, sync_period=0.2)
        container: dict[str, object] = {"name": "c", "image": "python", "command": [
            sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(www)]}
        if containerd is not None:
            options = dataclasses.replace(options, runtime="containerd", pod_cidr=POD_CIDR,
                                          container_runtime_endpoint=containerd[0].endpoint)
            port = 8080
            serve = f"mkdir /www; head -c {SIZE} /dev/urandom > /www/big.bin; exec httpd -f -p 8080 -h /www"
            container = {"name": "c", "image": SHELL, "command": ["sh", "-c", serve]}
        kubelet = Kubelet(client, options)
        task = asyncio.create_task(kubelet.run())
        try:
            await asyncio.wait_for(kubelet.ready.wait(), 30)
            pods = await client.resource("v1", "pods")
            await pods.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default"},
                               "spec": {"nodeName": "node-1", "containers": [container]}})
            while True:
                p = await pods.get("web", namespace="default")
                if (p.get("status") or {}).get("phase") == "Running":
                    break
                await asyncio.sleep(0.1)
            pod_ip = p["status"]["podIP"] if containerd is not None else "127.0.0.1"
            for _ in range(300):  # the server is up (containerd: once the file is written)
                if await asyncio.to_thread(serving, f"http://{pod_ip}:{port}/"):
                    break
                await asyncio.sleep(0.1)
            kc = ["--kubeconfig", str(server.kubeconfig)]
            print(f"exec round trip ({rounds} rounds), ms")
            for version in ("1.27", "1.33"):
                binary = str(KUBECTL_DIR / f"kubectl.{version}")
                base = await timed_runs([binary, "version", "--client"], rounds)
                runs = await timed_runs([binary, *kc, "exec", "web", "--", "true"], rounds)
                print(f"  kubectl {version} exec true   p50 {pct(runs, .5):7.1f}  p99 {pct(runs, .99):7.1f}"
                      f"   (kubectl version --client p50 {pct(base, .5):6.1f})")
            from kubernetes import client as kclient
            from kubernetes import config as kconfig
            from kubernetes.stream import portforward, stream

            api = kclient.CoreV1Api(kconfig.new_client_from_config(str(server.kubeconfig)))

            def py_exec() -> list[float]:
                out = []
                for _ in range(rounds * 2):
                    start = time.perf_counter()
                    stream(api.connect_get_namespaced_pod_exec, "web", "default", command=["true"], stderr=True,
                           stdout=True, stdin=False, tty=False)
                    out.append(time.perf_counter() - start)
                return out

            runs = await asyncio.to_thread(py_exec)
            print(f"  python client stream()     p50 {pct(runs, .5):7.1f}  p99 {pct(runs, .99):7.1f}")
            print(f"port-forward download of {SIZE >> 20} MiB, MB/s")
            direct = await asyncio.to_thread(download, f"http://{pod_ip}:{port}/big.bin")
            print(f"  direct to the pod          {direct:8.1f}")
            for version in ("1.27", "1.33"):
                local = free_port()
                proc = await asyncio.create_subprocess_exec(
                    str(KUBECTL_DIR / f"kubectl.{version}"), *kc, "port-forward", "pod/web", f"{local}:{port}",
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
                assert proc.stdout is not None
                await proc.stdout.readline()
                try:
                    rate = await asyncio.to_thread(download, f"http://127.0.0.1:{local}/big.bin")
                finally:
                    proc.terminate()
                    await proc.wait()
                print(f"  kubectl {version} port-forward {rate:8.1f}   ({rate / direct:.2f} of direct)")

            def py_forward() -> float:
                pf = portforward(api.connect_get_namespaced_pod_portforward, "web", "default", ports=str(port))
                sock = pf.socket(port)
                sock.setblocking(True)
                start = time.perf_counter()
                sock.sendall(b"GET /big.bin HTTP/1.0\r\n\r\n")
                n = 0
                while chunk := sock.recv(1 << 16):
                    n += len(chunk)
                sock.close()
                pf.close()
                return n / (time.perf_counter() - start) / 1e6

            rate = await asyncio.to_thread(py_forward)
            print(f"  python client portforward  {rate:8.1f}   ({rate / direct:.2f} of direct)")
        finally:
            try:  # the pod goes before the kubelet stops (stopping it closes the runtime's gRPC channel)
                for sb in await kubelet.runtime.list_pod_sandboxes():
                    for ctr in await kubelet.runtime.list_containers(sb.id):
                        await kubelet.runtime.stop_container(ctr.id, 0)
                    await kubelet.runtime.remove_pod_sandbox(sb.id)
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                await client.close()
                if containerd is not None:
                    stop_containerd(*containerd)
    shutil.rmtree(tmp, ignore_errors=True)


POD_CIDR = "100.64.251.0/24"
BRIDGE = "sampanbs0"
SHELL = "sampan.test/shell:1"


def start_containerd(tmp: Path) -> tuple[Any, subprocess.Popen[bytes]]:
    """A private containerd (like tests/kubelet/cri/conftest.py) with the pause and busybox shell images."""
    from sampan.cli import containerd_node as cn
    from sampan.testing import oci

    directory = Path(tempfile.mkdtemp(prefix="sampan-bs-", dir="/tmp"))  # short socket paths
    layout = cn.ContainerdLayout(directory)
    cn.write_config(layout, bridge=BRIDGE)
    proc = cn.start(layout)
    cn.wait_ready(layout, proc)
    cn.load_pause_image(layout)
    archive = directory / "shell.tar"
    oci.build_image(archive, name=SHELL, cmd=("sh",))
    cn.import_archive(layout, archive)
    return layout, proc


def stop_containerd(layout: Any, proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(10)
    subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)
    subprocess.run(["umount", "-R", str(layout.directory / "root")], capture_output=True)
    shutil.rmtree(layout.directory, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
