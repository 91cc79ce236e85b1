"""cgroup v1 limits for one container: ``memory``, ``cpu`` (CFS quota and shares) and ``pids``; and its
usage counters (``cpuacct.usage``, memory usage and working set) for the kubelet's stats.

A :class:`Cgroups` names one directory per controller, ``/sys/fs/cgroup/<controller>/<parent>/<name>``.
Invariant: the directories exist from :meth:`create` until :meth:`remove`; a process joins by writing its
pid into each ``cgroup.procs`` (the shim does that in the child before exec, so the container's own
memory is charged from its first instruction). OOM kills are read from ``memory.oom_control``
(``oom_kill N``), with ``memory.failcnt`` as a fallback on kernels without that counter.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from sampan.kubelet.runtime.interface import LinuxResources

log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
CONTROLLERS = ("memory", "cpu", "cpuacct", "pids")
"""``cpuacct`` carries no limit: the container joins it so its CPU time can be read."""


def cgroups_v1_usable(root: Path = CGROUP_ROOT) -> bool:
    """True when we can create cgroups in every controller we use (root on a cgroup v1 host)."""
    if os.geteuid() != 0:
        return False
    return all((root / c / "cgroup.procs").exists() and os.access(root / c, os.W_OK) for c in CONTROLLERS)


def nice_weight(nice: int) -> int:
    """The CFS weight of a task at ``nice`` (1024 at 0, ~1.25x per step: the kernel's
    ``sched_prio_to_weight`` table within a few percent), as ``cpu.shares`` (2 to 262144)."""
    return max(2, min(262144, round(1024 / 1.25 ** nice)))


def ensure_runtime_cgroup(name: str, *, root: Path = CGROUP_ROOT) -> tuple[str, ...]:
    """Create the runtime's own cgroup (``cpu`` and ``cpuacct``; upstream's ``--runtime-cgroups``) and
    return its ``cgroup.procs`` files.

    Why (docs/liveness.md): without it, every shim the runtime starts is a task of the root cgroup with a
    weight of its own, so 110 shims starting at once each weigh as much as the kubelet and its event loop
    waits for a core behind all of them. Inside one cgroup they are one scheduling
    entity together (default ``cpu.shares`` 1024, like ``system.slice/containerd.service`` upstream), and
    the kubelet competes with the group, not with each process. The group's ``cpu.shares`` is the weight
    of one task at the kubelet's own nice (1024 at nice 0; a kubelet started at nice 10 would otherwise face
    a group ten times its weight). Never removed: shims outlive the kubelet."""
    files = []
    for controller in ("cpu", "cpuacct"):
        d = root / controller / name
        d.mkdir(parents=True, exist_ok=True)
        files.append(str(d / "cgroup.procs"))
    (root / "cpu" / name / "cpu.shares").write_text(str(nice_weight(os.getpriority(os.PRIO_PROCESS, 0))))
    return tuple(files)


class Cgroups:
    """The cgroup directories of one container."""

    def __init__(self, parent: str, name: str, *, root: Path = CGROUP_ROOT) -> None:
        self.dirs = {c: root / c / parent / name for c in CONTROLLERS}

    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs.values()]

    def create(self, res: LinuxResources) -> None:
        """Create the directories and write the limits. Raises OSError when the kernel refuses."""
        for d in self.dirs.values():
            d.mkdir(parents=True, exist_ok=True)
        mem = self.dirs["memory"]
        if res.memory_limit_bytes is not None:
            (mem / "memory.limit_in_bytes").write_text(str(res.memory_limit_bytes))
            swap = mem / "memory.memsw.limit_in_bytes"
            if swap.exists():
                try:
                    swap.write_text(str(res.memory_limit_bytes))
                except OSError:
                    log.debug("memsw limit refused dir=%s", mem)
        cpu = self.dirs["cpu"]
        if res.cpu_quota_us is not None:
            (cpu / "cpu.cfs_period_us").write_text(str(res.cpu_period_us))
            (cpu / "cpu.cfs_quota_us").write_text(str(max(1000, res.cpu_quota_us)))
        if res.cpu_shares is not None:
            (cpu / "cpu.shares").write_text(str(max(2, res.cpu_shares)))
        if res.pids_limit is not None:
            (self.dirs["pids"] / "pids.max").write_text(str(res.pids_limit))

    def oom_killed(self) -> bool:
        """Whether the kernel OOM-killed a process of this cgroup."""
        mem = self.dirs["memory"]
        try:
            for line in (mem / "memory.oom_control").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value) > 0
            return int((mem / "memory.failcnt").read_text()) > 0
        except (OSError, ValueError):
            return False

    def cpu_usage_ns(self) -> int | None:
        """Cumulative CPU time of the cgroup's processes (``cpuacct.usage``); None when unreadable."""
        try:
            return int((self.dirs["cpuacct"] / "cpuacct.usage").read_text())
        except (OSError, ValueError):
            return None

    def memory_usage(self) -> tuple[int, int] | None:
        """(usage, working set) in bytes: ``memory.usage_in_bytes`` and that minus ``total_inactive_file``
        (cAdvisor's working set); None when unreadable."""
        mem = self.dirs["memory"]
        try:
            usage = int((mem / "memory.usage_in_bytes").read_text())
            inactive = 0
            for line in (mem / "memory.stat").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "total_inactive_file":
                    inactive = int(value)
                    break
        except (OSError, ValueError):
            return None
        return usage, max(0, usage - inactive)

    def remove(self) -> bool:
        """Remove the directories (they must hold no process). True when all are gone."""
        ok = True
        for d in self.dirs.values():
            try:
                d.rmdir()
            except FileNotFoundError:
                pass
            except OSError as err:
                log.debug("cgroup not removed dir=%s err=%s", d, err)
                ok = False
        return ok
