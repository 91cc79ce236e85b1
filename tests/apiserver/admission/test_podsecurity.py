"""PodSecurity over real HTTP (enforce refuses with upstream's message, warn/audit let in with a Warning,
pod templates only warned) and with the real kubectl (the refusal and the ``Warning:`` lines it prints)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sampan.api import podsecurity as pss
from tests.apiserver.conftest import API
from tests.apiserver.test_kubectl import Kubectl
from tests.support.apiserver import APIServerHandle, run_apiserver_process

PRIVILEGED_POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"},
                  "spec": {"containers": [{"name": "c", "image": "nginx", "securityContext": {"privileged": True}}]}}
RESTRICTED_MESSAGE = (
    'violates PodSecurity "restricted:latest": privileged (container "c" must not set '
    'securityContext.privileged=true), allowPrivilegeEscalation != false (container "c" must set '
    'securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "c" must set '
    'securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "c" must set '
    'securityContext.runAsNonRoot=true), seccompProfile (pod or container "c" must set '
    'securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")')
BASELINE_WARNING = ('would violate PodSecurity "baseline:latest": privileged (container "c" must not set '
                    'securityContext.privileged=true)')


async def labelled_namespace(api: API, name: str, labels: dict[str, str]) -> None:
    r = await api.post("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                              "metadata": {"name": name, "labels": labels}})
    assert r.status == 201, r.body
    cache = api.server.context.namespaces().cache  # the plugin reads the watch cache: wait for it
    for _ in range(200):
        if cache.objects.get(api.server.context.namespaces().key("", name)) is not None:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("namespace never reached the watch cache")


async def test_enforce_restricted_refuses_a_privileged_pod(api: API) -> None:
    await labelled_namespace(api, "strict", {"pod-security.kubernetes.io/enforce": "restricted"})
    r = await api.post("/api/v1/namespaces/strict/pods", PRIVILEGED_POD)
    assert r.status == 403
    assert r.body["message"] == f'pods "x" is forbidden: {RESTRICTED_MESSAGE}'
    ok = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "ok"}, "spec": {
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{"name": "c", "image": "nginx", "securityContext": {
            "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}}]}}
    r = await api.post("/api/v1/namespaces/strict/pods", ok)
    assert r.status == 201, r.body


async def test_warn_baseline_admits_with_a_warning_and_templates_only_warn(api: API) -> None:
    await labelled_namespace(api, "soft", {"pod-security.kubernetes.io/warn": "baseline",
                                           "pod-security.kubernetes.io/enforce": "baseline",
                                           "pod-security.kubernetes.io/enforce-version": "v1.30"})
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {
        "selector": {"matchLabels": {"a": "b"}},
        "template": {"metadata": {"labels": {"a": "b"}}, "spec": PRIVILEGED_POD["spec"]}}}
    r = await api.post("/apis/apps/v1/namespaces/soft/deployments", deployment)
    assert r.status == 201, r.body
    warnings = [w.removeprefix('299 - "').removesuffix('"').replace('\\"', '"') for w in r.headers.getall("Warning")]
    assert any('would violate PodSecurity "baseline:v1.30": privileged' in w for w in warnings)
    assert any(BASELINE_WARNING in w for w in warnings)
    r = await api.post("/api/v1/namespaces/soft/pods", PRIVILEGED_POD)
    assert r.status == 403
    assert 'violates PodSecurity "baseline:v1.30": privileged' in r.body["message"]


def test_baseline_checks_and_wording() -> None:
    spec: dict[str, Any] = {
        "hostNetwork": True, "hostPID": True,
        "volumes": [{"name": "h", "hostPath": {"path": "/"}}, {"name": "n", "nfs": {}}],
        "securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "1"}],
                            "seccompProfile": {"type": "Unconfined"}},
        "containers": [
            {"name": "a", "ports": [{"containerPort": 80, "hostPort": 80}],
             "securityContext": {"capabilities": {"add": ["NET_ADMIN", "CHOWN"]}, "procMount": "Unmasked"}},
            {"name": "b", "ports": [{"containerPort": 443, "hostPort": 443}],
             "securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}, "seLinuxOptions": {"type": "spc_t"}}},
        ]}
    assert pss.evaluate("baseline", {}, spec) == [
        ("non-default capabilities", 'containers "a", "b" must not include "NET_ADMIN", "SYS_ADMIN" in '
                                     "securityContext.capabilities.add"),
        ("host namespaces", "hostNetwork=true, hostPID=true"),
        ("hostPath volumes", 'volume "h"'),
        ("hostPort", 'containers "a", "b" use hostPorts 80, 443'),
        ("procMount", 'container "a" must not set securityContext.procMount to "Unmasked"'),
        ("seLinuxOptions", 'container "b" set forbidden securityContext.seLinuxOptions: type "spc_t"'),
        ("seccompProfile", 'pod must not set securityContext.seccompProfile.type to "Unconfined"'),
        ("forbidden sysctls", "kernel.msgmax"),
    ]
    restricted = dict(pss.evaluate("restricted", {}, spec))
    assert restricted["restricted volume types"] == 'volumes "h", "n" use restricted volume types "hostPath", "nfs"'
    assert pss.evaluate("privileged", {}, spec) == []


# ---- the real kubectl ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[APIServerHandle]:
    with run_apiserver_process(tmp_path_factory.mktemp("podsecurity"), storage="memory") as handle:
        yield handle


@pytest.fixture
def kubectl(server: APIServerHandle, tmp_path: Path) -> Kubectl:
    return Kubectl("kubectl", server, tmp_path / "cache")


POD_YAML = """\
apiVersion: v1
kind: Pod
metadata: {name: x}
spec:
  containers:
  - name: c
    image: nginx
    securityContext: {privileged: true}
"""


def _until_enforced(kubectl: Kubectl, ns: str) -> str:
    """The namespace is read from the watch cache: retry the dry-run create until its labels are seen."""
    for _ in range(100):
        proc = kubectl.run("-n", ns, "create", "--dry-run=server", "-f", "-", stdin=POD_YAML, check=False)
        if proc.returncode != 0 or "Warning" in proc.stderr:
            return proc.stderr
    raise AssertionError("the namespace's labels were never applied")


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_enforce_and_warn(kubectl: Kubectl) -> None:
    kubectl.out("create", "namespace", "strict")
    kubectl.out("label", "namespace", "strict", "pod-security.kubernetes.io/enforce=restricted")
    _until_enforced(kubectl, "strict")
    proc = kubectl.run("-n", "strict", "create", "-f", "-", stdin=POD_YAML, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (f'Error from server (Forbidden): error when creating "STDIN": pods "x" is '
                                   f"forbidden: {RESTRICTED_MESSAGE}")
    kubectl.out("create", "namespace", "soft")
    kubectl.out("label", "namespace", "soft", "pod-security.kubernetes.io/warn=baseline")
    _until_enforced(kubectl, "soft")
    proc = kubectl.run("-n", "soft", "create", "-f", "-", stdin=POD_YAML)
    assert proc.stdout.strip() == "pod/x created"
    assert f"Warning: {BASELINE_WARNING}" in proc.stderr
