"""Build OCI images from scratch (no registry, no daemon): a busybox-static rootfs layer plus an image
config, written as an OCI image layout (a directory, for ``skopeo copy oci:…``) or as its tar archive
(for ``ctr -n k8s.io images import`` / ``sampan image load``).

The output is deterministic: the same inputs give the same digests (tar entries sorted, mtimes 0,
uid/gid 0), so re-importing an image is a no-op. Layers are plain (uncompressed) tars, which every
runtime and registry accepts (``application/vnd.oci.image.layer.v1.tar``).

Images built here:

* :func:`busybox_image` — ``/bin/busybox`` with a symlink per applet, ``/etc/passwd`` and ``/etc/group``
  (root, nobody), empty ``/tmp``, ``/proc``, ``/sys``, ``/dev``; ENTRYPOINT/CMD/env/workdir as given.
* :func:`pause_image` — the pod sandbox (infra) image: the busybox rootfs running
  ``/bin/sleep 2147483647`` (it only holds the pod's namespaces; CRI stops it with SIGKILL).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

BUSYBOX = "/bin/busybox"
PAUSE_IMAGE = "registry.k8s.io/pause:sampan"
"""The sandbox image ``sampan up --runtime containerd`` builds, imports and configures."""

_LAYER = "application/vnd.oci.image.layer.v1.tar"
_CONFIG = "application/vnd.oci.image.config.v1+json"
_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
_PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
_GROUP = "root:x:0:\nnogroup:x:65534:\n"


class ImageBuildError(Exception):
    """The image cannot be built (no static busybox on this machine)."""


@dataclass(frozen=True, slots=True)
class ImageSpec:
    """What goes into an image: its reference, a file tree, and the config's process defaults."""

    ref: str
    files: Mapping[str, bytes] = field(default_factory=dict)
    """Extra regular files (absolute path in the image → content; mode 0755 when it starts with ``#!``)."""
    entrypoint: Sequence[str] = ()
    cmd: Sequence[str] = ()
    env: Sequence[str] = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)
    working_dir: str = ""
    user: str = ""


@dataclass(frozen=True, slots=True)
class BuiltImage:
    ref: str
    manifest_digest: str
    config_digest: str
    """The image id as runtimes report it (``sha256:…``)."""


def normalized_ref(ref: str) -> str:
    """``busybox:1`` → ``docker.io/library/busybox:1`` (how containerd names images)."""
    name = ref
    first = name.split("/", 1)[0]
    if "/" not in name:
        name = "docker.io/library/" + name
    elif "." not in first and ":" not in first and first != "localhost":
        name = "docker.io/" + name
    last = name.rsplit("/", 1)[-1]
    if ":" not in last and "@" not in last:
        name += ":latest"
    return name


def _busybox_path() -> str:
    path = shutil.which("busybox") or BUSYBOX
    if not os.path.exists(path):
        raise ImageBuildError("busybox-static is not installed (apt-get install busybox-static)")
    return path


def _applets(busybox: str) -> list[str]:
    out = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout
    return sorted({a.strip() for a in out.split() if a.strip() and a.strip() != "busybox"})


def _add(tar: tarfile.TarFile, name: str, *, data: bytes | None = None, kind: bytes = tarfile.REGTYPE,
         mode: int = 0o644, link: str = "") -> None:
    info = tarfile.TarInfo(name.lstrip("/"))
    info.type, info.mode, info.mtime, info.uid, info.gid = kind, mode, 0, 0, 0
    info.linkname = link
    if data is not None:
        info.size = len(data)
    tar.addfile(info, io.BytesIO(data) if data is not None else None)


