"""The real kubectl against a real ``sampan apiserver`` process.

``kubectl`` on PATH is the dispatcher: it reads ``/version`` and runs the 1.32 binary (our minor). The
other releases sit beside the real file (see PLATFORM.md); :mod:`test_kubectl_matrix` runs them. Each
test gets its own ``--cache-dir`` so discovery and OpenAPI caches never leak between servers.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from sampan.apiserver.registry.catalog import Catalog
from tests.support.apiserver import APIServerHandle, run_apiserver_process

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")

POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: {namespace}
  labels: {{app: {app}}}
spec:
  containers:
  - name: c
    image: nginx
"""


@dataclass
class Kubectl:
    """Runs one kubectl binary against one server with a private cache dir."""

    binary: str
    server: APIServerHandle
    cache_dir: Path

    def argv(self, *args: str) -> list[str]:
        return [self.binary, "--kubeconfig", str(self.server.kubeconfig), "--cache-dir", str(self.cache_dir),
                *args]

    def run(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(self.argv(*args), input=stdin, capture_output=True, text=True, timeout=60,
                              env={**os.environ, "KUBECTL_COMMAND_HEADERS": "false"})
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}\n"
                                 f"server log tail:\n{self.server.log_text()[-2000:]}")
        return proc

    def out(self, *args: str, stdin: str | None = None) -> str:
        return self.run(*args, stdin=stdin).stdout

    def apply_yaml(self, text: str) -> str:
        return self.out("create", "-f", "-", stdin=text)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[APIServerHandle]:
    with run_apiserver_process(tmp_path_factory.mktemp("kubectl-server"), storage="sqlite") as handle:
        yield handle


@pytest.fixture
def kubectl(server: APIServerHandle, tmp_path: Path) -> Kubectl:
    return Kubectl("kubectl", server, tmp_path / "cache")


class LineReader:
    """Reads lines from a child's stdout with a deadline (a test must never hang on a silent child)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        self.fd = proc.stdout.fileno()
        self.buf = b""

    def readline(self, timeout: float = 30.0) -> str:
        import select

        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no line within {timeout}s; partial output: {self.buf!r}")
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if ready:
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    raise AssertionError(f"output ended; partial output: {self.buf!r}")
                self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode()


def table(text: str) -> tuple[list[str], list[list[str]]]:
    """Split kubectl's column output: header names and rows (columns separated by 2+ spaces)."""
    import re

    lines = [ln for ln in text.splitlines() if ln.strip()]
    split = [re.split(r"\s{2,}", ln.strip()) for ln in lines]
    return split[0], split[1:]


def test_version_is_served_as_132(kubectl: Kubectl) -> None:
    info = json.loads(kubectl.out("version", "-o", "json"))
    server = info["serverVersion"]
    assert (server["major"], server["minor"]) == ("1", "32")
    assert server["gitVersion"].startswith("v1.32.")
    assert info["clientVersion"]["minor"].startswith("32")  # the dispatcher picked the 1.32 binary


def test_api_resources_lists_every_served_resource(kubectl: Kubectl) -> None:
    header, rows = table(kubectl.out("api-resources"))
    assert header == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    seen = {(r[0], r[-3]) for r in rows}
    names = {r[0] for r in rows}
    for s in Catalog.builtin().strategies():
        assert s.info.resource in names, s.info.resource
    assert ("deployments", "apps/v1") in seen
    pods = next(r for r in rows if r[0] == "pods")
    assert pods == ["pods", "po", "v1", "true", "Pod"]
    wide_header, _ = table(kubectl.out("api-resources", "-o", "wide", "--api-group=apps"))
    assert "VERBS" in wide_header


def test_create_f_get_describe_delete(kubectl: Kubectl, tmp_path: Path) -> None:
    manifest = tmp_path / "pods.yaml"
    manifest.write_text(POD.format(name="web-1", namespace="default", app="web") + "---\n"
                        + POD.format(name="db-1", namespace="default", app="db"))
    out = kubectl.out("create", "-f", str(manifest))
    assert out.splitlines() == ["pod/web-1 created", "pod/db-1 created"]

    header, rows = table(kubectl.out("get", "pods"))
    assert header == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    by_name = {r[0]: r for r in rows}
    assert by_name["web-1"][1:4] == ["0/1", "Pending", "0"]

    header, _ = table(kubectl.out("get", "pods", "-o", "wide"))
    assert header == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE",
                      "READINESS GATES"]

    described = kubectl.out("describe", "pod", "web-1")
    assert "Name:" in described
    assert "web-1" in described
    assert "nginx" in described

    assert kubectl.out("delete", "-f", str(manifest)).splitlines() == ['pod "web-1" deleted', 'pod "db-1" deleted']
    missing = kubectl.run("get", "pod", "web-1", check=False)
    assert missing.returncode == 1
    assert 'Error from server (NotFound): pods "web-1" not found' in missing.stderr


