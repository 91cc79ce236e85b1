"""The real kubectl 1.32 and 1.33 generator commands, which send protobuf bodies and ask for protobuf
answers, against a real ``sampan apiserver`` process.

Each created object is read back with ``-o json`` (JSON) and checked; ``--dry-run=server`` must answer
and store nothing; commands for resources sampan does not serve must fail with a clean NotFound
(never 415 or 500). ``describe`` reads with protobuf (object and event list).
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sampan.apiserver.registry.catalog import Catalog
from tests.apiserver.test_kubectl import Kubectl
from tests.apiserver.test_kubectl_matrix import versioned_kubectl
from tests.support.apiserver import APIServerHandle, run_apiserver_process

VERSIONS = ("1.32", "1.33")

# (argv after "create" with the object's name as {}, name, kind as kubectl prints it, resource for "get")
GENERATORS = [
    (["deployment", "{}", "--image=nginx:1.27", "--replicas=2", "--port=80"], "web", "deployment.apps", "deployment"),
    (["configmap", "{}", "--from-literal=a=b", "--from-literal=c=d"], "cm1", "configmap", "configmap"),
    (["secret", "generic", "{}", "--from-literal=user=admin"], "s1", "secret", "secret"),
    (["secret", "docker-registry", "{}", "--docker-username=u", "--docker-password=p"], "reg", "secret", "secret"),
    (["job", "{}", "--image=busybox", "--", "echo", "hi"], "j1", "job.batch", "job"),
    (["service", "clusterip", "{}", "--tcp=80:8080"], "svc1", "service", "service"),
    (["service", "nodeport", "{}", "--tcp=80:8080"], "np1", "service", "service"),
    (["serviceaccount", "{}"], "sa1", "serviceaccount", "serviceaccount"),
]


def named(argv: list[str], name: str) -> list[str]:
    return [name if a == "{}" else a for a in argv]


def served(resource: str, group: str) -> bool | None:
    """True/False for a resource the catalog does / does not serve; None for a subresource of a served
    resource (listed in discovery, but maybe without a handler yet: either outcome is fine)."""
    base, _, sub = resource.partition("/")
    for s in Catalog.builtin().strategies():
        if s.info.resource == base and s.info.group == group:
            return None if sub else True
    return False


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[APIServerHandle]:
    with run_apiserver_process(tmp_path_factory.mktemp("protobuf-kubectl")) as handle:
        yield handle


@pytest.fixture(params=VERSIONS)
def kubectl(request: pytest.FixtureRequest, server: APIServerHandle, tmp_path: Path) -> Kubectl:
    binary = versioned_kubectl(request.param)
    if binary is None:
        pytest.skip(f"kubectl.{request.param} is not installed")
    return Kubectl(binary, server, tmp_path / "cache")


def namespace_for(kubectl: Kubectl) -> str:
    ns = "pb-" + Path(kubectl.binary).name.replace("kubectl.", "").replace(".", "")
    if kubectl.run("get", "namespace", ns, check=False).returncode != 0:
        assert kubectl.out("create", "namespace", ns).strip() == f"namespace/{ns} created"
    return ns


def get_json(kubectl: Kubectl, ns: str, resource: str, name: str) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(kubectl.out("get", resource, name, "-n", ns, "-o", "json",
                                         "--show-managed-fields"))
    return out


def test_generator_commands_create_what_they_say(kubectl: Kubectl) -> None:
    ns = namespace_for(kubectl)
    for argv, name, printed, _ in GENERATORS:
        assert kubectl.out("create", "-n", ns, *named(argv, name)).strip() == f"{printed}/{name} created"
    dep = get_json(kubectl, ns, "deployment", "web")
    assert dep["spec"]["replicas"] == 2
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "nginx:1.27"
    assert container["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert dep["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    assert dep["metadata"]["managedFields"][0]["manager"] == "kubectl-create"
    assert get_json(kubectl, ns, "configmap", "cm1")["data"] == {"a": "b", "c": "d"}
    secret = get_json(kubectl, ns, "secret", "s1")
    assert secret["type"] == "Opaque"
    assert base64.b64decode(secret["data"]["user"]) == b"admin"
    assert get_json(kubectl, ns, "secret", "reg")["type"] == "kubernetes.io/dockerconfigjson"
    job = get_json(kubectl, ns, "job", "j1")
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["echo", "hi"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    svc = get_json(kubectl, ns, "service", "svc1")
    assert svc["spec"]["type"] == "ClusterIP"
    assert svc["spec"]["ports"][0]["port"] == 80
    assert svc["spec"]["ports"][0]["targetPort"] == 8080
    assert svc["spec"]["selector"] == {"app": "svc1"}
    assert get_json(kubectl, ns, "service", "np1")["spec"]["type"] == "NodePort"
    assert get_json(kubectl, ns, "serviceaccount", "sa1")["metadata"]["name"] == "sa1"
    # a second create is a clean AlreadyExists (a protobuf Status kubectl decodes)
    again = kubectl.run("create", "configmap", "cm1", "-n", ns, check=False)
    assert again.returncode != 0
    assert 'configmaps "cm1" already exists' in again.stderr


def test_dry_run_server_answers_and_stores_nothing(kubectl: Kubectl) -> None:
    ns = namespace_for(kubectl)
    name = "dry"
    for argv, _, printed, resource in GENERATORS:
        out = kubectl.out("create", "-n", ns, "--dry-run=server", "-o", "json", *named(argv, name))
        obj = json.loads(out)
        assert obj["metadata"]["name"] == name, printed
        assert obj["metadata"]["uid"], printed
        assert obj["metadata"]["namespace"] == ns
        gone = kubectl.run("get", resource, name, "-n", ns, check=False)
        assert gone.returncode != 0, printed
        assert "NotFound" in gone.stderr, printed
    dry_ns = kubectl.out("create", "namespace", "dry-ns", "--dry-run=server").strip()
    assert dry_ns == "namespace/dry-ns created (server dry run)"
    assert kubectl.run("get", "namespace", "dry-ns", check=False).returncode != 0


def test_describe_reads_protobuf(kubectl: Kubectl) -> None:
    """``describe pod`` GETs the Pod and lists its events with a protobuf-first Accept."""
    ns = namespace_for(kubectl)
    kubectl.run("create", "-n", ns, "-f", "-", stdin=POD.replace("name: src", "name: described"), check=False)
    pod = get_json(kubectl, ns, "pod", "described")
    event = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "described.1"},
             "involvedObject": {"kind": "Pod", "name": "described", "namespace": ns, "uid": pod["metadata"]["uid"]},
             "reason": "Scheduled", "message": "assigned to node-1", "type": "Normal", "count": 1,
             "firstTimestamp": "2026-11-26T10:00:00Z", "lastTimestamp": "2026-11-26T10:00:00Z",
             "source": {"component": "default-scheduler"}}
    kubectl.run("create", "-n", ns, "-f", "-", stdin=json.dumps(event), check=False)
    out = kubectl.out("describe", "pod", "described", "-n", ns)
    assert "described" in out
    assert "nginx" in out
    assert "assigned to node-1" in out


def test_priorityclass_when_served(kubectl: Kubectl) -> None:
    name = "pc-" + Path(kubectl.binary).name.replace("kubectl.", "").replace(".", "")
    proc = kubectl.run("create", "priorityclass", name, "--value=100", check=False)
    if not served("priorityclasses", "scheduling.k8s.io"):
        assert proc.returncode != 0
        assert "could not find the requested resource" in proc.stderr
        return
    assert proc.stdout.strip() == f"priorityclass.scheduling.k8s.io/{name} created", proc.stderr
    assert json.loads(kubectl.out("get", "priorityclass", name, "-o", "json"))["value"] == 100


def test_server_logged_no_protobuf_fallbacks(server: APIServerHandle) -> None:
    assert "cannot answer" not in server.log_text()
    assert "Traceback" not in server.log_text()


POD = """\
apiVersion: v1
kind: Pod
metadata: {name: src, labels: {app: src}}
spec:
  containers:
  - name: c
    image: nginx
    env: [{name: A, value: b}]
    resources: {limits: {cpu: 100m, memory: 64Mi}}
    ports: [{containerPort: 80}]
