"""A private containerd without its CRI plugin, for tests of image stores (``sampan image``): its own
root, state and socket under a temp dir; nothing but the image and content stores are used (no
containers, no network). Run such tests under ``flock /tmp/sampan-net.lock`` like every containerd test."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from sampan.testing.etcd import _death_signal_prefix


def available() -> bool:
    return bool(shutil.which("containerd") and shutil.which("ctr"))


@contextlib.contextmanager
def private_containerd(base: Path, *, timeout: float = 20.0) -> Iterator[Path]:
    """Start containerd under ``base``; yields its socket path; stops it (SIGTERM, then SIGKILL).

    The sockets live in a short directory of their own under /tmp, whatever ``base`` is: AF_UNIX paths
    end at 104-108 bytes, and pytest's tmp paths under xdist (``…/popen-gwN/<test name>0/``) pass that."""
    base.mkdir(parents=True, exist_ok=True)
    sockets = Path(tempfile.mkdtemp(prefix="sampan-ctr-", dir="/tmp"))
    sock = sockets / "containerd.sock"
    config = base / "config.toml"
    config.write_text(
        f'version = 2\nroot = "{base / "root"}"\nstate = "{base / "state"}"\n'
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
        f'[grpc]\n  address = "{sock}"\n[ttrpc]\n  address = "{sock}.ttrpc"\n')
    with open(base / "containerd.log", "ab") as log:
        proc = subprocess.Popen([*_death_signal_prefix(), "containerd", "--config", str(config)],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while not sock.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"containerd did not start: {(base / 'containerd.log').read_text()[-2000:]}")
            time.sleep(0.05)
        yield sock
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(sockets, ignore_errors=True)
