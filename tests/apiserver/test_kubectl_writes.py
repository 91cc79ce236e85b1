"""The real kubectl's write commands against a real ``sampan apiserver`` process: apply (client- and
server-side, with a two-manager conflict and ``--force-conflicts``), patch (all three types), label,
annotate, scale, replace, diff, delete with each cascade mode, and ``wait --for=delete``."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.apiserver.test_kubectl import Kubectl
from tests.support.apiserver import APIServerHandle, run_apiserver_process

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels: {{app: {name}}}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
      - name: web
        image: {image}
      - name: side
        image: busybox
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[APIServerHandle]:
    with run_apiserver_process(tmp_path_factory.mktemp("kubectl-writes"), storage="sqlite") as handle:
        yield handle


@pytest.fixture
def kubectl(server: APIServerHandle, tmp_path: Path) -> Kubectl:
    return Kubectl("kubectl", server, tmp_path / "cache")


def get(kubectl: Kubectl, *args: str) -> dict:  # type: ignore[type-arg]
    out: dict = json.loads(kubectl.out("get", *args, "-o", "json", "--show-managed-fields"))  # type: ignore[type-arg]
    return out


def test_client_side_apply_twice_with_a_change(kubectl: Kubectl) -> None:
    out = kubectl.out("apply", "-f", "-", stdin=DEPLOYMENT.format(name="csa", replicas=1, image="nginx"))
    assert "deployment.apps/csa created" in out
    out = kubectl.out("apply", "-f", "-", stdin=DEPLOYMENT.format(name="csa", replicas=2, image="nginx:1.27"))
    assert "deployment.apps/csa configured" in out
    dep = get(kubectl, "deployment", "csa")
    assert dep["spec"]["replicas"] == 2
    containers = dep["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [("web", "nginx:1.27"), ("side", "busybox")]
    assert dep["metadata"]["generation"] == 2
    managers = {e["manager"] for e in dep["metadata"]["managedFields"]}
    assert "kubectl-client-side-apply" in managers
    out = kubectl.out("apply", "-f", "-", stdin=DEPLOYMENT.format(name="csa", replicas=2, image="nginx:1.27"))
    assert "deployment.apps/csa unchanged" in out


def test_diff_and_replace(kubectl: Kubectl) -> None:
    kubectl.out("apply", "-f", "-", stdin=DEPLOYMENT.format(name="dr", replicas=1, image="nginx"))
    proc = kubectl.run("diff", "-f", "-", stdin=DEPLOYMENT.format(name="dr", replicas=3, image="nginx"), check=False)
    assert proc.returncode == 1, proc.stderr  # 1: differences found
    assert "-  replicas: 1" in proc.stdout
    assert "+  replicas: 3" in proc.stdout
    assert get(kubectl, "deployment", "dr")["spec"]["replicas"] == 1
    out = kubectl.out("replace", "-f", "-", stdin=DEPLOYMENT.format(name="dr", replicas=4, image="nginx"))
    assert "replaced" in out
    assert get(kubectl, "deployment", "dr")["spec"]["replicas"] == 4


def test_server_side_apply_conflict_and_force(kubectl: Kubectl) -> None:
    text = DEPLOYMENT.format(name="ssa", replicas=1, image="nginx")
    out = kubectl.out("apply", "--server-side", "-f", "-", stdin=text)
    assert "serverside-applied" in out
    changed = DEPLOYMENT.format(name="ssa", replicas=5, image="nginx")
    proc = kubectl.run("apply", "--server-side", "--field-manager", "other", "-f", "-", stdin=changed, check=False)
    assert proc.returncode != 0
    assert "conflict" in proc.stderr.lower()
    assert ".spec.replicas" in proc.stderr
    assert get(kubectl, "deployment", "ssa")["spec"]["replicas"] == 1
    kubectl.out("apply", "--server-side", "--field-manager", "other", "--force-conflicts", "-f", "-", stdin=changed)
    dep = get(kubectl, "deployment", "ssa")
    assert dep["spec"]["replicas"] == 5
    owners = {e["manager"]: e for e in dep["metadata"]["managedFields"]}
    assert "f:replicas" in owners["other"]["fieldsV1"]["f:spec"]


def test_patch_all_types_label_annotate_scale(kubectl: Kubectl) -> None:
    kubectl.out("apply", "-f", "-", stdin=DEPLOYMENT.format(name="p", replicas=1, image="nginx"))
    kubectl.out("patch", "deployment", "p", "--type", "json", "-p",
                '[{"op":"add","path":"/metadata/labels/j","value":"1"}]')
    kubectl.out("patch", "deployment", "p", "--type", "merge", "-p", '{"metadata":{"labels":{"m":"2"}}}')
    kubectl.out("patch", "deployment", "p", "-p",
                '{"spec":{"template":{"spec":{"containers":[{"name":"side","image":"busybox:1.36"}]}}}}')
    kubectl.out("label", "deployment", "p", "l=3")
    kubectl.out("annotate", "deployment", "p", "note=hello")
    out = kubectl.out("scale", "deployment", "p", "--replicas", "3")
    assert "scaled" in out
    dep = get(kubectl, "deployment", "p")
    assert {"j": "1", "m": "2", "l": "3"}.items() <= dep["metadata"]["labels"].items()
    assert dep["metadata"]["annotations"]["note"] == "hello"
    assert dep["spec"]["replicas"] == 3
    images = [c["image"] for c in dep["spec"]["template"]["spec"]["containers"]]
    assert images == ["nginx", "busybox:1.36"]
    proc = kubectl.run("patch", "deployment", "p", "--type", "merge", "-p", '{"spec":{"replicas":-1}}', check=False)
    assert proc.returncode != 0
    assert "Invalid" in proc.stderr
    proc = kubectl.run("patch", "deployment", "missing", "--type", "merge", "-p", "{}", check=False)
    assert proc.returncode != 0
    assert "NotFound" in proc.stderr


@pytest.mark.parametrize(("mode", "finalizer"), [("orphan", "orphan"), ("foreground", "foregroundDeletion")])
def test_delete_cascade_records_finalizers(kubectl: Kubectl, mode: str, finalizer: str) -> None:
    name = f"cascade-{mode}"
    kubectl.out("apply", "-f", "-", stdin=DEPLOYMENT.format(name=name, replicas=1, image="nginx"))
    kubectl.out("delete", "deployment", name, f"--cascade={mode}", "--wait=false")
    dep = get(kubectl, "deployment", name)
    assert dep["metadata"]["finalizers"] == [finalizer]
    assert dep["metadata"]["deletionTimestamp"]


def test_delete_background_and_wait_for_delete(kubectl: Kubectl) -> None:
    kubectl.out("apply", "-f", "-", stdin=DEPLOYMENT.format(name="bg", replicas=1, image="nginx"))
    kubectl.out("delete", "deployment", "bg", "--cascade=background")
    proc = kubectl.run("get", "deployment", "bg", check=False)
    assert proc.returncode != 0
    assert "NotFound" in proc.stderr
    # a graceful pod: wait blocks until its node agent confirms with grace 0
    kubectl.out("apply", "-f", "-", stdin="apiVersion: v1\nkind: Pod\nmetadata: {name: w}\nspec:\n  nodeName: n1\n"
                "  containers: [{name: c, image: nginx}]\n")
    kubectl.out("delete", "pod", "w", "--wait=false")
    assert get(kubectl, "pod", "w")["metadata"]["deletionGracePeriodSeconds"] == 30
    blocked = kubectl.run("wait", "--for=delete", "pod/w", "--timeout=1s", check=False)
    assert blocked.returncode != 0, "wait returned while the pod was still terminating"
    waiter = subprocess.Popen(kubectl.argv("wait", "--for=delete", "pod/w", "--timeout=30s"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        kubectl.out("delete", "pod", "w", "--grace-period=0", "--force")
        _out, err = waiter.communicate(timeout=40)
    finally:
        if waiter.poll() is None:
            waiter.kill()
    assert waiter.returncode == 0, err
    proc = kubectl.run("get", "pod", "w", check=False)
    assert proc.returncode != 0
    assert "NotFound" in proc.stderr


def test_priority_classes_table_and_pod_priority(kubectl: Kubectl) -> None:
    out = kubectl.out("get", "priorityclasses")
    header = out.splitlines()[0].split()
    assert header[:3] == ["NAME", "VALUE", "GLOBAL-DEFAULT"]
    assert "system-node-critical" in out
    assert "2000001000" in out
    kubectl.out("apply", "-f", "-", stdin="apiVersion: v1\nkind: Pod\nmetadata: {name: crit}\nspec:\n"
                "  priorityClassName: system-cluster-critical\n  containers: [{name: c, image: nginx}]\n")
    pod = get(kubectl, "pod", "crit")
    assert pod["spec"]["priority"] == 2000000000


def test_cordon_taint_set_image_rollout_restart(kubectl: Kubectl) -> None:
    kubectl.out("create", "-f", "-", stdin="apiVersion: v1\nkind: Node\nmetadata: {name: node-a}\n")
    kubectl.out("cordon", "node-a")
    kubectl.out("taint", "nodes", "node-a", "dedicated=gpu:NoSchedule")
    node = get(kubectl, "node", "node-a")
    assert node["spec"]["unschedulable"] is True
    assert node["spec"]["taints"] == [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]
    kubectl.out("taint", "nodes", "node-a", "dedicated:NoSchedule-")
    assert "taints" not in get(kubectl, "node", "node-a")["spec"]
    kubectl.out("apply", "-f", "-", stdin=DEPLOYMENT.format(name="ri", replicas=1, image="nginx"))
    kubectl.out("set", "image", "deployment/ri", "web=nginx:1.28")
    kubectl.out("rollout", "restart", "deployment/ri")
    dep = get(kubectl, "deployment", "ri")
    template = dep["spec"]["template"]
    assert template["spec"]["containers"][0]["image"] == "nginx:1.28"
    assert "kubectl.kubernetes.io/restartedAt" in template["metadata"]["annotations"]
    assert dep["metadata"]["generation"] == 3
