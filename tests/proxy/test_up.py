"""Issue #16's acceptance on ``sampan up --nodes 2`` (process runtime): a 3-replica Deployment spread on
both nodes, ``kubectl expose``-d; pods on each node reach it by its cluster DNS name through kube-proxy,
and the API server through ``kubernetes.default.svc``; NodePort, LoadBalancer, readiness, session
affinity, no endpoints, kill -9 of kube-proxy, scaling; ``sampan down`` leaves no kernel object behind.
One cluster for all checks. Root only; run under ``flock /tmp/sampan-net.lock``."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cluster import E2ECluster, all_ready
from tests.proxy.harness import wait_for
from tests.proxy.lab import http_get, skip_reason

pytestmark = [pytest.mark.slow, pytest.mark.skipif(bool(skip_reason()), reason=skip_reason())]

NAME = "web.default.svc.cluster.local"
CLUSTER_DNS = "100.96.0.10"

SERVER = ("import http.server,os\n"
          "class H(http.server.BaseHTTPRequestHandler):\n"
          "    def do_GET(self):\n"
          "        b=os.environ['POD_NAME'].encode(); self.send_response(200)\n"
          "        self.send_header('Content-Length',str(len(b))); self.end_headers(); self.wfile.write(b)\n"
          "    def log_message(self,*a): pass\n"
          "http.server.ThreadingHTTPServer(('0.0.0.0',8080),H).serve_forever()\n")

# In a pod: its resolv.conf nameservers; the API server through the `kubernetes` Service's name and VIP
# (endpoint 127.0.0.1:<port>: DNAT to loopback); a warm-up until all three replicas answered through the
# cluster DNS name (they become ready one by one, and this node's proxy programs each when its EndpointSlice
# says ready: a warm-up bounded by a request count could end after a few seconds of answers from the first
# one), then 300 counted requests.
CLIENT = ("import collections,json,time,urllib.request\n"
          "ns=[l.split()[1] for l in open('/etc/resolv.conf') if l.startswith('nameserver')]\n"
          "print('nameservers',ns,flush=True)\n"
          "api=''\n"
          "for _ in range(20):\n"
          "    try: api=json.loads(urllib.request.urlopen('https://kubernetes.default.svc:443/version',timeout=2,"
          "context=__import__('ssl')._create_unverified_context())"
          ".read()).get('gitVersion',''); break\n"
          "    except Exception as e: api='ERR '+repr(e); time.sleep(0.2)\n"
          "print('api',api,flush=True)\n"
          "seen=set()\n"
          "end=time.monotonic()+240\n"
          "while len(seen)<3 and time.monotonic()<end:\n"
          "    try: seen.add(urllib.request.urlopen('http://" + NAME + "/',timeout=3).read())\n"
          "    except Exception: time.sleep(0.1)\n"
          "print('warm',len(seen),flush=True)\n"
          "c=collections.Counter()\n"
          "for _ in range(300):\n"
          "    try: c[urllib.request.urlopen('http://" + NAME + "/',timeout=3).read().decode()]+=1\n"
          "    except Exception as e: c['ERR '+type(e).__name__]+=1\n"
          "print(json.dumps({'nameservers':ns,'api':api,'warm':len(seen),'counts':c}), flush=True)\n"
          "time.sleep(3600)\n")

PROBE_SERVER = SERVER.replace("os.environ['POD_NAME']", "'ready'")


def pod_yaml(name: str, script: str, *, node: str = "", labels: str = "{}", extra: str = "") -> str:
    quoted = script.replace("\n", "\\n").replace('"', '\\"')
    node_line = f"\n  nodeName: {node}" if node else ""
    return f"""---
apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {labels}}}
spec:{node_line}
  terminationGracePeriodSeconds: 1
  containers:
  - {{name: c, image: python, command: [python3, -c, "{quoted}"]{extra}}}
"""


def deployment() -> str:
    server = SERVER.replace("\n", "\\n").replace('"', '\\"')
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
"""


SERVICES = """---
apiVersion: v1
kind: Service
metadata: {name: web-lb}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080, nodePort: 30180}]
---
apiVersion: v1
kind: Service
metadata: {name: web-sticky}
spec:
  selector: {app: web}
  sessionAffinity: ClientIP
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: probe}
spec:
  selector: {role: probe}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: empty}
spec:
  selector: {role: nothing-matches}
  ports: [{port: 80, targetPort: 8080}]
"""


