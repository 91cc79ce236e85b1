"""The test registry (Debian's docker-registry) and the OCI image builder, for real: skopeo pushes
and pulls, the /v2/ API answers, htpasswd auth is enforced."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from sampan.testing.oci import build_image, httpd_image
from sampan.testing.registry import Registry, RegistryError

pytestmark = pytest.mark.skipif(not (shutil.which("docker-registry") and shutil.which("skopeo")),
                                reason="docker-registry and skopeo are installed by scripts/install-system-deps.sh")


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    with Registry.start(tmp_path / "registry") as r:
        yield r


@pytest.fixture
def private_registry(tmp_path: Path) -> Iterator[Registry]:
    with Registry.start(tmp_path / "private", auth=("alice", "s3cret")) as r:
        yield r


def skopeo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=60)


def test_image_archive_is_an_oci_layout_with_the_busybox_rootfs(tmp_path: Path) -> None:
    image = build_image(tmp_path / "a.tar", name="example.com/a:1", cmd=["sh", "-c", "echo hi"],
                        files={"etc/motd": "hello\n", "usr/local/bin/run": "#!/bin/sh\necho run\n"})
    again = build_image(tmp_path / "b.tar", name="example.com/a:1", cmd=["sh", "-c", "echo hi"],
                        files={"etc/motd": "hello\n", "usr/local/bin/run": "#!/bin/sh\necho run\n"})
    assert (image.image_id, image.manifest_digest) == (again.image_id, again.manifest_digest)  # deterministic
    with tarfile.open(image.path) as tar:
        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
        [entry] = index["manifests"]
        assert entry["digest"] == image.manifest_digest
        assert entry["annotations"]["org.opencontainers.image.ref.name"] == "example.com/a:1"
        manifest = json.loads(tar.extractfile(f"blobs/sha256/{image.manifest_digest[7:]}").read())  # type: ignore[union-attr]
        assert manifest["config"]["digest"] == image.image_id
        config = json.loads(tar.extractfile(f"blobs/sha256/{image.image_id[7:]}").read())  # type: ignore[union-attr]
        assert config["config"]["Cmd"] == ["sh", "-c", "echo hi"]
        layer = tar.extractfile(f"blobs/sha256/{manifest['layers'][0]['digest'][7:]}")
        with tarfile.open(fileobj=layer, mode="r:*") as rootfs:
            names = set(rootfs.getnames())
            assert {"bin/busybox", "bin/sh", "bin/httpd", "etc/motd", "usr/local/bin/run", "tmp"} <= names
            assert rootfs.getmember("bin/sh").linkname == "busybox"
            assert rootfs.getmember("usr/local/bin/run").mode == 0o755


def test_push_then_pull_through_the_registry_api(registry: Registry, tmp_path: Path) -> None:
    image = httpd_image(tmp_path / "web.tar", name=f"{registry.host}/web:1")
    assert registry.manifest_digest("web:1") is None
    registry.push(image.path, "web:1")
    digest = registry.manifest_digest("web:1")  # skopeo may compress uncompressed layers: a new manifest
    assert digest is not None
    assert digest.startswith("sha256:")
    status, body, _ = registry.get("/v2/_catalog")
    assert (status, json.loads(body)) == (200, {"repositories": ["web"]})
    status, body, _ = registry.get("/v2/web/tags/list")
    assert json.loads(body)["tags"] == ["1"]
    status, body, _ = registry.get(f"/v2/web/blobs/{image.image_id}")  # the config blob is never rewritten
    assert status == 200
    assert json.loads(body)["config"]["Entrypoint"] == ["/bin/httpd", "-f", "-p", "8080", "-h", "/www"]
    pulled = skopeo("copy", "--src-tls-verify=false", f"docker://{registry.host}/web:1",
                    f"oci:{tmp_path / 'pulled'}:web")
    assert pulled.returncode == 0, pulled.stderr
    index = json.loads((tmp_path / "pulled" / "index.json").read_text())
    assert index["manifests"][0]["digest"] == digest


def test_private_registry_requires_credentials(private_registry: Registry, tmp_path: Path) -> None:
    image = build_image(tmp_path / "app.tar", name=f"{private_registry.host}/team/app:2", cmd=["sleep", "3600"])
    assert private_registry.get("/v2/", authenticate=False)[0] == 401
    assert private_registry.get("/v2/")[0] == 200
    private_registry.push(image.path, "team/app:2")
    ref = f"docker://{private_registry.host}/team/app:2"
    anonymous = skopeo("inspect", "--tls-verify=false", ref)
    assert anonymous.returncode != 0
    assert "unauthorized" in anonymous.stderr.lower() or "authentication required" in anonymous.stderr.lower()
    wrong = skopeo("inspect", "--tls-verify=false", "--creds", "alice:wrong", ref)
    assert wrong.returncode != 0
    right = skopeo("inspect", "--tls-verify=false", "--creds", "alice:s3cret", ref)
    assert right.returncode == 0, right.stderr
    assert json.loads(right.stdout)["Digest"] == private_registry.manifest_digest("team/app:2")


def test_push_of_a_missing_archive_is_one_clear_error(registry: Registry, tmp_path: Path) -> None:
    with pytest.raises(RegistryError) as info:
        registry.push(tmp_path / "absent.tar", "x:1")
    assert f"skopeo copy to {registry.host}/x:1 failed" in str(info.value)


def test_stop_frees_the_port(tmp_path: Path) -> None:
    registry = Registry.start(tmp_path / "r")
    assert registry.get("/v2/")[0] == 200
    registry.stop()
    assert registry.get("/v2/")[0] == 0
