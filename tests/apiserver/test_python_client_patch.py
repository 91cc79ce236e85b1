"""The official ``kubernetes`` Python client's patch calls against a real sampan apiserver: strategic
merge (a dict body), JSON patch (a list body), merge patch (explicit content type), server-side apply,
the scale subresource and graceful deletion with DeleteOptions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.apiserver import run_apiserver_process

kubernetes = pytest.importorskip("kubernetes")

from kubernetes import client as kclient  # noqa: E402
from kubernetes import config as kconfig  # noqa: E402
from kubernetes.client.rest import ApiException  # noqa: E402


@pytest.fixture(scope="module")
def api_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[kclient.ApiClient]:
    with run_apiserver_process(tmp_path_factory.mktemp("pyclient-patch"), storage="sqlite") as handle:
        client = kconfig.new_client_from_config(config_file=str(handle.kubeconfig))
        try:
            yield client
        finally:
            client.close()


def test_configmap_patch_types(api_client: kclient.ApiClient) -> None:
    core = kclient.CoreV1Api(api_client)
    core.create_namespaced_config_map("default", {"metadata": {"name": "pc"}, "data": {"a": "1"}})
    cm = core.patch_namespaced_config_map("pc", "default", {"data": {"b": "2"}})
    assert cm.data == {"a": "1", "b": "2"}
    cm = core.patch_namespaced_config_map("pc", "default", [{"op": "remove", "path": "/data/a"}])
    assert cm.data == {"b": "2"}
    cm = core.patch_namespaced_config_map("pc", "default", {"metadata": {"labels": {"x": "y"}}},
                                          _content_type="application/merge-patch+json")
    assert cm.metadata.labels == {"x": "y"}
    with pytest.raises(ApiException) as err:
        core.patch_namespaced_config_map("missing", "default", {"data": {}})
    assert err.value.status == 404
    with pytest.raises(ApiException) as err:
        core.patch_namespaced_config_map("pc", "default", [{"op": "test", "path": "/data/b", "value": "9"}])
    assert err.value.status == 422


def test_server_side_apply_and_scale(api_client: kclient.ApiClient) -> None:
    apps = kclient.AppsV1Api(api_client)
    labels = {"app": "py"}
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "py"},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}
    dep = apps.patch_namespaced_deployment("py", "default", body, field_manager="py-client",
                                           _content_type="application/apply-patch+yaml")
    assert dep.spec.replicas == 1
    assert dep.metadata.managed_fields[0].manager == "py-client"
    scale = apps.patch_namespaced_deployment_scale("py", "default", {"spec": {"replicas": 3}})
    assert scale.spec.replicas == 3
    assert apps.read_namespaced_deployment_scale("py", "default").status.selector == "app=py"
    assert apps.read_namespaced_deployment("py", "default").spec.replicas == 3


def test_graceful_pod_delete_with_options(api_client: kclient.ApiClient) -> None:
    core = kclient.CoreV1Api(api_client)
    core.create_namespaced_pod("default", {"metadata": {"name": "gp"},
                                           "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "x"}]}})
    core.delete_namespaced_pod("gp", "default", body=kclient.V1DeleteOptions(grace_period_seconds=20))
    pod = core.read_namespaced_pod("gp", "default")
    assert pod.metadata.deletion_grace_period_seconds == 20
    core.delete_namespaced_pod("gp", "default", grace_period_seconds=0)
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod("gp", "default")
    assert err.value.status == 404
