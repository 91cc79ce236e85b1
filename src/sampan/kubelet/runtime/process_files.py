"""The process runtime's blocking helpers: its state files, mount exposure without a private mount
namespace, removal, and ``/proc`` reads. Pure functions of their arguments; the runtime calls the
slow ones (directories, writes, removal) on its file threads, never on the event loop (docs/liveness.md)."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

from sampan.kubelet.runtime import shim
from sampan.kubelet.runtime.cgroups import Cgroups
from sampan.kubelet.runtime.interface import Mount
from sampan.kubelet.runtime.stats import ContainerStats

log = logging.getLogger(__name__)


def mount_env_name(container_path: str) -> str:
    return "SAMPAN_MOUNT_" + re.sub(r"[^A-Za-z0-9]", "_", container_path).upper()


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def exists(path: str) -> bool:
    return os.path.exists(path)


def alive(pid: Any, ticks: Any) -> bool:
    return isinstance(pid, int) and pid > 0 and ticks is not None and shim.proc_start_ticks(pid) == ticks


def expose_mounts(mounts: tuple[Mount, ...], env: dict[str, str]) -> list[str]:
    """Without a private mount namespace: env vars, and a symlink where the mount path is free.
    Returns the symlinks created (removed with the container)."""
    links = []
    for m in mounts:
        env[mount_env_name(m.container_path)] = m.host_path
        if os.path.lexists(m.container_path):
            continue
        try:
            os.makedirs(os.path.dirname(m.container_path) or "/", exist_ok=True)
            os.symlink(m.host_path, m.container_path)
            links.append(m.container_path)
        except OSError:
            log.debug("no symlink for mount path=%s", m.container_path)
    return links


def remove_links(links: list[str]) -> None:
    for link in links:
        try:
            if os.path.islink(link):
                os.unlink(link)
        except OSError:
            pass


def make_dirs(new: Path, shared: Path) -> None:
    """``new`` must not exist yet (a fresh id); ``shared`` may."""
    new.mkdir(parents=True)
    shared.mkdir(parents=True, exist_ok=True)


def discard_container_files(cg: Cgroups, d: Path) -> None:
    cg.remove()
    shutil.rmtree(d, ignore_errors=True)


def remove_container_files(cg: Cgroups | None, d: Path, meta: dict[str, Any]) -> None:
    """A removed container's cgroups, mount links, log and state directory (blocking: a worker thread)."""
    if cg is not None:
        cg.remove()
    remove_links(meta.get("links") or [])
    try:
        os.unlink(meta["log_path"])
    except OSError:
        pass
    shutil.rmtree(d, ignore_errors=True)


def remove_trees(dirs: list[Path | None]) -> None:
    for d in dirs:
        if d is not None:
            shutil.rmtree(d, ignore_errors=True)


def proc_stats(container_id: str, pid: int, now: float) -> ContainerStats | None:
    """CPU time (user + system, with reaped children) and resident memory of one process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        rss_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    ticks = sum(int(f) for f in fields[11:15])  # utime stime cutime cstime (fields 14-17 of stat)
    cpu_ns = ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    rss = rss_pages * os.sysconf("SC_PAGE_SIZE")
    return ContainerStats(container_id, now, cpu_ns, memory_working_set_bytes=rss, memory_usage_bytes=rss)
