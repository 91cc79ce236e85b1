"""``sampan up --nodes 2`` with its kube-proxies: a 3-replica Deployment spread on both nodes behind a
ClusterIP and a LoadBalancer Service; clients on the host and in a pod on each node reach every backend;
``sampan down`` removes the tables and routes. Root only; run under ``flock /tmp/sampan-net.lock``."""

from __future__ import annotations

import ast
import collections
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cluster import E2ECluster
from tests.proxy.harness import wait_for
from tests.proxy.lab import http_get, skip_reason

pytestmark = [pytest.mark.slow, pytest.mark.skipif(bool(skip_reason()), reason=skip_reason())]

VIP = "100.96.0.50"

SERVER = ("import http.server,os\n"
          "class H(http.server.BaseHTTPRequestHandler):\n"
          "    def do_GET(self):\n"
          "        b=os.environ['POD_NAME'].encode(); self.send_response(200)\n"
          "        self.send_header('Content-Length',str(len(b))); self.end_headers(); self.wfile.write(b)\n"
          "    def log_message(self,*a): pass\n"
          "http.server.ThreadingHTTPServer(('0.0.0.0',8080),H).serve_forever()\n")

# Warm-up until all three replicas answered (they become ready one by one), then 300 counted requests.
CLIENT = ("import collections,time,urllib.request\n"
          "seen=set()\n"
          "for _ in range(1200):\n"
          "    try: seen.add(urllib.request.urlopen('http://" + VIP + "/',timeout=3).read())\n"
          "    except Exception: time.sleep(0.1)\n"
          "    if len(seen)==3: break\n"
          "c=collections.Counter()\n"
          "for _ in range(300):\n"
          "    try: c[urllib.request.urlopen('http://" + VIP + "/',timeout=3).read().decode()]+=1\n"
          "    except Exception as e: c['ERR '+type(e).__name__]+=1\n"
          "print(dict(c), flush=True)\n"
          "import time; time.sleep(3600)\n")


def manifests(nodes: list[str]) -> str:
    server = SERVER.replace("\n", "\\n").replace('"', '\\"')
    client = CLIENT.replace("\n", "\\n").replace('"', '\\"')
    clients = "".join(f"""---
apiVersion: v1
kind: Pod
metadata: {{name: client-{i}}}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 1
  containers:
  - {{name: c, image: python, command: [python3, -c, "{client}"]}}
""" for i, node in enumerate(nodes))
    return f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: 3
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
        image: python
        command: [python3, -c, "{server}"]
        env: [{{name: POD_NAME, valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}}}]
        readinessProbe: {{httpGet: {{path: /, port: 8080}}, periodSeconds: 1}}
---
apiVersion: v1
kind: Service
metadata: {{name: web}}
spec:
  clusterIP: {VIP}
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: 8080}}]
---
apiVersion: v1
kind: Service
metadata: {{name: web-lb}}
spec:
  type: LoadBalancer
  clusterIP: 100.96.0.51
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: 8080, nodePort: 30180}}]
{clients}"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2ECluster]:
    c = E2ECluster(tmp_path_factory.mktemp("up") / "data")
    c.start()
    try:
        yield c
    finally:
        c.stop()


def routed_to_vip_device(ip: str) -> bool:
    return "dev sampan-vip" in subprocess.run(["ip", "route", "get", ip], capture_output=True, text=True).stdout


def test_services_carry_traffic_on_two_nodes(cluster: E2ECluster, tmp_path: Path) -> None:
    assert routed_to_vip_device(VIP)  # routed before anything is sent
    assert routed_to_vip_device("100.127.0.200")
    cluster.apply(manifests(cluster.nodes))
    pods = wait_for(lambda: cluster.running("app=web", 3), "3 web pods", timeout=60)
    names = {p["metadata"]["name"] for p in pods}
    assert len({p["spec"]["nodeName"] for p in pods}) == 2

    def host_hits() -> set[str]:
        got = set()
        for _ in range(60):
            try:
                got.add(http_get(f"http://{VIP}/"))
            except OSError:
                got.add("ERR")
        return got

    wait_for(lambda: host_hits() == names, "host reaches all three backends", timeout=60)
    for i in range(len(cluster.nodes)):
        logs = wait_for(lambda i=i: cluster.run("logs", f"client-{i}").stdout.strip(), f"client-{i} done", timeout=90)
        counts = ast.literal_eval(logs)  # the client printed a dict literal of str -> int
        assert set(counts) == names, counts
        assert sum(counts.values()) == 300

    lb_ip = wait_for(lambda: ((cluster.get("service", "web-lb").get("status") or {}).get("loadBalancer") or {})
                     .get("ingress", [{}])[0].get("ip"), "load-balancer ingress", timeout=30)
    assert lb_ip.startswith("100.127.0.")
    assert routed_to_vip_device(lb_ip)
    wait_for(lambda: http_get(f"http://{lb_ip}/") in names, "load-balancer IP answers", timeout=30)
    assert collections.Counter(http_get("http://127.0.0.1:30180/") for _ in range(30)).keys() <= names


def test_down_removes_tables_and_routes(cluster: E2ECluster) -> None:
    cluster.stop()
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    assert not [t for t in tables.splitlines() if any(f"sampan-proxy-{n}" in t for n in cluster.nodes)]
    assert not routed_to_vip_device(VIP)
    assert subprocess.run(["ip", "link", "show", "sampan-vip"], capture_output=True).returncode != 0