def rootfs_layer(files: Mapping[str, bytes] | None = None) -> bytes:
    """The busybox rootfs (plus ``files``) as an uncompressed, deterministic tar."""
    busybox = _busybox_path()
    entries: dict[str, tuple[str, bytes | None, str, int]] = {}
    for d in ("bin", "etc", "tmp", "proc", "sys", "dev", "root", "var", "usr", "usr/bin", "sbin"):
        entries[d] = ("dir", None, "", 0o1777 if d == "tmp" else 0o755)
    entries["bin/busybox"] = ("file", Path(busybox).read_bytes(), "", 0o755)
    for applet in _applets(busybox):
        entries.setdefault(f"bin/{applet}", ("symlink", None, "busybox", 0o777))
    entries["etc/passwd"] = ("file", _PASSWD.encode(), "", 0o644)
    entries["etc/group"] = ("file", _GROUP.encode(), "", 0o644)
    for path, content in (files or {}).items():
        rel = path.lstrip("/")
        parts = rel.split("/")
        for i in range(1, len(parts)):
            entries.setdefault("/".join(parts[:i]), ("dir", None, "", 0o755))
        entries[rel] = ("file", content, "", 0o755 if content.startswith(b"#!") else 0o644)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(entries):
            kind, data, link, mode = entries[name]
            if kind == "dir":
                _add(tar, name, kind=tarfile.DIRTYPE, mode=mode)
            elif kind == "symlink":
                _add(tar, name, kind=tarfile.SYMTYPE, mode=mode, link=link)
            else:
                _add(tar, name, data=data, mode=mode)
    return buf.getvalue()


def _blob(data: bytes) -> tuple[str, bytes]:
    return "sha256:" + hashlib.sha256(data).hexdigest(), data


def _json(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def write_layout(spec: ImageSpec, directory: Path) -> BuiltImage:
    """Write ``spec`` as an OCI image layout at ``directory`` (created; existing blobs are kept)."""
    layer_digest, layer = _blob(rootfs_layer(spec.files))
    config: dict[str, object] = {
        "architecture": "amd64", "os": "linux",
        "config": {k: v for k, v in {"Entrypoint": list(spec.entrypoint) or None, "Cmd": list(spec.cmd) or None,
                                     "Env": list(spec.env), "WorkingDir": spec.working_dir or None,
                                     "User": spec.user or None}.items() if v is not None},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        "history": [{"created_by": "sampan.testing.oci"}],
    }
    config_digest, config_bytes = _blob(_json(config))
    manifest = {"schemaVersion": 2, "mediaType": _MANIFEST,
                "config": {"mediaType": _CONFIG, "digest": config_digest, "size": len(config_bytes)},
                "layers": [{"mediaType": _LAYER, "digest": layer_digest, "size": len(layer)}]}
    manifest_digest, manifest_bytes = _blob(_json(manifest))
    full = normalized_ref(spec.ref)
    tag = full.rsplit(":", 1)[-1] if ":" in full.rsplit("/", 1)[-1] else "latest"
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": _MANIFEST, "digest": manifest_digest, "size": len(manifest_bytes),
        "annotations": {"io.containerd.image.name": full, "org.opencontainers.image.ref.name": tag}}]}
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    for digest, data in ((layer_digest, layer), (config_digest, config_bytes), (manifest_digest, manifest_bytes)):
        path = blobs / digest.split(":", 1)[1]
        if not path.exists():
            path.write_bytes(data)
    (directory / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (directory / "index.json").write_bytes(_json(index))
    return BuiltImage(ref=full, manifest_digest=manifest_digest, config_digest=config_digest)


def write_archive(spec: ImageSpec, path: Path) -> BuiltImage:
    """Write ``spec`` as an OCI archive (the layout, tarred) at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    layout = path.with_name(path.name + ".layout")
    shutil.rmtree(layout, ignore_errors=True)
    try:
        built = write_layout(spec, layout)
        with tarfile.open(path, "w") as tar:
            for item in sorted(layout.rglob("*")):
                info = tar.gettarinfo(str(item), arcname=str(item.relative_to(layout)))
                info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                if item.is_file():
                    with item.open("rb") as f:
                        tar.addfile(info, f)
                else:
                    tar.addfile(info)
    finally:
        shutil.rmtree(layout, ignore_errors=True)
    return built


def busybox_image(ref: str = "sampan.test/busybox:1", *, entrypoint: Sequence[str] = (),
                  cmd: Sequence[str] = ("sh",), files: Mapping[str, bytes] | None = None,
                  working_dir: str = "", user: str = "") -> ImageSpec:
    return ImageSpec(ref=ref, entrypoint=tuple(entrypoint), cmd=tuple(cmd), files=dict(files or {}),
                     working_dir=working_dir, user=user)


def pause_image(ref: str = PAUSE_IMAGE) -> ImageSpec:
    return ImageSpec(ref=ref, entrypoint=("/bin/sleep", "2147483647"))
