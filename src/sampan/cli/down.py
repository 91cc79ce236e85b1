"""``sampan down`` stops a cluster started by ``sampan up`` and, for the process runtime, its pods and
their networks (``--keep-workloads`` leaves them for re-adoption); ``sampan status`` shows its health."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from sampan.cli.layout import ClusterLayout
from sampan.cli.service_network import runs_proxy, teardown
from sampan.cli.up import CONTEXT_NAME, apiserver_ready
from sampan.cli.user_kubeconfig import remove_context

STOP_TIMEOUT = 30.0


def _down(args: argparse.Namespace) -> int:
    layout = ClusterLayout(Path(args.data_dir))
    console = Console()
    state = layout.read_state()
    pid = layout.running_pid()
    if pid is None:
        console.print(f"no cluster is running for {layout.data_dir}")
    else:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while layout.running_pid() is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        if layout.running_pid() is not None:
            os.kill(pid, signal.SIGKILL)
        console.print(f"stopped the cluster in {layout.data_dir}")
    # A supervisor that was killed, or died in a failed start, leaves its components running: stop them
    # (the kubelets first of all, before their pods go).
    from sampan.cli.leftovers import stop_leftovers

    left = stop_leftovers(layout.pid_dir)
    if left:
        console.print(f"stopped {', '.join(left)} (left running by an earlier sampan up)")
    runtime = state.get("runtime")
    if runtime in ("process", None) and not args.keep_workloads:  # None: up.json is gone, look anyway
        from sampan.cli.down_workloads import remove_workloads

        for line in asyncio.run(remove_workloads(layout.data_dir)):
            console.print(f"removed {line}")
    else:  # the static control plane never outlives its cluster (sampan.cli.control_plane)
        from sampan.cli.control_plane import stop_static_pods

        for root in sorted((layout.data_dir / "kubelet").glob("*/runtime")):
            if stopped := asyncio.run(stop_static_pods(root)):
                console.print(f"removed {stopped} static pod(s) of node {root.parent.name}")
    if runtime == "containerd" and not args.keep_workloads:
        from sampan.cli.down_workloads import remove_containerd_workloads

        for line in asyncio.run(remove_containerd_workloads(layout.data_dir)):
            console.print(f"removed {line}")
    if state.get("dns_device", state.get("runtime") == "process" and "dns" in state.get("components", [])):
        # only the cluster whose DNS set the device up removes it: a second cluster on this machine (DNS on
        # loopback, see sampan.cli.up_dns) must leave the first one's device alone
        from sampan.cli.up_dns import DNS_DEVICE, remove_dns_device

        if remove_dns_device():
            console.print(f"removed {DNS_DEVICE}")
    if runs_proxy(state.get("components", [])):
        for line in asyncio.run(teardown(state.get("nodes") or [])):
            console.print(f"removed {line}")
    merged = state.get("merged_kubeconfig")
    if merged and remove_context(CONTEXT_NAME, Path(merged)):
        console.print(f"removed the `{CONTEXT_NAME}` context from {merged}")
    layout.clear()
    return 0


def _status(args: argparse.Namespace) -> int:
    layout = ClusterLayout(Path(args.data_dir))
    console = Console()
    pid = layout.running_pid()
    if pid is None:
        console.print(f"no cluster is running for {layout.data_dir}")
        return 1
    state = layout.read_state()
    server = str(state.get("server", ""))
    table = Table("component", "state")
    table.add_row("supervisor", f"running (pid {pid})")
    static = set(state.get("static_pods") or [])
    control_plane = state.get("control_plane")
    if control_plane:  # N replicas behind HAProxy: per-member rows instead of one per component
        from sampan.cli.ha_status import control_plane_rows

        for row in control_plane_rows(control_plane, server, layout.kubeconfig):
            table.add_row(*row)
    for name in state.get("components", []):
        if control_plane and (name.startswith(("etcd-", "apiserver-")) or name == "haproxy"):
            continue
        how = "static pod of the first node" if name in static else "supervised"
        if name == "apiserver":
            from sampan.cli.pki import admin_ssl_context

            ready = bool(server) and apiserver_ready(server, context=admin_ssl_context(layout.data_dir))
            table.add_row(name, ("ready" if ready else "not ready") + f" ({how})")
        else:
            table.add_row(name, how)
    for line in state.get("missing", []):
        table.add_row(line.split(" ")[0], "missing: " + line.split(" ", 1)[1].strip("()"))
    console.print(table)
    console.print(f"server {server}; kubeconfig {layout.kubeconfig}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    down = sub.add_parser("down", help="stop a cluster started with `sampan up --detach`")
    down.add_argument("--data-dir", default=".sampan", help="the cluster's data dir (default .sampan)")
    down.add_argument("--keep-workloads", action="store_true",
                      help="leave the process runtime's pods running with their network namespaces and bridges, "
                      "for a later `sampan up` on the same data dir to re-adopt (default: stop and remove them)")
    down.set_defaults(handler=_down)
    status = sub.add_parser("status", help="show the health of a cluster started with `sampan up`")
    status.add_argument("--data-dir", default=".sampan", help="the cluster's data dir (default .sampan)")
    status.set_defaults(handler=_status)
