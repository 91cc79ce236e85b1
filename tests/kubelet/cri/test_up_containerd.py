"""``sampan up --nodes 2 --runtime containerd``: a private containerd per node, pods from a local image
answering HTTP on their pod IPs from the host and from a pod on the other node (no NAT), and ``sampan
down`` leaving no sandbox, bridge or network namespace behind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from sampan.cli import containerd_node as cn
from sampan.testing import oci
from tests.kubelet.cri.conftest import SHELL
from tests.kubelet.cri.conftest import pytestmark as needs_containerd
from tests.support.apiserver import free_port

pytestmark = [pytest.mark.slow, needs_containerd,
              pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")]
T = TypeVar("T")

SERVE = 'mkdir -p /www && echo "hello from $(hostname)" > /www/index.html && exec httpd -f -p 8080 -h /www'
WEB = f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: 4
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      terminationGracePeriodSeconds: 1
      topologySpreadConstraints:
      - {{maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule,
          labelSelector: {{matchLabels: {{app: web}}}}}}
      containers:
      - name: web
        image: {SHELL}
        command: [sh, -c, '{SERVE}']
"""


def poll(fetch: Callable[[], T], ok: Callable[[T], bool], *, timeout: float = 90.0, what: str = "") -> T:
    deadline = time.monotonic() + timeout
    last = fetch()
    while not ok(last):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last: {last}")
        time.sleep(0.5)
        last = fetch()
    return last


@pytest.fixture
def data_dir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="sampan-upc-", dir="/tmp"))
    try:
        yield d
    finally:
        subprocess.run([sys.executable, "-m", "sampan.cli.main", "down", "--data-dir", str(d)],
                       capture_output=True, timeout=120, check=False)
        shutil.rmtree(d, ignore_errors=True)


def test_two_nodes_pod_to_pod_and_down(data_dir: Path) -> None:
    env = {**os.environ, "KUBECONFIG": str(data_dir / "kubeconfig")}

    def kubectl(*args: str, stdin: str | None = None) -> str:  # the dispatcher: the server's minor (1.32)
        proc = subprocess.run(["kubectl", *args], input=stdin, env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    def get(*args: str) -> Any:
        return json.loads(kubectl("get", *args, "-o", "json"))

    up = subprocess.run([sys.executable, "-m", "sampan.cli.main", "up", "--detach", "--nodes", "2", "--runtime",
                         "containerd", "--data-dir", str(data_dir), "--port", str(free_port()),
                         "--no-merge-kubeconfig"], capture_output=True, text=True, timeout=180, check=False)
    assert up.returncode == 0, up.stdout + up.stderr
    nodes = sorted(n["metadata"]["name"] for n in get("nodes")["items"])
    assert len(nodes) == 2
    archive = data_dir / "shell.tar"
    oci.build_image(archive, name=SHELL, cmd=("sh",))
    for node in nodes:  # setup through ctr, as `sampan image load` would
        cn.import_archive(cn.ContainerdLayout(data_dir / "containerd" / node), archive)
    kubectl("apply", "-f", "-", stdin=WEB)

    def web_pods() -> list[dict[str, Any]]:
        return [p for p in get("pods", "-l", "app=web")["items"] if p["status"].get("phase") == "Running"
                and p["status"].get("podIP")]

    pods = poll(web_pods, lambda ps: len(ps) == 4 and len({p["spec"]["nodeName"] for p in ps}) == 2,
                what="4 web pods Running on both nodes")
    cidrs = {n["metadata"]["name"]: n["spec"]["podCIDR"] for n in get("nodes")["items"]}
    for p in pods:
        ip, node = p["status"]["podIP"], p["spec"]["nodeName"]
        assert ip.startswith(cidrs[node].rsplit(".", 1)[0] + ".")
        body = poll(lambda ip=ip: _http(ip), lambda b: b.startswith("hello from"), timeout=20, what=f"HTTP {ip}")
        assert body.strip() == f"hello from {p['metadata']['name']}"
    # a pod on one node fetches from a web pod on the other one
    target = next(p for p in pods if p["spec"]["nodeName"] == nodes[0])
    client = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "client"}, "spec": {
        "nodeName": nodes[1], "restartPolicy": "Never", "containers": [{
            "name": "c", "image": SHELL, "command": ["wget", "-qO-", f"http://{target['status']['podIP']}:8080/"]}]}}
    kubectl("apply", "-f", "-", stdin=json.dumps(client))
    done = poll(lambda: get("pod", "client"), lambda p: p["status"].get("phase") in ("Succeeded", "Failed"),
                what="the client pod to finish")
    assert done["status"]["phase"] == "Succeeded", kubectl("logs", "client")
    assert kubectl("logs", "client").strip() == f"hello from {target['metadata']['name']}"

    # exec and port-forward through the API server and the TLS kubelet into containerd (CRI streaming), and
    # exec into a control-plane static pod, which this containerd node runs on the process runtime
    name = target["metadata"]["name"]
    assert kubectl("exec", name, "--", "hostname").strip() == name
    assert kubectl("exec", "-i", name, "--", "cat", stdin="piped\n") == "piped\n"
    assert target["status"]["containerStatuses"][0]["containerID"].startswith("containerd://")
    apiserver_pod = next(p for p in get("pods", "-n", "kube-system")["items"]
                         if p["metadata"]["name"].startswith("kube-apiserver"))
    assert apiserver_pod["status"]["containerStatuses"][0]["containerID"].startswith("process://")
    assert kubectl("exec", "-n", "kube-system", apiserver_pod["metadata"]["name"], "--", "echo", "cp") == "cp\n"
    local = free_port()
    forward = subprocess.Popen(["kubectl", "port-forward", f"pod/{name}", f"{local}:8080"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert forward.stdout is not None
        assert b"Forwarding from" in forward.stdout.readline()
        body = poll(lambda: _http("127.0.0.1", port=local), bool, timeout=20, what="port-forward")
        assert body.strip() == f"hello from {name}"
    finally:
        forward.terminate()
        forward.wait(10)

    down = subprocess.run([sys.executable, "-m", "sampan.cli.main", "down", "--data-dir", str(data_dir)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert down.returncode == 0, down.stderr
    assert "pod(s) of node" in down.stdout
    bridges = subprocess.run(["ip", "-j", "link", "show", "type", "bridge"], capture_output=True, text=True).stdout
    assert not [b for b in json.loads(bridges or "[]") if b["ifname"] in ("sampanc1", "sampanc2")]
    assert not list(data_dir.glob("containerd/*/state/**/netns/cni-*"))
    shims = subprocess.run(["pgrep", "-f", f"containerd-shim.*{data_dir}"], capture_output=True, text=True).stdout
    assert shims.strip() == ""


def _http(ip: str, *, port: int = 8080) -> str:
    try:
        with urllib.request.urlopen(f"http://{ip}:{port}/", timeout=2) as resp:
            return str(resp.read().decode())
    except OSError:
        return ""