def test_output_formats(kubectl: Kubectl) -> None:
    kubectl.apply_yaml(POD.format(name="fmt-1", namespace="default", app="fmt"))
    as_json = json.loads(kubectl.out("get", "pods", "-l", "app=fmt", "-o", "json"))
    assert as_json["kind"] == "List"
    assert [i["metadata"]["name"] for i in as_json["items"]] == ["fmt-1"]
    pod = yaml.safe_load(kubectl.out("get", "pod", "fmt-1", "-o", "yaml"))
    assert pod["kind"] == "Pod"
    assert pod["spec"]["containers"][0]["image"] == "nginx"
    assert pod["metadata"]["resourceVersion"].isdigit()
    assert kubectl.out("get", "pods", "-l", "app=fmt", "-o", "name").split() == ["pod/fmt-1"]
    assert kubectl.out("get", "pod", "fmt-1", "-o", "jsonpath={.metadata.labels.app}") == "fmt"
    header, rows = table(kubectl.out("get", "pods", "-l", "app=fmt", "--show-labels"))
    assert header[-1] == "LABELS"
    assert rows[0][-1] == "app=fmt"
    header, rows = table(kubectl.out("get", "pods", "-l", "app=fmt", "-o", "custom-columns=N:.metadata.name"))
    assert (header, rows) == (["N"], [["fmt-1"]])
    # --server-print=false makes kubectl build the table itself from plain JSON
    header, _ = table(kubectl.out("get", "pods", "-l", "app=fmt", "--server-print=false"))
    assert header[0] == "NAME"


def test_selectors_and_all_namespaces(kubectl: Kubectl) -> None:
    kubectl.apply_yaml("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: sel-ns\n")
    kubectl.apply_yaml(POD.format(name="sel-a", namespace="default", app="sel-a"))
    kubectl.apply_yaml(POD.format(name="sel-b", namespace="sel-ns", app="sel-b"))
    _, rows = table(kubectl.out("get", "pods", "-A", "-l", "app in (sel-a, sel-b)"))
    assert sorted((r[0], r[1]) for r in rows) == [("default", "sel-a"), ("sel-ns", "sel-b")]
    header, _ = table(kubectl.out("get", "pods", "--all-namespaces", "-l", "app=sel-b"))
    assert header[0] == "NAMESPACE"
    _, rows = table(kubectl.out("get", "pods", "-A", "--field-selector", "metadata.name=sel-b"))
    assert [r[1] for r in rows] == ["sel-b"]
    _, rows = table(kubectl.out("get", "pods", "-A", "--field-selector", "metadata.namespace!=default",
                                "-l", "app"))
    assert all(r[0] != "default" for r in rows)
    assert "sel-b" in [r[1] for r in rows]
    _, rows = table(kubectl.out("get", "pods", "-A", "--field-selector", "status.phase=Pending", "-l", "app=sel-a"))
    assert [r[1] for r in rows] == ["sel-a"]
    bad = kubectl.run("get", "pods", "--field-selector", "spec.nope=1", check=False)
    assert bad.returncode == 1
    assert "BadRequest" in bad.stderr or "field label not supported" in bad.stderr
    nothing = kubectl.run("get", "pods", "-l", "app=does-not-exist")
    assert "No resources found in default namespace." in nothing.stderr


def test_chunked_list_uses_continue(kubectl: Kubectl) -> None:
    for i in range(3):
        kubectl.apply_yaml(POD.format(name=f"chunk-{i}", namespace="default", app="chunk"))
    _, rows = table(kubectl.out("get", "pods", "-l", "app=chunk", "--chunk-size=1"))
    assert [r[0] for r in rows] == ["chunk-0", "chunk-1", "chunk-2"]
    # --sort-by asks for includeObject=Object and sorts the Table rows by the embedded objects
    _, rows = table(kubectl.out("get", "pods", "-l", "app=chunk", "--sort-by=.metadata.creationTimestamp"))
    assert sorted(r[0] for r in rows) == ["chunk-0", "chunk-1", "chunk-2"]
    _, rows = table(kubectl.out("get", "pods", "-l", "app=chunk", "--sort-by=.metadata.name"))
    assert [r[0] for r in rows] == ["chunk-0", "chunk-1", "chunk-2"]
    as_json = json.loads(kubectl.out("get", "pods", "-l", "app=chunk", "--chunk-size=2", "-o", "json"))
    assert len(as_json["items"]) == 3


