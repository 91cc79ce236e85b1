"""The official ``kubernetes`` Python client's typed APIs for the kinds added with networking.k8s.io/v1,
storage.k8s.io/v1 and core/v1 ReplicationControllers: what it sends is accepted, and what the server
returns deserializes into its models (lists included)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.apiserver import run_apiserver_process

kubernetes = pytest.importorskip("kubernetes")

from kubernetes import client as kclient  # noqa: E402
from kubernetes import config as kconfig  # noqa: E402
from kubernetes.client.rest import ApiException  # noqa: E402


@pytest.fixture(scope="module")
def api_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[kclient.ApiClient]:
    with run_apiserver_process(Path(tmp_path_factory.mktemp("pyclient-netstorage"))) as handle:
        yield kconfig.new_client_from_config(config_file=str(handle.kubeconfig))


def test_ingress_networkpolicy_and_ingressclass(api_client: kclient.ApiClient) -> None:
    net = kclient.NetworkingV1Api(api_client)
    backend = kclient.V1IngressBackend(service=kclient.V1IngressServiceBackend(
        name="svc1", port=kclient.V1ServiceBackendPort(number=8080)))
    rule = kclient.V1IngressRule(host="foo.com", http=kclient.V1HTTPIngressRuleValue(paths=[
        kclient.V1HTTPIngressPath(path="/bar", path_type="Prefix", backend=backend)]))
    body = kclient.V1Ingress(metadata=kclient.V1ObjectMeta(name="web"), spec=kclient.V1IngressSpec(rules=[rule]))
    created = net.create_namespaced_ingress("default", body)
    assert created.spec.rules[0].http.paths[0].backend.service.port.number == 8080
    status = kclient.V1IngressStatus(load_balancer=kclient.V1IngressLoadBalancerStatus(
        ingress=[kclient.V1IngressLoadBalancerIngress(ip="192.0.2.10")]))
    wire = api_client.sanitize_for_serialization(status)
    patched = net.patch_namespaced_ingress_status("web", "default", {"status": wire})
    assert patched.status.load_balancer.ingress[0].ip == "192.0.2.10"
    [item] = net.list_namespaced_ingress("default").items
    assert item.metadata.name == "web"

    policy = kclient.V1NetworkPolicy(metadata=kclient.V1ObjectMeta(name="deny"), spec=kclient.V1NetworkPolicySpec(
        pod_selector=kclient.V1LabelSelector(match_labels={"app": "db"})))
    assert net.create_namespaced_network_policy("default", policy).spec.policy_types == ["Ingress"]
    assert [p.metadata.name for p in net.list_network_policy_for_all_namespaces().items] == ["deny"]

    cls = kclient.V1IngressClass(metadata=kclient.V1ObjectMeta(name="nginx"),
                                 spec=kclient.V1IngressClassSpec(controller="k8s.io/ingress-nginx"))
    assert net.create_ingress_class(cls).spec.controller == "k8s.io/ingress-nginx"
    with pytest.raises(ApiException) as err:
        net.create_ingress_class(kclient.V1IngressClass(metadata=kclient.V1ObjectMeta(name="bad"),
                                                        spec=kclient.V1IngressClassSpec(controller="nope")))
    assert err.value.status == 422


def test_storage_kinds(api_client: kclient.ApiClient) -> None:
    storage = kclient.StorageV1Api(api_client)
    sc = storage.create_storage_class(kclient.V1StorageClass(metadata=kclient.V1ObjectMeta(name="fast"),
                                                              provisioner="example.com/fast"))
    assert (sc.reclaim_policy, sc.volume_binding_mode) == ("Delete", "Immediate")
    driver = storage.create_csi_driver(kclient.V1CSIDriver(metadata=kclient.V1ObjectMeta(name="csi.example.com"),
                                                           spec=kclient.V1CSIDriverSpec()))
    assert driver.spec.attach_required is True
    node = kclient.V1CSINode(metadata=kclient.V1ObjectMeta(name="n1"), spec=kclient.V1CSINodeSpec(
        drivers=[kclient.V1CSINodeDriver(name="csi.example.com", node_id="n1")]))
    assert storage.create_csi_node(node).spec.drivers[0].node_id == "n1"
    capacity = kclient.V1CSIStorageCapacity(metadata=kclient.V1ObjectMeta(name="cap"), storage_class_name="fast",
                                            capacity="1Gi")
    assert storage.create_namespaced_csi_storage_capacity("default", capacity).capacity == "1Gi"
    attachment = kclient.V1VolumeAttachment(
        metadata=kclient.V1ObjectMeta(name="va"),
        spec=kclient.V1VolumeAttachmentSpec(attacher="csi.example.com", node_name="n1",
                                            source=kclient.V1VolumeAttachmentSource(persistent_volume_name="pv")))
    assert storage.create_volume_attachment(attachment).status.attached is False
    assert [c.metadata.name for c in storage.list_storage_class().items] == ["fast"]
    assert len(storage.list_csi_storage_capacity_for_all_namespaces().items) == 1
    assert len(storage.list_volume_attachment().items) == 1


def test_replication_controller(api_client: kclient.ApiClient) -> None:
    core = kclient.CoreV1Api(api_client)
    template = kclient.V1PodTemplateSpec(metadata=kclient.V1ObjectMeta(labels={"app": "rc"}),
                                         spec=kclient.V1PodSpec(containers=[kclient.V1Container(name="c",
                                                                                                image="nginx")]))
    rc = kclient.V1ReplicationController(metadata=kclient.V1ObjectMeta(name="rc"),
                                         spec=kclient.V1ReplicationControllerSpec(replicas=2, template=template))
    created = core.create_namespaced_replication_controller("default", rc)
    assert created.spec.selector == {"app": "rc"}
    scale = core.read_namespaced_replication_controller_scale("rc", "default")
    assert (scale.spec.replicas, scale.status.selector) == (2, "app=rc")
    core.patch_namespaced_replication_controller_scale("rc", "default", {"spec": {"replicas": 4}})
    assert core.read_namespaced_replication_controller("rc", "default").spec.replicas == 4
    assert [r.metadata.name for r in core.list_replication_controller_for_all_namespaces().items] == ["rc"]
