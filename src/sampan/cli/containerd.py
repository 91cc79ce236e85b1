"""``sampan containerd``: a private containerd for one node, in the foreground until SIGTERM/SIGINT.

``sampan up --runtime containerd`` runs one per node as a supervised component (restarted when it dies):
it writes the config (:mod:`sampan.cli.containerd_node`), starts containerd, waits for its socket,
imports the locally built pause image, installs the pod-network forwarding guard (the ``ip
sampan-podnet`` nftables table: pod traffic never leaves the machine) and then waits. Stopping it stops
containerd only; running containers keep running under their shims and are re-adopted by the next
containerd and kubelet (``sampan down`` removes them unless ``--keep-workloads``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time
from pathlib import Path
from types import FrameType

log = logging.getLogger(__name__)


def _run(args: argparse.Namespace) -> int:
    from sampan.cli import containerd_node as cn
    from sampan.kubelet.network import forwarding

    layout = cn.ContainerdLayout(Path(args.dir).absolute())
    stopping = False

    def on_signal(_sig: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        cn.write_config(layout, bridge=args.bridge)
        proc = cn.start(layout)
    except (cn.ContainerdError, OSError) as err:
        print(f"sampan containerd: {err}", file=sys.stderr)
        return 1
    try:
        cn.wait_ready(layout, proc)
        cn.load_pause_image(layout)
        try:
            asyncio.run(forwarding.install_guard())
        except forwarding.ForwardingError as err:
            print(f"sampan containerd: {err}", file=sys.stderr)
            return 1
        print(f"containerd ready endpoint={layout.endpoint}", flush=True)
        while not stopping and proc.poll() is None:
            time.sleep(0.2)
        return 0 if stopping else (proc.returncode or 1)
    except cn.ContainerdError as err:
        print(f"sampan containerd: {err}", file=sys.stderr)
        return 1
    finally:
        cn.stop(proc)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("containerd", help="run a private containerd for one node (used by sampan up)")
    p.add_argument("--dir", required=True, help="its directory: config, socket, root, state, CNI files")
    p.add_argument("--bridge", default="sampanc1", help="the node's CNI bridge (a sampan* name, max 15 chars)")
    p.set_defaults(handler=_run)
