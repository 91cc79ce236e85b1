"""Keep the suite's host tests apart when pytest-xdist runs it on several workers.

A *host test* programs the kernel (network namespaces, bridges, veths, nftables/iptables rules, the
``sampan-dns`` device — most with fixed names), starts containerd, or starts a whole cluster (``sampan up``,
HAProxy and etcd members, hollow nodes, the pytest plugin's clusters) that takes fixed or checked-then-bound
ports. Two of them at once collide; every other test may run beside anything.

Two mechanisms, either of which alone keeps host tests from overlapping:

* **Scheduling** (``pytest_xdist_make_scheduler``): :class:`HostGroupScheduling` makes every host test one
  work unit, sent whole to one worker and run there in collection order (so a module- or session-scoped
  fixture of a host test is set up once, never on two workers), ahead of everything else because it is the
  longest serial chain. Every other module is a unit of its own, handed to whichever worker runs short.
  This replaces ``--dist loadgroup``, whose ``xdist_group`` marker renames ``Item._nodeid``, an attribute
  pytest >= 9.2 no longer reads (the groups were silently ignored).
* **A lock** (:class:`HostLock`): a worker takes an exclusive ``flock`` on one file per test run before a
  host test's set-up and keeps it while its next test is also a host test, so fixtures that outlive one test
  stay covered. Should a future xdist or a ``--dist`` override spread host tests over workers, they would
  queue here rather than collide (a session-scoped host fixture is the one thing the lock cannot cover: it
  is torn down after the worker's last test, whatever that is).

Serial runs (no ``-n``) need neither, and the lock then is never contended.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable, Generator, Iterable
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

HOST_UNIT = "host"
"""The name of the one work unit every host test belongs to."""

# Whole directories under tests/: kernel programming, containerd, process-runtime or simulated clusters.
HOST_DIRS = frozenset({
    "cli", "dns", "e2e", "ha", "kubelet", "metricsserver", "observability", "proxy", "scale", "streaming",
    "testing",
})
# Single modules elsewhere that start a `sampan up` cluster (fixed scheduler/controller-manager/DNS ports
# taken when free) or proved sensitive to running beside one.
HOST_MODULES = frozenset({
    "tests/apiserver/encryption/test_encryption.py",
    "tests/apiserver/test_customresources.py",
    "tests/apiserver/test_customresources_kopf.py",
    "tests/controllers/daemonset/test_up_acceptance.py",
    "tests/controllers/disruption/test_drain.py",
})


def is_host_test(nodeid: str, *, host_dirs: Iterable[str] = HOST_DIRS,
                 host_modules: Iterable[str] = HOST_MODULES) -> bool:
    """Whether the test ``nodeid`` (``tests/<dir>/…/test_x.py::name[param]``, relative to the rootdir)
    is a host test."""
    module = nodeid.split("::", 1)[0]
    parts = PurePosixPath(module).parts
    return (len(parts) > 2 and parts[0] == "tests" and parts[1] in frozenset(host_dirs)) or \
        module in frozenset(host_modules)


class HostGroupScheduling(LoadScopeScheduling):
    """xdist's scope scheduling with two kinds of unit: all host tests (one unit, :data:`HOST_UNIT`) and
    each other test module. xdist sends a unit whole to one worker, largest first: the host unit starts
    at once on one worker while the other workers drain the modules; a worker short of work takes the
    next module."""

    def __init__(self, config: pytest.Config, log: Any = None, *, is_host: Callable[[str], bool]) -> None:
        super().__init__(config, log)
        self.is_host = is_host

    def _split_scope(self, nodeid: str) -> str:
        return HOST_UNIT if self.is_host(nodeid) else nodeid.split("::", 1)[0]


class HostLock:
    """An exclusive ``flock`` on ``path`` shared by the workers of one test run (see the module doc).

    Invariant: held from the set-up of a host test until the tear-down of the last host test in a row on
    this worker; never held while a non-host test runs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self.waits = 0
        """How many times another worker held it first (0 while scheduling keeps host tests together)."""

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock, waiting for another worker if need be; a no-op when held."""
        if self._fd is not None:
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.waits += 1
            fcntl.flock(fd, fcntl.LOCK_EX)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class HostScheduler:
    """Controller side under xdist: :class:`HostGroupScheduling` for the run."""

    def __init__(self, is_host: Callable[[str], bool] = is_host_test) -> None:
        self.is_host = is_host

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> HostGroupScheduling:
        return HostGroupScheduling(config, log, is_host=self.is_host)


class HostLockPlugin:
    """The :class:`HostLock` around host tests on each xdist worker; the controller makes one lock file per
    run (in a directory it removes at the end) and hands its path to the workers. Without ``-n`` it does
    nothing."""

    LOCK_KEY = "sampan_host_lock"

    def __init__(self, is_host: Callable[[str], bool] = is_host_test) -> None:
        self.is_host = is_host
        self._lock_dir: str | None = None
        self.lock: HostLock | None = None

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        if self._lock_dir is None:
            self._lock_dir = tempfile.mkdtemp(prefix="sampan-host-tests-")
        node.workerinput[self.LOCK_KEY] = os.path.join(self._lock_dir, "lock")

    def pytest_configure(self, config: pytest.Config) -> None:
        path = getattr(config, "workerinput", {}).get(self.LOCK_KEY)
        if path is not None:
            self.lock = HostLock(Path(path))

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self.lock is not None:
            self.lock.release()
        if self._lock_dir is not None:
            shutil.rmtree(self._lock_dir, ignore_errors=True)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item,
                                nextitem: pytest.Item | None) -> Generator[None, object, object]:
        lock = self.lock
        if lock is None:
            return (yield)
        if self.is_host(item.nodeid):
            lock.acquire()
        try:
            return (yield)
        finally:
            if nextitem is None or not self.is_host(nextitem.nodeid):
                lock.release()


def register(config: pytest.Config, is_host: Callable[[str], bool] = is_host_test, *, schedule: bool = True) -> None:
    """Both mechanisms (``schedule=False``: the lock alone, for a test of it)."""
    if schedule:
        config.pluginmanager.register(HostScheduler(is_host), "sampan-host-scheduler")
    config.pluginmanager.register(HostLockPlugin(is_host), "sampan-host-lock")