def probe_pods() -> str:
    """Two pods behind ``probe``: one ready, one whose readiness probe always fails (a closed port)."""
    return (pod_yaml("probe-ready", PROBE_SERVER, labels="{role: probe}",
                     extra=", readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}")
            + pod_yaml("probe-unready", PROBE_SERVER.replace("'ready'", "'unready'"), labels="{role: probe}",
                       extra=", readinessProbe: {tcpSocket: {port: 9}, periodSeconds: 1}"))


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


def client_report(cluster: E2ECluster, pod: str, timeout: float) -> dict[str, Any]:
    """The JSON report a client pod prints last; on timeout, fails with what it printed so far."""
    deadline = time.monotonic() + timeout
    out = subprocess.CompletedProcess[str]([], 0, "", "")
    while time.monotonic() < deadline:
        out = cluster.run("logs", pod)
        lines = out.stdout.strip().splitlines()
        if lines and lines[-1].startswith("{"):
            return dict(json.loads(lines[-1]))
        time.sleep(0.5)
    raise AssertionError(f"{pod} did not report: stdout={out.stdout!r} stderr={out.stderr!r} "
                         f"status={cluster.pod(pod).get('status')}")


def cluster_ip(cluster: E2ECluster, name: str, namespace: str = "default") -> str:
    return str(cluster.get("service", name, "-n", namespace)["spec"]["clusterIP"])


def hits(url: str, count: int) -> collections.Counter[str]:
    got: collections.Counter[str] = collections.Counter()
    for _ in range(count):
        try:
            got[http_get(url)] += 1
        except urllib.error.URLError as err:  # the socket's own error is its reason
            got[f"ERR {type(err.reason).__name__}"] += 1
        except OSError as err:
            got[f"ERR {type(err).__name__}"] += 1
    return got


def slice_ready_pods(cluster: E2ECluster, service: str) -> set[str]:
    """The pods a Service's EndpointSlices list as ready."""
    slices = cluster.get("endpointslices", "-l", f"kubernetes.io/service-name={service}")["items"]
    return {str((e.get("targetRef") or {}).get("name")) for s in slices for e in s.get("endpoints") or []
            if (e.get("conditions") or {}).get("ready")}


def ready_names(cluster: E2ECluster, selector: str, count: int) -> set[str] | None:
    pods = cluster.pods(selector)
    ready = {p["metadata"]["name"] for p in pods if all_ready(p) and not p["metadata"].get("deletionTimestamp")}
    return ready if len(ready) == count and len(pods) == count else None


def proxy_pids(cluster: E2ECluster) -> list[int]:
    """The kube-proxy processes of this cluster (their command line names a kubeconfig under its data dir:
    each component has its own since the cluster is TLS)."""
    data_dir = str(cluster.data_dir)
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            words = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if "proxy" in words and "--hostname-override" in words and any(w.startswith(data_dir) for w in words):
            out.append(int(entry.name))
    return out


