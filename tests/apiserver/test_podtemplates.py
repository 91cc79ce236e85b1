"""core/v1 PodTemplates as upstream's conformance tests use them (lifecycle, replace, delete a collection,
chunked lists), through the official ``kubernetes`` Python client, and their table through the real kubectl."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.apiserver import APIServerHandle, run_apiserver_process

kubernetes = pytest.importorskip("kubernetes")

from kubernetes import client as kclient  # noqa: E402
from kubernetes import config as kconfig  # noqa: E402
from kubernetes.client.rest import ApiException  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[APIServerHandle]:
    with run_apiserver_process(Path(tmp_path_factory.mktemp("podtemplates"))) as handle:
        yield handle


def template(name: str, labels: dict[str, str]) -> kclient.V1PodTemplate:
    return kclient.V1PodTemplate(
        metadata=kclient.V1ObjectMeta(name=name, labels=labels),
        template=kclient.V1PodTemplateSpec(
            metadata=kclient.V1ObjectMeta(labels={"app": name}),
            spec=kclient.V1PodSpec(containers=[kclient.V1Container(name="c", image="busybox")])))


def test_lifecycle_replace_chunks_and_delete_collection(server: APIServerHandle) -> None:
    core = kclient.CoreV1Api(kconfig.new_client_from_config(config_file=str(server.kubeconfig)))
    created = core.create_namespaced_pod_template("default", template("nginx-pod-template", {"set": "a"}))
    spec = created.template.spec
    assert (spec.restart_policy, spec.dns_policy, spec.containers[0].termination_message_path) == \
        ("Always", "ClusterFirst", "/dev/termination-log")  # defaulted as a workload's template
    core.patch_namespaced_pod_template("nginx-pod-template", "default",
                                       {"metadata": {"labels": {"podtemplate": "patched"}}})
    got = core.read_namespaced_pod_template("nginx-pod-template", "default")
    assert got.metadata.labels == {"set": "a", "podtemplate": "patched"}
    got.metadata.annotations = {"updated": "true"}
    assert core.replace_namespaced_pod_template("nginx-pod-template", "default", got).metadata.annotations == \
        {"updated": "true"}

    for i in range(5):
        core.create_namespaced_pod_template("default", template(f"pt-{i}", {"set": "b"}))
    first = core.list_namespaced_pod_template("default", limit=2)
    assert len(first.items) == 2
    assert first.metadata.remaining_item_count == 4
    seen = [p.metadata.name for p in first.items]
    token = first.metadata._continue
    while token:
        page = core.list_namespaced_pod_template("default", limit=2, _continue=token)
        assert page.metadata.resource_version == first.metadata.resource_version
        seen += [p.metadata.name for p in page.items]
        token = page.metadata._continue
    assert sorted(seen) == sorted(["nginx-pod-template"] + [f"pt-{i}" for i in range(5)])

    core.delete_collection_namespaced_pod_template("default", label_selector="set=b")
    assert [p.metadata.name for p in core.list_namespaced_pod_template("default", label_selector="set").items] \
        == ["nginx-pod-template"]
    core.delete_namespaced_pod_template("nginx-pod-template", "default")
    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod_template("default", kclient.V1PodTemplate(
            metadata=kclient.V1ObjectMeta(name="bad"),
            template=kclient.V1PodTemplateSpec(spec=kclient.V1PodSpec(containers=[]))))
    assert err.value.status == 422
    assert "template.spec.containers: Required value" in json.loads(err.value.body)["message"]


def test_kubectl_table(server: APIServerHandle) -> None:
    manifest = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "web"},
                "template": {"metadata": {"labels": {"app": "web", "tier": "front"}},
                             "spec": {"containers": [{"name": "a", "image": "nginx"},
                                                     {"name": "b", "image": "busybox"}]}}}
    kubectl = ["kubectl", "--kubeconfig", str(server.kubeconfig)]
    subprocess.run([*kubectl, "apply", "-f", "-"], input=json.dumps(manifest), text=True, check=True,
                   capture_output=True)
    out = subprocess.run([*kubectl, "get", "podtemplates"], text=True, check=True, capture_output=True).stdout
    header, row = out.splitlines()
    assert header.split() == ["NAME", "CONTAINERS", "IMAGES", "POD", "LABELS"]
    assert row.split() == ["web", "a,b", "nginx,busybox", "app=web,tier=front"]
