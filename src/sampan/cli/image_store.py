"""A node's containerd image store, driven with ``ctr -n k8s.io`` (the namespace CRI uses): import an
archive, list and remove images. CLI work only: the kubelet itself talks CRI.

Archives are checked before ``ctr`` sees them: an OCI image layout tar (``oci-layout`` + ``index.json``,
as ``skopeo copy … oci-archive:`` or :mod:`sampan.testing.oci` write) or a docker archive
(``manifest.json``, as ``docker save`` / ``skopeo copy … docker-archive:`` write). Failures raise
:class:`ImageStoreError` with one line.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

NAMESPACE = "k8s.io"
_UNPACKING = re.compile(r"^unpacking (\S+) \((sha256:[0-9a-f]+)\)")
_ID_REF = re.compile(r"^sha256:[0-9a-f]{64}$")


class ImageStoreError(Exception):
    """One line for the user."""


@dataclass(frozen=True, slots=True)
class StoredImage:
    """One ``ctr images ls`` row: ``ref`` (a tag, a ``repo@digest`` or an id ref), the manifest ``digest``
    it points to, and the size as ctr prints it."""

    ref: str
    digest: str
    size: str


def socket_path(endpoint: str) -> str:
    """``unix:///run/x.sock`` or ``/run/x.sock`` -> ``/run/x.sock``."""
    path = endpoint.removeprefix("unix://")
    if not path.startswith("/"):
        raise ImageStoreError(f"container runtime endpoint {endpoint!r} is not a unix socket path")
    return path


def archive_kind(path: Path) -> str:
    """``oci`` or ``docker``; ImageStoreError when the file is neither."""
    if not path.is_file():
        raise ImageStoreError(f"{path}: no such file")
    try:
        with tarfile.open(path) as tar:
            names = {n.lstrip("./") for n in tar.getnames()}
    except (tarfile.TarError, OSError):
        raise ImageStoreError(f"{path} is not an image archive (tar)") from None
    if "index.json" in names and "oci-layout" in names:
        return "oci"
    if "manifest.json" in names:
        return "docker"
    raise ImageStoreError(f"{path} is neither an OCI image layout archive (index.json) nor a docker archive "
                          "(manifest.json)")


class ImageStore:
    """The k8s.io image namespace of the containerd at ``address`` (a socket path)."""

    def __init__(self, address: str, *, ctr: str | None = None, timeout: float = 300.0) -> None:
        self.address = address
        found = ctr or shutil.which("ctr")
        if found is None:
            raise ImageStoreError("ctr not found (install the Debian package containerd)")
        self.ctr = found
        self.timeout = timeout

    def _run(self, *args: str) -> str:
        if not Path(self.address).exists():
            raise ImageStoreError(f"no containerd socket at {self.address}")
        try:
            result = subprocess.run([self.ctr, "--address", self.address, "-n", NAMESPACE, *args],
                                    capture_output=True, text=True, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            raise ImageStoreError(f"ctr {args[0]} {args[1]} timed out after {self.timeout:.0f}s") from None
        if result.returncode != 0:
            lines = [ln for ln in result.stderr.strip().splitlines() if ln.strip()]
            raise ImageStoreError(lines[-1] if lines else f"ctr exited with {result.returncode}")
        return result.stdout

    def load(self, archive: Path) -> list[str]:
        """Import ``archive`` (checked first); the image names it held."""
        archive_kind(archive)
        out = self._run("images", "import", str(archive.resolve()))
        return [m.group(1) for m in map(_UNPACKING.match, out.splitlines()) if m]

    def images(self) -> list[StoredImage]:
        rows = []
        for line in self._run("images", "ls").splitlines()[1:]:
            cols = line.split()
            if len(cols) >= 5:
                rows.append(StoredImage(ref=cols[0], digest=cols[2], size=f"{cols[3]} {cols[4]}"))
        return rows

    def remove(self, image: str) -> list[str]:
        """Remove ``image`` (a name as written in a pod, a full ref, or a manifest digest) with every
        other ref to the same manifest (its ``repo@digest`` and id refs), as ``crictl rmi`` does; the refs
        removed. ImageStoreError when nothing matches."""
        rows = self.images()
        wanted = _spellings(image)
        targets = {r.digest for r in rows if r.ref in wanted or r.digest in wanted}
        if not targets:
            raise ImageStoreError(f"image {image!r} not found")
        refs = [r.ref for r in rows if r.digest in targets]
        self._run("images", "rm", *refs)
        return refs


def tagged(rows: list[StoredImage]) -> list[StoredImage]:
    """The rows a user cares about: tags and repo digests, not CRI's bare ``sha256:<id>`` refs."""
    return [r for r in rows if not _ID_REF.match(r.ref)]


def _spellings(image: str) -> set[str]:
    from sampan.kubelet.images.reference import ReferenceError, apply_default_tag, parse_normalized

    out = {image}
    try:
        out.add(str(parse_normalized(apply_default_tag(image))))
    except ReferenceError:
        pass
    return out