def test_services_carry_traffic_on_two_nodes(cluster: E2ECluster) -> None:
    """#16's acceptance on one cluster: DNS name through kube-proxy from a pod on each node, the
    ``kubernetes`` Service from pods, NodePort, LoadBalancer, readiness, session affinity, no endpoints,
    scaling, and a kill -9 of kube-proxy."""
    assert routed_to_vip_device("100.96.0.50")  # the range is routed before anything is sent
    assert routed_to_vip_device("100.127.0.200")
    # the DNS component creates its Service when it starts, which may be just after the cluster is ready
    wait_for(lambda: cluster.run("get", "service", "kube-dns", "-n", "kube-system").returncode == 0 or None,
             "the kube-dns Service", timeout=60)
    assert cluster_ip(cluster, "kube-dns", "kube-system") == CLUSTER_DNS
    cluster.apply(deployment())
    cluster.kubectl("expose", "deployment", "web", "--port", "80", "--target-port", "8080")
    cluster.apply(SERVICES + probe_pods()
                  + "".join(pod_yaml(f"client-{i}", CLIENT, node=node) for i, node in enumerate(cluster.nodes)))
    names = wait_for(lambda: ready_names(cluster, "app=web", 3), "3 ready web pods", timeout=90)
    assert len({cluster.pod(n)["spec"]["nodeName"] for n in names}) == 2
    wait_for(lambda: slice_ready_pods(cluster, "web") == names or None, "web's EndpointSlices list 3 ready", timeout=60)
    vip = cluster_ip(cluster, "web")
    assert routed_to_vip_device(vip)

    # From a pod on each node: resolv.conf -> cluster DNS, the name resolves, 300 requests reach all three.
    for i in range(len(cluster.nodes)):
        report = client_report(cluster, f"client-{i}", timeout=240)
        assert report["nameservers"] == [CLUSTER_DNS], report
        assert report["api"].startswith("v"), report  # kubernetes.default.svc through the VIP to 127.0.0.1
        assert report["warm"] == 3, report  # every endpoint answered before the counted requests
        assert set(report["counts"]) == names, report
        assert sum(report["counts"].values()) == 300

    # NodePort from the host, and the LoadBalancer ingress IP.
    wait_for(lambda: set(hits("http://127.0.0.1:30180/", 30)) <= names or None, "node port answers", timeout=30)
    lb_ip = wait_for(lambda: ((cluster.get("service", "web-lb").get("status") or {}).get("loadBalancer") or {})
                     .get("ingress", [{}])[0].get("ip"), "load-balancer ingress", timeout=30)
    assert lb_ip.startswith("100.127.0.")
    assert routed_to_vip_device(lb_ip)
    wait_for(lambda: set(hits(f"http://{lb_ip}/", 30)) <= names or None, "load-balancer IP answers", timeout=30)

    # sessionAffinity ClientIP: 50 requests from one client land on one backend.
    sticky = cluster_ip(cluster, "web-sticky")
    wait_for(lambda: set(hits(f"http://{sticky}/", 5)) <= names or None, "sticky service answers", timeout=30)
    landed = hits(f"http://{sticky}/", 50)
    assert len(landed) == 1, landed
    assert set(landed) <= names, landed

    # A pod failing readiness gets no traffic.
    probe = cluster_ip(cluster, "probe")
    wait_for(lambda: hits(f"http://{probe}/", 5) == {"ready": 5} or None, "probe service answers", timeout=60)
    assert cluster.pod("probe-unready")["status"]["phase"] == "Running"
    assert hits(f"http://{probe}/", 50) == {"ready": 50}

    # A Service without endpoints: connection refused at once (REJECT, not a timeout).
    assert hits(f"http://{cluster_ip(cluster, 'empty')}/", 3) == {"ERR ConnectionRefusedError": 3}

    # kill -9 of every kube-proxy: the rules stay, traffic keeps flowing.
    pids = proxy_pids(cluster)
    assert len(pids) == len(cluster.nodes), pids
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    assert set(hits(f"http://{vip}/", 60)) == names

    # Scale to 5, then to 1: traffic follows.
    cluster.kubectl("scale", "deployment", "web", "--replicas", "5")
    five = wait_for(lambda: ready_names(cluster, "app=web", 5), "5 ready web pods", timeout=90)
    wait_for(lambda: set(hits(f"http://{vip}/", 100)) == five or None, "traffic reaches all five", timeout=60)
    cluster.kubectl("scale", "deployment", "web", "--replicas", "1")
    one = wait_for(lambda: ready_names(cluster, "app=web", 1), "1 web pod", timeout=90)
    wait_for(lambda: set(hits(f"http://{vip}/", 30)) == one or None, "traffic only to the one left", timeout=60)


def sampan_links() -> list[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    return [line.split(":")[1].strip() for line in out.splitlines() if "sampan" in line]


def test_down_leaves_no_kernel_object(cluster: E2ECluster) -> None:
    netns_before = set(subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split())
    runtime_netns = {json.loads(p.read_text()).get("netns", "").rsplit("/", 1)[-1]
                     for p in cluster.data_dir.glob("kubelet/*/runtime/sandboxes/*/sandbox.json")} - {""}
    assert runtime_netns <= netns_before  # pods had their own namespaces
    down = subprocess.run([sys.executable, "-m", "sampan.cli.main", "down", "--data-dir", str(cluster.data_dir)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert down.returncode == 0, down.stderr
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    assert "sampan" not in tables, tables
    assert not routed_to_vip_device("100.96.0.50")
    assert sampan_links() == [], sampan_links()
    netns_after = set(subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split())
    assert not runtime_netns & netns_after
    routes = subprocess.run(["ip", "route", "show", "table", "all"], capture_output=True, text=True).stdout
    assert not [r for r in routes.splitlines() if "sampan" in r]
