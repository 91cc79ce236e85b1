"""The official ``kubernetes`` Python client's typed APIs for StatefulSets, ControllerRevisions,
PersistentVolumes and PersistentVolumeClaims: CRUD, scale and status subresources, defaults, validation
errors as upstream's Status, and the ``kubectl get`` tables."""

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
    with run_apiserver_process(Path(tmp_path_factory.mktemp("pyclient-sts"))) as handle:
        yield kconfig.new_client_from_config(config_file=str(handle.kubeconfig))


def _sts(name: str) -> kclient.V1StatefulSet:
    template = kclient.V1PodTemplateSpec(
        metadata=kclient.V1ObjectMeta(labels={"app": name}),
        spec=kclient.V1PodSpec(containers=[kclient.V1Container(name="c", image="nginx")]))
    claim = kclient.V1PersistentVolumeClaim(
        metadata=kclient.V1ObjectMeta(name="data"),
        spec=kclient.V1PersistentVolumeClaimSpec(access_modes=["ReadWriteOnce"], resources=kclient.
                                                 V1VolumeResourceRequirements(requests={"storage": "1Gi"})))
    return kclient.V1StatefulSet(
        metadata=kclient.V1ObjectMeta(name=name),
        spec=kclient.V1StatefulSetSpec(service_name=name, replicas=3, template=template,
                                       selector=kclient.V1LabelSelector(match_labels={"app": name}),
                                       volume_claim_templates=[claim]))


def test_statefulset_crud(api_client: kclient.ApiClient) -> None:
    apps = kclient.AppsV1Api(api_client)
    created = apps.create_namespaced_stateful_set("default", _sts("db"))
    spec = created.spec
    assert (spec.pod_management_policy, spec.update_strategy.type, spec.update_strategy.rolling_update.partition,
            spec.revision_history_limit) == ("OrderedReady", "RollingUpdate", 0, 10)
    assert (spec.persistent_volume_claim_retention_policy.when_deleted,
            spec.persistent_volume_claim_retention_policy.when_scaled) == ("Retain", "Retain")
    assert spec.volume_claim_templates[0].spec.volume_mode == "Filesystem"
    assert created.metadata.generation == 1
    [item] = apps.list_namespaced_stateful_set("default").items
    assert item.metadata.name == "db"
    assert len(apps.list_stateful_set_for_all_namespaces().items) == 1

    scale = apps.read_namespaced_stateful_set_scale("db", "default")
    assert scale.spec.replicas == 3
    apps.patch_namespaced_stateful_set_scale("db", "default", {"spec": {"replicas": 5}})
    assert apps.read_namespaced_stateful_set("db", "default").spec.replicas == 5

    patched = apps.patch_namespaced_stateful_set(
        "db", "default", {"spec": {"updateStrategy": {"rollingUpdate": {"partition": 2}}}})
    assert patched.spec.update_strategy.rolling_update.partition == 2
    status = apps.patch_namespaced_stateful_set_status("db", "default", {"status": {"replicas": 1,
                                                                                    "readyReplicas": 1}})
    assert status.status.ready_replicas == 1

    with pytest.raises(ApiException) as err:  # serviceName may not change
        apps.patch_namespaced_stateful_set("db", "default", {"spec": {"serviceName": "other"}})
    assert err.value.status == 422
    assert "updates to statefulset spec for fields other than" in err.value.body
    bad = _sts("bad")
    bad.spec.pod_management_policy = "Random"
    with pytest.raises(ApiException) as err:
        apps.create_namespaced_stateful_set("default", bad)
    assert err.value.status == 422
    assert "spec.podManagementPolicy" in err.value.body

    apps.delete_namespaced_stateful_set("db", "default")
    assert apps.list_namespaced_stateful_set("default").items == []


def test_controller_revision(api_client: kclient.ApiClient) -> None:
    apps = kclient.AppsV1Api(api_client)
    rev = kclient.V1ControllerRevision(metadata=kclient.V1ObjectMeta(name="r1"), revision=1, data={"a": 1})
    assert apps.create_namespaced_controller_revision("default", rev).revision == 1
    with pytest.raises(ApiException) as err:
        apps.patch_namespaced_controller_revision("r1", "default", {"data": {"a": 2}})
    assert err.value.status == 422
    assert "field is immutable" in err.value.body
    assert [r.metadata.name for r in apps.list_namespaced_controller_revision("default").items] == ["r1"]


def test_persistent_volumes_and_claims(api_client: kclient.ApiClient) -> None:
    core = kclient.CoreV1Api(api_client)
    pv = core.create_persistent_volume(kclient.V1PersistentVolume(
        metadata=kclient.V1ObjectMeta(name="pv1"),
        spec=kclient.V1PersistentVolumeSpec(capacity={"storage": "5Gi"}, access_modes=["ReadWriteOnce"],
                                            host_path=kclient.V1HostPathVolumeSource(path="/tmp/pv1"))))
    assert (pv.spec.persistent_volume_reclaim_policy, pv.spec.volume_mode, pv.status.phase) == (
        "Retain", "Filesystem", "Pending")
    assert pv.metadata.finalizers == ["kubernetes.io/pv-protection"]
    with pytest.raises(ApiException) as err:
        core.create_persistent_volume(kclient.V1PersistentVolume(
            metadata=kclient.V1ObjectMeta(name="bad"),
            spec=kclient.V1PersistentVolumeSpec(capacity={"storage": "5Gi"}, access_modes=["ReadWriteOnce"])))
    assert err.value.status == 422
    assert "must specify a volume type" in err.value.body

    claim = core.create_namespaced_persistent_volume_claim("default", kclient.V1PersistentVolumeClaim(
        metadata=kclient.V1ObjectMeta(name="c1"),
        spec=kclient.V1PersistentVolumeClaimSpec(access_modes=["ReadWriteOnce"], resources=kclient.
                                                 V1VolumeResourceRequirements(requests={"storage": "1Gi"}))))
    assert (claim.spec.volume_mode, claim.status.phase) == ("Filesystem", "Pending")
    assert claim.metadata.finalizers == ["kubernetes.io/pvc-protection"]
    with pytest.raises(ApiException) as err:  # access modes are immutable
        core.patch_namespaced_persistent_volume_claim("c1", "default", {"spec": {"accessModes": ["ReadWriteMany"]}})
    assert err.value.status == 422
    assert "spec is immutable after creation" in err.value.body
    patched = core.patch_namespaced_persistent_volume_claim_status(
        "c1", "default", {"status": {"phase": "Bound", "capacity": {"storage": "5Gi"}}})
    assert patched.status.capacity == {"storage": "5Gi"}
    assert [c.metadata.name for c in core.list_persistent_volume_claim_for_all_namespaces().items] == ["c1"]
    assert [v.metadata.name for v in core.list_persistent_volume().items] == ["pv1"]
