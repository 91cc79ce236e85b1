"""``sampan image load|ls|rm`` against a real (private) containerd, finding it through a Node's CRI
socket annotation on a real API server or through ``--address``."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from sampan.kubelet.node_status import CRI_SOCKET_ANNOTATION
from sampan.testing.oci import build_image, httpd_image
from tests.support import containerd_store
from tests.support.apiserver import APIServerHandle

pytestmark = pytest.mark.skipif(not containerd_store.available(),
                                reason="containerd is installed by scripts/install-system-deps.sh")


@pytest.fixture
def containerd(tmp_path: Path) -> Iterator[Path]:
    with containerd_store.private_containerd(tmp_path / "containerd") as sock:
        yield sock


def sampan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sampan.cli.main", "image", *args], capture_output=True, text=True,
                          timeout=120)


def ctr_refs(sock: Path) -> set[str]:
    out = subprocess.run(["ctr", "--address", str(sock), "-n", "k8s.io", "images", "ls", "-q"], check=True,
                         capture_output=True, text=True).stdout
    return set(out.split())


def test_load_ls_rm_oci_and_docker_archives(containerd: Path, tmp_path: Path) -> None:
    web = httpd_image(tmp_path / "web.tar", name="127.0.0.1:5000/web:1")
    docker_archive = tmp_path / "tool-docker.tar"
    tool = build_image(tmp_path / "tool.tar", name="example.com/tool:2", cmd=["sleep", "1"])
    subprocess.run(["skopeo", "copy", "--quiet", f"oci-archive:{tool.path}",
                    f"docker-archive:{docker_archive}:example.com/team/tool:2"], check=True)
    address = f"unix://{containerd}"
    loaded = sampan("load", str(web.path), "--address", address)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == f"loaded 127.0.0.1:5000/web:1 into containerd at {containerd}"
    loaded = sampan("load", str(docker_archive), "--address", address)
    assert loaded.returncode == 0, loaded.stderr
    assert ctr_refs(containerd) == {"127.0.0.1:5000/web:1", "example.com/team/tool:2"}
    listing = sampan("ls", "--address", address)
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[0].split() == ["NODE", "IMAGE", "DIGEST", "SIZE"]
    assert any("127.0.0.1:5000/web:1" in ln and web.manifest_digest[7:19] in ln for ln in lines[1:])
    removed = sampan("rm", "example.com/team/tool:2", "--address", address)
    assert removed.returncode == 0, removed.stderr
    assert ctr_refs(containerd) == {"127.0.0.1:5000/web:1"}
    again = sampan("rm", "example.com/team/tool:2", "--address", address)
    assert (again.returncode, again.stderr.strip()) == (2, "sampan image: image 'example.com/team/tool:2' not found")


@pytest.mark.parametrize(("content", "message"), [
    (None, "no such file"),
    (b"garbage", "is not an image archive (tar)"),
    ("tar-without-index", "is neither an OCI image layout archive (index.json) nor a docker archive"),
])
def test_bad_archives_are_one_line_errors(tmp_path: Path, content: bytes | str | None, message: str) -> None:
    path = tmp_path / "bad.tar"
    if content == "tar-without-index":
        subprocess.run(["tar", "-cf", str(path), "-C", str(tmp_path), "."], check=False)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    result = sampan("load", str(path), "--address", "unix:///nonexistent.sock")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr


def test_node_annotation_finds_the_nodes_containerd(apiserver: APIServerHandle, containerd: Path,
                                                   tmp_path: Path) -> None:
    web = httpd_image(tmp_path / "web.tar", name="127.0.0.1:5000/web:1")
    for name, node_annotations in (("n1", {CRI_SOCKET_ANNOTATION: f"unix://{containerd}"}),
                              ("n2", {CRI_SOCKET_ANNOTATION: f"unix://{containerd}"}), ("proc", {})):
        body = json.dumps({"apiVersion": "v1", "kind": "Node",
                           "metadata": {"name": name, "annotations": node_annotations}}).encode()
        request = urllib.request.Request(f"{apiserver.url}/api/v1/nodes", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 201
    kubeconfig = str(apiserver.kubeconfig)
    result = sampan("load", str(web.path), "--kubeconfig", kubeconfig)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "loaded 127.0.0.1:5000/web:1 into n1, n2"  # one containerd, loaded once
    listing = sampan("ls", "--node", "n2", "--kubeconfig", kubeconfig)
    assert listing.stdout.splitlines()[1].split()[:2] == ["n2", "127.0.0.1:5000/web:1"]
    for node, message in (("proc", f"node 'proc' has no CRI endpoint ({CRI_SOCKET_ANNOTATION})"),
                          ("ghost", "node 'ghost' not found")):
        result = sampan("ls", "--node", node, "--kubeconfig", kubeconfig)
        assert result.returncode == 2
        assert result.stderr.startswith(f"sampan image: {message}")
