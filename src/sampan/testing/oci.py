"""Tiny OCI images built from scratch for tests: a busybox-static root filesystem in one layer.

:func:`build_image` writes an OCI *archive* (a tar of an OCI image layout: ``oci-layout``,
``index.json``, ``blobs/sha256/…``) that ``skopeo copy oci-archive:PATH docker://…`` pushes to a
registry and ``ctr images import`` loads. The index names the image twice, as
``org.opencontainers.image.ref.name`` (what skopeo selects with ``oci-archive:PATH:NAME``) and
``io.containerd.image.name`` (what ``ctr import`` tags it as). Builds are deterministic: the same
inputs give the same digests (fixed mtimes, owners and order; gzip without a timestamp).

:func:`httpd_image` is the HTTP-serving test image: busybox ``httpd -f -p PORT -h /www`` serving
``/www/index.html``.

Needs ``/bin/busybox`` to be the static build (Debian's ``busybox-static``).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import platform
import subprocess
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BUSYBOX = Path("/bin/busybox")
MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_EPOCH = 0
_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}


@dataclass(frozen=True, slots=True)
class OciImage:
    """A built image: ``name`` (as tagged), ``image_id`` (the config digest, CRI's image id),
    ``manifest_digest`` (what a registry's repo digest names) and the archive's ``path``."""

    name: str
    image_id: str
    manifest_digest: str
    path: Path
    size: int


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _canonical(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def busybox_applets() -> list[str]:
    out = subprocess.run([str(BUSYBOX), "--list"], check=True, capture_output=True, text=True).stdout
    return sorted(a for a in out.split() if a and "/" not in a)


def _add(tar: tarfile.TarFile, name: str, *, data: bytes | None = None, mode: int = 0o644,
         kind: bytes = tarfile.REGTYPE, link: str = "") -> None:
    info = tarfile.TarInfo(name)
    info.mtime, info.uid, info.gid, info.uname, info.gname, info.mode = _EPOCH, 0, 0, "root", "root", mode
    info.type = kind
    info.linkname = link
    if data is not None:
        info.size = len(data)
    tar.addfile(info, io.BytesIO(data) if data is not None else None)


def rootfs_layer(files: Mapping[str, bytes | str] | None = None, *, busybox: bool = True) -> bytes:
    """An uncompressed layer tar: busybox and its applets under /bin, /etc/passwd and group, the usual
    empty directories, then ``files`` (path → content; parent directories created)."""
    buf = io.BytesIO()
    extra = {k.lstrip("/"): (v.encode() if isinstance(v, str) else v) for k, v in (files or {}).items()}
    dirs = {"bin", "dev", "etc", "proc", "sys", "tmp", "var", "root", "www"}
    for path in extra:
        parts = path.split("/")[:-1]
        dirs |= {"/".join(parts[:i]) for i in range(1, len(parts) + 1)}
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in sorted(dirs):
            _add(tar, d, mode=0o1777 if d == "tmp" else 0o755, kind=tarfile.DIRTYPE)
        if busybox:
            _add(tar, "bin/busybox", data=BUSYBOX.read_bytes(), mode=0o755)
            for applet in busybox_applets():
                if applet != "busybox":
                    _add(tar, f"bin/{applet}", kind=tarfile.SYMTYPE, link="busybox", mode=0o777)
        base = {"etc/passwd": b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
                "etc/group": b"root:x:0:\nnogroup:x:65534:\n"}
        for path, data in sorted({**base, **extra}.items()):
            _add(tar, path, data=data, mode=0o755 if data.startswith(b"#!") else 0o644)
    return buf.getvalue()


def build_image(path: Path, *, name: str, entrypoint: Iterable[str] = (), cmd: Iterable[str] = (),
                env: Iterable[str] = (), working_dir: str = "", files: Mapping[str, bytes | str] | None = None,
                exposed_ports: Iterable[str] = (), busybox: bool = True) -> OciImage:
    """Write an OCI archive of a one-layer image named ``name`` (``127.0.0.1:5000/web:1``) to ``path``."""
    layer_tar = rootfs_layer(files, busybox=busybox)
    layer = gzip.compress(layer_tar, mtime=0)
    arch = _ARCH.get(platform.machine(), platform.machine())
    runtime_config: dict[str, Any] = {
        "Env": [DEFAULT_PATH, *env], "Entrypoint": list(entrypoint) or None, "Cmd": list(cmd) or None,
        "WorkingDir": working_dir, "ExposedPorts": {p: {} for p in exposed_ports} or None}
    config = {
        "architecture": arch, "os": "linux", "created": "1970-01-01T00:00:00Z",
        "config": {k: v for k, v in runtime_config.items() if v not in (None, "")},
        "rootfs": {"type": "layers", "diff_ids": [_sha256(layer_tar)]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "sampan.testing.oci"}],
    }
    config_blob = _canonical(config)
    manifest = {"schemaVersion": 2, "mediaType": MEDIA_MANIFEST,
                "config": {"mediaType": MEDIA_CONFIG, "digest": _sha256(config_blob), "size": len(config_blob)},
                "layers": [{"mediaType": MEDIA_LAYER, "digest": _sha256(layer), "size": len(layer)}]}
    manifest_blob = _canonical(manifest)
    index = {"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": [{
        "mediaType": MEDIA_MANIFEST, "digest": _sha256(manifest_blob), "size": len(manifest_blob),
        "platform": {"architecture": arch, "os": "linux"},
        "annotations": {"org.opencontainers.image.ref.name": name, "io.containerd.image.name": name}}]}
    blobs = {_sha256(b): b for b in (layer, config_blob, manifest_blob)}
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, mode="w", format=tarfile.PAX_FORMAT) as tar:
        _add(tar, "blobs", kind=tarfile.DIRTYPE, mode=0o755)
        _add(tar, "blobs/sha256", kind=tarfile.DIRTYPE, mode=0o755)
        for digest, blob in sorted(blobs.items()):
            _add(tar, f"blobs/sha256/{digest.split(':', 1)[1]}", data=blob)
        _add(tar, "oci-layout", data=_canonical({"imageLayoutVersion": "1.0.0"}))
        _add(tar, "index.json", data=_canonical(index))
    return OciImage(name=name, image_id=_sha256(config_blob), manifest_digest=_sha256(manifest_blob), path=path,
                    size=len(layer) + len(config_blob) + len(manifest_blob))


def httpd_image(path: Path, *, name: str, port: int = 8080, index: str = "hello from sampan\n") -> OciImage:
    """The HTTP-serving test image: ``httpd -f -p PORT -h /www`` with ``/www/index.html`` = ``index``."""
    return build_image(path, name=name, entrypoint=["/bin/httpd", "-f", "-p", str(port), "-h", "/www"],
                       files={"www/index.html": index}, exposed_ports=[f"{port}/tcp"])


PAUSE_IMAGE = "registry.k8s.io/pause:sampan"
"""The sandbox image ``sampan up --runtime containerd`` builds, imports and configures."""


def pause_image(path: Path, *, name: str = PAUSE_IMAGE) -> OciImage:
    """The pod sandbox (infra) image: busybox ``sleep`` only holds the pod's namespaces (CRI stops it with
    SIGKILL)."""
    return build_image(path, name=name, entrypoint=("/bin/sleep", "2147483647"))
