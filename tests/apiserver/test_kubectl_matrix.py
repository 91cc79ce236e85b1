"""The same everyday commands with every kubectl from 1.27 to 1.33 (the binaries beside the dispatcher).

kubectl 1.27's ``create -f`` first reads ``/openapi/v2`` as protobuf (served minimal: PATCH operations
only) and then ``/openapi/v3``; 1.32 and 1.33 read ``/openapi/v3`` only.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.apiserver.test_kubectl import POD, Kubectl, LineReader, table
from tests.support.apiserver import APIServerHandle, run_apiserver_process

VERSIONS = ("1.27", "1.28", "1.29", "1.30", "1.31", "1.32", "1.33")


def versioned_kubectl(version: str) -> str | None:
    dispatcher = shutil.which("kubectl")
    if dispatcher is None:
        return None
    path = Path(os.path.realpath(dispatcher)).parent / f"kubectl.{version}"
    return str(path) if path.exists() else None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[APIServerHandle]:
    with run_apiserver_process(tmp_path_factory.mktemp("kubectl-matrix")) as handle:
        yield handle


@pytest.fixture(params=VERSIONS)
def kubectl(request: pytest.FixtureRequest, server: APIServerHandle, tmp_path: Path) -> Kubectl:
    binary = versioned_kubectl(request.param)
    if binary is None:
        pytest.skip(f"kubectl.{request.param} is not installed")
    k = Kubectl(binary, server, tmp_path / "cache")
    k.version = request.param  # type: ignore[attr-defined]
    return k


def version_of(kubectl: Kubectl) -> str:
    return str(kubectl.version)  # type: ignore[attr-defined]


def create_flags(kubectl: Kubectl) -> list[str]:
    """Extra flags a release needs for ``create -f`` (none: every release validates on the server)."""
    return []


def test_version_and_discovery(kubectl: Kubectl) -> None:
    info = json.loads(kubectl.out("version", "-o", "json"))
    assert info["clientVersion"]["minor"].startswith(version_of(kubectl).split(".")[1])
    assert info["serverVersion"]["minor"] == "32"
    header, rows = table(kubectl.out("api-resources"))
    assert header == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    assert {"pods", "deployments", "leases", "namespaces"} <= {r[0] for r in rows}


def test_create_get_delete(kubectl: Kubectl, tmp_path: Path) -> None:
    name = "m" + version_of(kubectl).replace(".", "-")
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(POD.format(name=name, namespace="default", app=name))
    assert kubectl.out("create", "-f", str(manifest), *create_flags(kubectl)).strip() == f"pod/{name} created"
    header, rows = table(kubectl.out("get", "pods", "-l", f"app={name}"))
    assert header == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert rows[0][:3] == [name, "0/1", "Pending"]
    header, _ = table(kubectl.out("get", "pods", "-l", f"app={name}", "-o", "wide"))
    assert header[5:7] == ["IP", "NODE"]
    _, rows = table(kubectl.out("get", "pods", "-A", "--field-selector", f"metadata.name={name}"))
    assert rows[0][:2] == ["default", name]
    pod = json.loads(kubectl.out("get", "pod", name, "-o", "json"))
    assert pod["metadata"]["name"] == name
    assert name in kubectl.out("describe", "pod", name)
    assert kubectl.out("delete", "pod", name).strip() == f'pod "{name}" deleted'
    gone = kubectl.run("get", "pod", name, check=False)
    assert gone.returncode == 1
    assert "NotFound" in gone.stderr


def test_create_f_validates_on_the_server(kubectl: Kubectl) -> None:
    """An invalid object is refused with the server's 422 message, whatever the client version."""
    bad = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n"
    res = kubectl.run("create", "-f", "-", *create_flags(kubectl), stdin=bad, check=False)
    assert res.returncode == 1
    assert 'ConfigMap "Bad_Name" is invalid' in res.stderr


def test_explain(kubectl: Kubectl) -> None:
    out = kubectl.out("explain", "deployments.spec.replicas")
    assert "KIND:" in out
    assert "Deployment" in out
    assert "replicas" in out


def test_get_watch(kubectl: Kubectl) -> None:
    import subprocess

    name = "w" + version_of(kubectl).replace(".", "-")
    proc = subprocess.Popen(kubectl.argv("get", "configmaps", "-l", f"app={name}", "-w"), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    try:
        out = LineReader(proc)
        kubectl.run("create", "-f", "-", *create_flags(kubectl),
                    stdin=f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  labels: {{app: {name}}}\n"
                          "data: {a: b}\n")
        lines = [out.readline()]
        if lines[0].split()[0] == "NAME":
            lines.append(out.readline())
        assert lines[-1].split()[:2] == [name, "1"]
    finally:
        proc.kill()
        proc.wait(10)
