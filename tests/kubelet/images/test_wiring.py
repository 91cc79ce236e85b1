"""How the kubelet finds a runtime's ImageService and CRI endpoint, and publishes the endpoint."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sampan._lib.clock import FakeClock
from sampan.kubelet.kubelet import KubeletOptions, cri_endpoint_of, image_service_of, make_runtime
from sampan.kubelet.node_status import CRI_SOCKET_ANNOTATION, NodeIdentity, registration
from sampan.kubelet.runtime.cri.runtime import CRIRuntime
from sampan.kubelet.runtime.interface import RuntimeInfo
from sampan.kubelet.runtime.simulated import SimulatedRuntime
from sampan.kubelet.static_pods.runtime import StaticPodRuntime
from tests.kubelet.images.fake import FakeImageService


class FakeCRIRuntime(SimulatedRuntime):
    def __init__(self, endpoint: str) -> None:
        super().__init__(clock=FakeClock())
        self.image_service = FakeImageService()
        self.options: Any = SimpleNamespace(endpoint=endpoint)


def test_runtimes_without_images_have_no_image_service() -> None:
    simulated = SimulatedRuntime(clock=FakeClock())
    assert image_service_of(simulated) is None
    assert cri_endpoint_of(simulated) == ""


def test_image_service_and_endpoint_are_found_behind_the_static_pod_split() -> None:
    cri = FakeCRIRuntime("unix:///run/sampan/containerd.sock")
    assert image_service_of(cri) is cri.image_service
    split = StaticPodRuntime(cri, SimulatedRuntime(clock=FakeClock()))
    assert image_service_of(split) is cri.image_service
    assert cri_endpoint_of(split) == "unix:///run/sampan/containerd.sock"


def test_registration_publishes_the_cri_endpoint() -> None:
    info = RuntimeInfo(name="containerd", version="1.6", enforces_limits=True, private_mounts=True)
    identity = NodeIdentity(name="n1", address="127.0.0.1", hostname="h", port=1, capacity={}, runtime=info,
                            labels={}, cri_endpoint="unix:///x.sock")
    assert registration(identity, now=0.0)["metadata"]["annotations"][CRI_SOCKET_ANNOTATION] == "unix:///x.sock"
    bare = NodeIdentity(name="n1", address="127.0.0.1", hostname="h", port=1, capacity={}, runtime=info, labels={})
    assert CRI_SOCKET_ANNOTATION not in registration(bare, now=0.0)["metadata"]["annotations"]


def test_cri_runtime_leaves_pulls_to_the_image_manager(tmp_path: Path) -> None:
    """The kubelet's image manager makes sure of the image before every CreateContainer, so the CRI runtime
    must not ask ImageStatus a second time; static pods of a split bypass the manager and pull themselves."""
    endpoint = "unix:///run/sampan/none.sock"  # never dialled: the gRPC client is made on first use
    pods = make_runtime(KubeletOptions(node_name="n1", root_dir=tmp_path, runtime="containerd",
                                       container_runtime_endpoint=endpoint), FakeClock())
    assert isinstance(pods, CRIRuntime)
    assert not pods.options.pull_if_absent
    split = make_runtime(KubeletOptions(node_name="n1", root_dir=tmp_path, runtime="process",
                                        static_pod_runtime="containerd", pod_manifest_path=tmp_path / "manifests",
                                        container_runtime_endpoint=endpoint), FakeClock())
    assert isinstance(split, StaticPodRuntime)
    assert isinstance(split.static, CRIRuntime)
    assert split.static.options.pull_if_absent
