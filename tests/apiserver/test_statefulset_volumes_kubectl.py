"""StatefulSets, ControllerRevisions, PersistentVolumes and claims with the real kubectl against a real
``sampan apiserver`` process: create from YAML, short names, upstream's ``get`` columns, ``scale sts``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.apiserver.test_kubectl import Kubectl
from tests.apiserver.test_kubectl_matrix import versioned_kubectl
from tests.support.apiserver import APIServerHandle, run_apiserver_process

MANIFESTS = """
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 2
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: c, image: nginx, volumeMounts: [{name: data, mountPath: /data}]}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: pv1}
spec:
  capacity: {storage: 5Gi}
  accessModes: [ReadWriteOnce, ReadOnlyMany]
  hostPath: {path: /tmp/pv1}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: c1}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[APIServerHandle]:
    with run_apiserver_process(tmp_path_factory.mktemp("sts-volumes")) as handle:
        yield handle


def test_get_columns_and_scale(server: APIServerHandle, tmp_path: Path) -> None:
    binary = versioned_kubectl("1.32")
    if binary is None:
        pytest.skip("kubectl.1.32 is not installed")
    kubectl = Kubectl(binary, server, tmp_path / "cache")
    kubectl.apply_yaml(MANIFESTS)
    sts = kubectl.out("get", "sts").splitlines()
    assert sts[0].split() == ["NAME", "READY", "AGE"]
    assert sts[1].split()[:2] == ["db", "0/2"]
    pv = kubectl.out("get", "pv").splitlines()
    assert pv[0].split()[:7] == ["NAME", "CAPACITY", "ACCESS", "MODES", "RECLAIM", "POLICY", "STATUS"]
    assert pv[1].split()[:5] == ["pv1", "5Gi", "RWO,ROX", "Retain", "Pending"]
    pvc = kubectl.out("get", "pvc").splitlines()
    assert pvc[0].split()[:4] == ["NAME", "STATUS", "VOLUME", "CAPACITY"]
    assert pvc[1].split()[:2] == ["c1", "Pending"]
    kubectl.out("scale", "sts", "db", "--replicas=4")
    assert kubectl.out("get", "statefulset", "db", "-o", "jsonpath={.spec.replicas}") == "4"
