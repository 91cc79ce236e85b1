"""A private containerd for CRI tests (module-scoped), with the pause image and busybox test images
imported. Needs root, containerd, runc and the CNI plugins (``make test`` installs them); skipped
otherwise. Each module gets its own containerd, directory and CNI bridge; teardown removes every
sandbox, stops containerd, deletes the bridge and the directory."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sampan.cli import containerd_node as cn
from sampan.testing import oci

BUSYBOX = "sampan.test/busybox:1"
"""ENTRYPOINT ["/bin/echo", "entrypoint"], CMD ["from-cmd"]: prints ``entrypoint from-cmd``."""
SHELL = "sampan.test/shell:1"
"""CMD ["sh"] only, for tests that give their own command."""
POD_CIDR = "100.64.250.0/24"
BRIDGE = "sampanct0"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("containerd") is None or shutil.which("runc") is None,
    reason="containerd tests need root, containerd and runc (scripts/install-system-deps.sh)")


@dataclass
class Containerd:
    layout: cn.ContainerdLayout
    process: subprocess.Popen[bytes]

    @property
    def endpoint(self) -> str:
        return self.layout.endpoint

    def ctr(self, *args: str) -> str:
        return cn.ctr(self.layout, *args).stdout


def _remove_everything(layout: cn.ContainerdLayout) -> None:
    from sampan.kubelet.runtime.cri.client import CRIClient

    async def clean() -> None:
        client = CRIClient(layout.endpoint)
        try:
            for sb in await client.list_pod_sandboxes():
                with contextlib.suppress(Exception):
                    await client.stop_pod_sandbox(sb.id)
                with contextlib.suppress(Exception):
                    await client.remove_pod_sandbox(sb.id)
        finally:
            await client.close()

    asyncio.run(clean())


@pytest.fixture(scope="module")
def containerd() -> Iterator[Containerd]:
    if shutil.which("busybox") is None or not any(os.path.exists(f"{d}/bridge") for d in cn.CNI_BIN_DIRS):
        pytest.skip("needs busybox-static and containernetworking-plugins")
    directory = Path(tempfile.mkdtemp(prefix="sampan-cri-", dir="/tmp"))  # short: socket paths < 108 bytes
    layout = cn.ContainerdLayout(directory)
    cn.write_config(layout, bridge=BRIDGE)
    proc = cn.start(layout)
    try:
        cn.wait_ready(layout, proc)
        cn.load_pause_image(layout)
        images = directory / "images"
        images.mkdir()
        for name, entrypoint, cmd in ((BUSYBOX, ("/bin/echo", "entrypoint"), ("from-cmd",)), (SHELL, (), ("sh",))):
            archive = images / (name.replace("/", "_").replace(":", "_") + ".tar")
            oci.build_image(archive, name=name, entrypoint=entrypoint, cmd=cmd)
            cn.import_archive(layout, archive)
        yield Containerd(layout, proc)
    finally:
        with contextlib.suppress(Exception):
            _remove_everything(layout)
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)
        subprocess.run(["umount", "-R", str(directory / "root")], capture_output=True)
        shutil.rmtree(directory, ignore_errors=True)