def test_get_watch_prints_new_objects(kubectl: Kubectl) -> None:
    kubectl.apply_yaml(POD.format(name="watch-0", namespace="default", app="watch"))
    proc = subprocess.Popen(kubectl.argv("get", "pods", "-l", "app=watch", "-w"), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    try:
        out = LineReader(proc)
        first = out.readline()
        assert first.split()[:1] == ["NAME"]
        assert out.readline().split()[0] == "watch-0"
        kubectl.apply_yaml(POD.format(name="watch-1", namespace="default", app="watch"))
        line = out.readline()
        assert line.split()[0] == "watch-1", line
        assert "Pending" in line
    finally:
        proc.kill()
        proc.wait(10)


def test_get_watch_output_json_streams_events(kubectl: Kubectl) -> None:
    proc = subprocess.Popen(kubectl.argv("get", "configmaps", "-l", "app=wjson", "-w", "-o", "json",
                                         "--output-watch-events"),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        # Created before or after the watch starts, the object is printed as ADDED either way.
        kubectl.apply_yaml("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: wjson\n  labels: {app: wjson}\n")
        event = json.loads(LineReader(proc).readline())
        assert event["type"] == "ADDED"
        assert event["object"]["metadata"]["name"] == "wjson"
    finally:
        proc.kill()
        proc.wait(10)


def test_deployments_and_other_groups(kubectl: Kubectl) -> None:
    kubectl.apply_yaml("""\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: nginx, image: nginx:1.27}]}
""")
    header, rows = table(kubectl.out("get", "deployments"))
    assert header == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert rows[0][:4] == ["web", "0/2", "0", "0"]
    header, rows = table(kubectl.out("get", "deploy", "web", "-o", "wide"))
    assert header == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    assert rows[0][5:] == ["nginx", "nginx:1.27", "app=web"]
    kubectl.apply_yaml("apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {name: l1}\n"
                       "spec: {holderIdentity: me}\n")
    header, rows = table(kubectl.out("get", "leases.coordination.k8s.io"))
    assert header[:2] == ["NAME", "HOLDER"]
    assert rows[0][:2] == ["l1", "me"]
    header, _ = table(kubectl.out("get", "namespaces"))
    assert header == ["NAME", "STATUS", "AGE"]
    kubectl.out("delete", "deployment", "web")


def test_unknown_resource_type(kubectl: Kubectl) -> None:
    res = kubectl.run("get", "widgets", check=False)
    assert res.returncode == 1
    assert 'the server doesn\'t have a resource type "widgets"' in res.stderr


def test_raw_paths(kubectl: Kubectl, server: APIServerHandle) -> None:
    assert kubectl.out("get", "--raw", "/readyz") == "ok"
    assert "[+]ping ok" in kubectl.out("get", "--raw", "/livez?verbose")
    kubectl.out("get", "pods")
    exposition = kubectl.out("get", "--raw", "/metrics")
    listed = [ln for ln in exposition.splitlines()
              if ln.startswith("apiserver_request_total{") and 'resource="pods"' in ln and 'verb="LIST"' in ln
              and 'code="200"' in ln]
    assert listed, "kubectl's LIST of pods was not counted"
    assert float(listed[0].rsplit(" ", 1)[1]) >= 1
    with urllib.request.urlopen(server.url + "/apis") as resp:  # legacy discovery for plain clients
        assert json.load(resp)["kind"] == "APIGroupList"


def test_explain_uses_openapi_v3(kubectl: Kubectl) -> None:
    out = kubectl.out("explain", "pods.spec.containers")
    assert "KIND:       Pod" in out
    assert "FIELD: containers <[]Container>" in out
    assert "imagePullPolicy" in out
    out = kubectl.out("explain", "deployment.spec.strategy")
    assert "GROUP:      apps" in out
    assert "FIELD: strategy <DeploymentStrategy>" in out
    assert "enum: Recreate, RollingUpdate" in out  # upstream's +enum values, in the field list
    out = kubectl.out("explain", "pods.spec.restartPolicy")
    assert "ENUM:\n    Always\n    Never\n    OnFailure\n" in out


def test_apply_of_a_new_object_creates_it(kubectl: Kubectl, tmp_path: Path) -> None:
    """Client-side apply of an absent object is GET (404) then POST; updates need PATCH (issue 4)."""
    manifest = tmp_path / "cm.yaml"
    manifest.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata: {a: b}\n")
    assert kubectl.out("apply", "-f", str(manifest)).strip() == "configmap/applied created"
    obj = json.loads(kubectl.out("get", "configmap", "applied", "-o", "json"))
    assert "kubectl.kubernetes.io/last-applied-configuration" in obj["metadata"]["annotations"]


def test_get_all_uses_categories(kubectl: Kubectl) -> None:
    kubectl.apply_yaml(POD.format(name="cat-1", namespace="default", app="cat"))
    out = kubectl.out("get", "all", "-l", "app=cat")
    assert "pod/cat-1" in out


def test_get_events_table(kubectl: Kubectl) -> None:
    kubectl.apply_yaml("""\
apiVersion: v1
kind: Event
metadata: {name: ev-1}
involvedObject: {kind: Pod, name: cat-1, namespace: default}
reason: Scheduled
message: assigned to node1
type: Normal
firstTimestamp: "2024-01-01T00:00:00Z"
lastTimestamp: "2024-01-01T00:00:00Z"
count: 1
source: {component: default-scheduler}
""")
    header, rows = table(kubectl.out("get", "events", "--field-selector", "reason=Scheduled"))
    assert header == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert rows[0][1:] == ["Normal", "Scheduled", "pod/cat-1", "assigned to node1"]
