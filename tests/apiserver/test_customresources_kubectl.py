"""The real kubectl against a real ``sampan apiserver`` process: apply a CRD, then custom objects, with
no restart; ``get`` by plural and short name shows the printer columns; ``explain`` shows the schema;
invalid objects are refused with field causes; deleting the CRD cleans up."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.apiserver.test_kubectl import Kubectl, table
from tests.support.apiserver import APIServerHandle, run_apiserver_process

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")

CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.stable.example.com
spec:
  group: stable.example.com
  scope: Namespaced
  names: {plural: crontabs, singular: crontab, kind: CronTab, shortNames: [ct], categories: [all]}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            description: The desired schedule of the cron tab.
            properties:
              cronSpec: {type: string, pattern: '^(\\d+|\\*)(/\\d+)?(\\s+(\\d+|\\*)(/\\d+)?){4}$'}
              image: {type: string, description: The container image to run.}
              replicas: {type: integer, minimum: 1, maximum: 10}
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Spec, type: string, jsonPath: .spec.cronSpec}
    - {name: Replicas, type: integer, jsonPath: .spec.replicas}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
"""

CRONTAB = """\
apiVersion: stable.example.com/v1
kind: CronTab
metadata: {{name: {name}, namespace: default}}
spec: {{cronSpec: "{cron}", image: my-cron-image, replicas: {replicas}}}
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[APIServerHandle]:
    with run_apiserver_process(tmp_path / "server", storage="sqlite") as handle:
        yield handle


@pytest.fixture
def kubectl(server: APIServerHandle, tmp_path: Path) -> Kubectl:
    return Kubectl("kubectl", server, tmp_path / "cache")


def test_crd_lifecycle_with_kubectl(kubectl: Kubectl) -> None:
    assert "created" in kubectl.out("apply", "-f", "-", stdin=CRD)
    kubectl.out("wait", "--for=condition=Established", "--timeout=30s", "crd/crontabs.stable.example.com")
    kubectl.out("apply", "-f", "-", stdin=CRONTAB.format(name="every-5", cron="*/5 * * * *", replicas=2))

    header, rows = table(kubectl.out("get", "crontabs"))
    assert header == ["NAME", "SPEC", "REPLICAS", "AGE"]
    assert rows[0][:3] == ["every-5", "*/5 * * * *", "2"]
    header, rows = table(kubectl.out("get", "ct", "every-5"))
    assert rows[0][0] == "every-5"

    assert "crontab.stable.example.com/every-5" in kubectl.out("get", "all")  # the "all" category

    explained = kubectl.out("explain", "crontabs.spec")
    assert "The desired schedule of the cron tab." in explained
    assert "The container image to run." in explained

    bad = kubectl.run("apply", "-f", "-", stdin=CRONTAB.format(name="bad", cron="nope", replicas=20), check=False)
    assert bad.returncode != 0
    assert "spec.replicas" in bad.stderr
    assert "spec.cronSpec" in bad.stderr

    kubectl.out("delete", "crd", "crontabs.stable.example.com", "--timeout=60s")
    gone = kubectl.run("get", "crontabs", check=False)
    assert gone.returncode != 0
    # a stale discovery cache gives NotFound, a fresh one "doesn't have a resource type", as upstream
    assert "NotFound" in gone.stderr or "the server doesn't have a resource type" in gone.stderr
    assert "crontabs" not in kubectl.out("get", "crd")


def test_custom_objects_are_served_after_a_restart(tmp_path: Path) -> None:
    workdir = tmp_path / "server"
    with run_apiserver_process(workdir, storage="sqlite") as first:
        kubectl = Kubectl("kubectl", first, tmp_path / "cache1")
        kubectl.out("apply", "-f", "-", stdin=CRD)
        kubectl.out("wait", "--for=condition=Established", "--timeout=30s", "crd/crontabs.stable.example.com")
        kubectl.out("apply", "-f", "-", stdin=CRONTAB.format(name="kept", cron="* * * * *", replicas=1))
    with run_apiserver_process(workdir, storage="sqlite") as second:
        kubectl = Kubectl("kubectl", second, tmp_path / "cache2")
        deadline = time.monotonic() + 30
        while (got := kubectl.run("get", "crontab", "kept", "-o", "name", check=False)).returncode != 0:
            assert time.monotonic() < deadline, got.stderr
            time.sleep(0.1)
        assert got.stdout.strip() == "crontab.stable.example.com/kept"