"""


def _wait_for(predicate: Callable[[], bool], *, what: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while not predicate():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"kubectl never {what}; its log:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.05)


def test_kubectl_debug_copy_lists_and_watches_with_protobuf(kubectl: Kubectl, tmp_path: Path) -> None:
    """``kubectl debug --copy-to -it`` GETs the Pod and POSTs the copy (full PodSpec) in protobuf, then
    lists and watches it with client-go's typed informer (protobuf list and watch frames) until the debug
    container runs; only a decoded MODIFIED frame makes it try to attach (404 here: no attach yet)."""
    ns = namespace_for(kubectl)
    kubectl.out("create", "-n", ns, "-f", "-", stdin=POD)
    log = tmp_path / "debug.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(kubectl.argv("debug", "-n", ns, "src", "--copy-to=dbg-copy", "--image=busybox",
                                             "--container=dbg", "-it", "-v=8"),
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_for(lambda: "&watch=true" in log.read_text(errors="replace"), what="started its watch", proc=proc,
                  log=log)
        copy = get_json(kubectl, ns, "pod", "dbg-copy")
        containers = {c["name"]: c for c in copy["spec"]["containers"]}
        assert containers["c"]["env"] == [{"name": "A", "value": "b"}]
        assert containers["c"]["resources"]["limits"] == {"cpu": "100m", "memory": "64Mi"}
        assert containers["dbg"]["image"] == "busybox"
        copy["status"] = {"phase": "Running", "containerStatuses": [{
            "name": "dbg", "ready": True, "restartCount": 0, "image": "busybox", "imageID": "",
            "state": {"running": {"startedAt": "2026-11-26T10:00:00Z"}}}]}
        url = f"{kubectl.server.url}/api/v1/namespaces/{ns}/pods/dbg-copy/status"
        req = urllib.request.Request(url, data=json.dumps(copy).encode(), method="PUT",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 200
        _wait_for(lambda: "dbg-copy/attach" in log.read_text(errors="replace"), what="tried to attach",
                  proc=proc, log=log)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
    text = log.read_text(errors="replace")
    assert "Content-Type: application/vnd.kubernetes.protobuf;stream=watch" in text  # -v=8 prints headers
    assert "unable to decode" not in text
    assert "415 Unsupported Media Type" not in text
