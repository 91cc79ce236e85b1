"""Issue 23's acceptance, from the outside: an empty project (no conftest) whose tests use the ``k8s`` and
``k8s_namespace`` fixtures of the installed plugin, run by a real ``pytest`` subprocess."""

from __future__ import annotations

from pathlib import Path

from tests.testing.project import Project, passed

CRD = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.acceptance.sampan.io}
spec:
  group: acceptance.sampan.io
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget}
  versions:
    - name: v1
      served: true
      storage: true
      subresources: {status: {}}
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec: {type: object, properties: {colour: {type: string}}}
            status: {type: object, x-kubernetes-preserve-unknown-fields: true}
"""

OPERATOR = """import kopf

@kopf.on.create("acceptance.sampan.io", "v1", "gadgets")
def paint(spec, patch, **_):
    patch.status["painted"] = spec["colour"].upper()
"""

TESTS = '''import asyncio
import contextlib
import subprocess

import kr8s.asyncio
import pytest
from kopf.testing import KopfRunner
from kubernetes import client, config


async def test_configmap_by_kubernetes_watched_by_kr8s(k8s, k8s_namespace):
    config.load_kube_config()                    # KUBECONFIG points at the session cluster
    api = await kr8s.asyncio.api()

    async def added():
        async with contextlib.aclosing(api.watch("configmaps", namespace=k8s_namespace)) as events:
            async for event, obj in events:
                if event == "ADDED" and obj.name == "cm":
                    return obj.raw["data"]

    watcher = asyncio.create_task(added())
    await asyncio.sleep(0.2)
    await asyncio.to_thread(client.CoreV1Api().create_namespaced_config_map, k8s_namespace,
                            {"metadata": {"name": "cm"}, "data": {"k": "v"}})
    assert await asyncio.wait_for(watcher, 15) == {"k": "v"}


def test_kopf_operator_reacts_to_custom_resource(k8s, k8s_namespace):
    with KopfRunner(["run", "--standalone", "--namespace", k8s_namespace, "gadget_operator.py"],
                    timeout=60) as runner:
        gadget = {"apiVersion": "acceptance.sampan.io/v1", "kind": "Gadget",
                  "metadata": {"name": "g", "namespace": k8s_namespace}, "spec": {"colour": "red"}}
        k8s.apply(gadget)
        k8s.wait_for(gadget, "jsonpath={.status.painted}=RED", timeout=30)
    assert runner.exit_code == 0, runner.output
    assert runner.exception is None


@pytest.mark.sampan(controllers=True, nodes=1)
def test_deployment_reaches_three_ready_pods(k8s, k8s_namespace):
    config.load_kube_config()
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment",
                  "metadata": {"name": "web", "namespace": k8s_namespace},
                  "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                           "template": {"metadata": {"labels": {"app": "web"}},
                                        "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}}
    k8s.apply(deployment)
    k8s.wait_for(deployment, "jsonpath={.status.readyReplicas}=3", timeout=60)
    pods = client.CoreV1Api().list_namespaced_pod(k8s_namespace, label_selector="app=web").items
    ready = [p for p in pods if p.status.phase == "Running"
             and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions)]
    assert len(ready) == 3
    assert {p.spec.node_name for p in ready} == {"sampan-node-1"}


def test_namespace_is_fresh_and_kubectl_finds_the_cluster(k8s_namespace):
    config.load_kube_config()
    names = {cm.metadata.name for cm in client.CoreV1Api().list_namespaced_config_map(k8s_namespace).items}
    assert names <= {"kube-root-ca.crt"}  # published into every namespace once the controllers run
    shown = subprocess.run(["kubectl", "get", "namespace", k8s_namespace, "-o", "name"], capture_output=True,
                           text=True, timeout=60, check=True)
    assert shown.stdout.strip() == f"namespace/{k8s_namespace}"
'''


def test_new_project_with_kubernetes_kr8s_kopf_and_a_crd_directory(tmp_path: Path) -> None:
    project = Project(tmp_path)
    project.write({"crds/gadget.yaml": CRD, "gadget_operator.py": OPERATOR, "test_operator.py": TESTS})
    result = project.run("--sampan-crds", "crds")
    assert result.returncode == 0, result.stdout + result.stderr
    assert passed(result) == 4
    assert project.leftover_dirs() == []
    assert project.leftover_processes() == []
