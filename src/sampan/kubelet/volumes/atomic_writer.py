"""Publish a set of files into a directory atomically, as upstream's AtomicWriter does.

Layout of a published directory::

    ..2026_11_26_10_00_00.123456789/   the current payload (a fresh directory per change)
    ..data -> ..2026_11_26_10_00_00.123456789
    key -> ..data/key                   one symlink per top-level entry of the payload

Invariant: a reader that opens ``dir/key`` sees one whole payload — the old or the new — because the
switch is a single ``rename`` of a symlink over ``..data``; the previous payload directory is kept until
the next change, so a reader resolving the old ``..data`` never finds it gone. Writing an unchanged
payload does nothing.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

DATA_DIR = "..data"


@dataclass(frozen=True, slots=True)
class FileProjection:
    data: bytes
    mode: int = 0o644


def validate_path(path: str) -> None:
    """Payload paths are relative, without ``..`` elements and not starting with ``..``."""
    if not path or path.startswith("/") or path.startswith(".."):
        raise ValueError(f"invalid path {path!r}: must be relative and may not start with '..'")
    if ".." in path.split("/"):
        raise ValueError(f"invalid path {path!r}: may not contain '..'")


def _current(target: Path) -> dict[str, FileProjection] | None:
    data = target / DATA_DIR
    if not data.is_dir():
        return None
    out = {}
    for root, _, files in os.walk(data, followlinks=False):
        for f in files:
            p = Path(root) / f
            out[str(p.relative_to(data))] = FileProjection(p.read_bytes(), p.stat().st_mode & 0o7777)
    return out


def write_atomic(target: Path, payload: dict[str, FileProjection]) -> bool:
    """Make ``target`` hold exactly ``payload``. Returns False when it already did. Raises ValueError on a
    bad path, OSError on I/O failure (the previous payload then stays visible)."""
    for path in payload:
        validate_path(path)
    target.mkdir(parents=True, exist_ok=True)
    if _current(target) == payload:
        return False
    stamp = time.strftime("..%Y_%m_%d_%H_%M_%S", time.gmtime()) + f".{time.time_ns() % 1_000_000_000:09d}"
    new_dir = target / stamp
    new_dir.mkdir()
    for path, proj in payload.items():
        f = new_dir / path
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(proj.data)
        os.chmod(f, proj.mode)
    old_link = target / DATA_DIR
    old_dir = os.readlink(old_link) if old_link.is_symlink() else None
    tmp_link = target / "..data_tmp"
    if tmp_link.is_symlink():
        tmp_link.unlink()
    os.symlink(stamp, tmp_link)
    os.replace(tmp_link, old_link)
    tops = {p.split("/", 1)[0] for p in payload}
    for top in tops:
        link = target / top
        if not link.is_symlink():
            os.symlink(f"{DATA_DIR}/{top}", link)
    for entry in target.iterdir():
        if entry.name.startswith("..") or entry.name in tops:
            continue
        if entry.is_symlink():
            entry.unlink()
    for entry in target.iterdir():  # keep the previous payload one round: a reader may be resolving it
        if entry.name.startswith("..") and entry.name not in (DATA_DIR, stamp, old_dir) and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
    log.debug("volume payload published dir=%s files=%d", target, len(payload))
    return True
