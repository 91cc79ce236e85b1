"""The foreground half of ``sampan up``: write the cluster's files, supervise its components and wait until
the cluster is ready (:mod:`sampan.cli.cluster_ready`), then keep supervising until cancelled.

Kept apart from :mod:`sampan.cli.up` so that ``sampan up --detach``'s short-lived parent process, which
only starts this one and watches ``up.json``, does not import asyncio, the supervisor or yaml.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import signal
import ssl
import time
from collections.abc import Callable
from typing import Any

import yaml
from rich.console import Console

from sampan._lib.pki import write_atomic
from sampan.cli import service_network
from sampan.cli.cluster_ready import ClusterExpectation
from sampan.cli.control_plane import prepare_control_plane
from sampan.cli.kubeconfig import kubeconfig as kubeconfig_doc
from sampan.cli.kubeconfig import render_kubeconfig
from sampan.cli.layout import ClusterLayout
from sampan.cli.pki import ClusterPKI, admin_ssl_context, write_cluster_kubeconfigs
from sampan.cli.supervisor import Supervisor, SupervisorOptions
from sampan.cli.up import (
    CONTEXT_NAME,
    SERVICE_CIDR,
    UpOptions,
    apiserver_ready,
    available_commands,
    component_specs,
    node_names,
    ready_timeout,
)
from sampan.cli.up_detached import check_can_start, log_tail, print_summary
from sampan.cli.up_live import start_live_view
from sampan.cli.up_trace import start_observer, with_trace_store
from sampan.cli.user_kubeconfig import merge_context

#: Seconds between readiness checks (a local GET each; the API server answers in about a millisecond).
POLL_INTERVAL = 0.05


async def _wait_ready(server: str, deadline: float, supervisor_task: asyncio.Task[None], *,
                      context: ssl.SSLContext | None) -> bool:
    while time.monotonic() < deadline:
        if supervisor_task.done():
            return False
        if await asyncio.to_thread(apiserver_ready, server, context=context):
            return True
        await asyncio.sleep(POLL_INTERVAL)
    return False


async def _wait_cluster_ready(server: str, deadline: float, supervisor_task: asyncio.Task[None], *,
                              expected: ClusterExpectation, progress: Callable[[str], None],
                              context: ssl.SSLContext | None) -> str:
    """Wait until every node is Ready and the default ServiceAccount exists; "" or what is still missing."""
    missing = "the API server"
    while time.monotonic() < deadline:
        if supervisor_task.done():
            return missing
        missing = await asyncio.to_thread(expected.missing, server, context=context)
        if not missing:
            return ""
        progress(f"waiting for {missing} …")
        await asyncio.sleep(POLL_INTERVAL)
    return missing


def _write_kubeconfigs(options: UpOptions, layout: ClusterLayout) -> tuple[dict[str, Any], ssl.SSLContext | None]:
    """The cluster's kubeconfig(s) (with ``--insecure`` one plain-HTTP kubeconfig; else the PKI and one
    kubeconfig per identity, the admin's as ``<data-dir>/kubeconfig``): the admin's document and a TLS
    context for the CLI's own readiness checks."""
    if options.insecure:
        layout.kubeconfig.write_text(render_kubeconfig(options.server, name=CONTEXT_NAME))
        return kubeconfig_doc(options.server, name=CONTEXT_NAME), None
    pki = ClusterPKI(options.data_dir)
    nodes = node_names(options.nodes)
    pki.ensure(nodes=nodes, service_cidr=SERVICE_CIDR)
    admin = write_cluster_kubeconfigs(pki, server=options.server, nodes=nodes)
    write_atomic(layout.kubeconfig, yaml.safe_dump(admin, sort_keys=False).encode(), private=True)
    return admin, admin_ssl_context(options.data_dir)


async def run_foreground(options: UpOptions, console: Console) -> int:
    options = dataclasses.replace(options, data_dir=options.data_dir.absolute())  # static pods run in /
    layout = ClusterLayout(options.data_dir)
    check_can_start(layout, options)
    options.data_dir.mkdir(parents=True, exist_ok=True)
    specs, missing = component_specs(options, available_commands())
    replicated = None
    if options.control_plane_nodes > 1:  # N replicas under the supervisor, behind HAProxy (sampan.cli.ha_plane)
        from sampan.cli import ha_plane

        ha = ha_plane.load_or_create_plan(options.data_dir, replicas=options.control_plane_nodes,
                                          etcd_servers=options.etcd_servers, tls=not options.insecure)
        if ha.tls:  # etcd's CA and certificates, before any member starts
            ClusterPKI(options.data_dir).ensure_etcd()
        specs, replicated = ha_plane.replicate(specs, data_dir=options.data_dir, lb_port=options.port, plan=ha,
                                               hostname=node_names(1)[0], tls=options.server.startswith("https://"))
        plane = None
    observer = await start_observer(options.trace)  # the embedded trace store, with --trace
    if observer is not None:
        specs = with_trace_store(specs, observer.url)
    all_names = [s.name for s in specs]
    all_specs = list(specs)  # before the control plane moves into static pods: the live view watches them all
    if replicated is None:  # the control plane runs as static pods of the first kubelet (sampan.cli.control_plane)
        specs, plane = prepare_control_plane(specs, data_dir=options.data_dir, first_node=node_names(1)[0],
                                             runtime=options.runtime,
                                             stacked_etcd_store=options.storage == "etcd" and not options.etcd_servers)
    user_kubeconfig, context = _write_kubeconfigs(options, layout)
    layout.pid_file.write_text(str(os.getpid()))
    live_view, live_client = await start_live_view(all_specs, server=options.server, kubeconfig=str(layout.kubeconfig),
                                                   trace_store=observer.url if observer is not None else "")
    state: dict[str, Any] = {"server": options.server, "components": all_names, "missing": missing,
                             "static_pods": list(plane.components) if plane else [], "runtime": options.runtime,
                             "trace_store": observer.url if observer is not None else "",
                             "dashboard": live_view.url,
                             # whether this cluster's DNS owns the host's DNS device (sampan.cli.up_dns)
                             "dns_device": any("--setup-interface" in s.argv for s in all_specs)}
    if replicated is not None:
        state["control_plane"] = replicated.state()
    layout.write_state(state)
    await service_network.prepare(state["components"])
    supervisor = Supervisor(specs, SupervisorOptions(log_dir=layout.log_dir, pid_dir=layout.pid_dir))
    started_at = time.time()
    task = asyncio.create_task(supervisor.run(), name="supervisor")
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        deadline = time.monotonic() + ready_timeout(options)
        with console.status(f"starting {', '.join(all_names)} …") as status:
            ready = await _wait_ready(options.server, deadline, task, context=context)
            missing_now = "" if ready else "the API server"
            if ready:
                names = {re.sub(r"-\d+$", "", n) for n in all_names}  # scheduler-2 is a scheduler
                expected = ClusterExpectation(
                    nodes=tuple(node_names(options.nodes)) if "kubelet" in names else (),
                    service_account="controller-manager" in names, scheduler="scheduler" in names,
                    since=started_at)
                missing_now = await _wait_cluster_ready(
                    options.server, deadline, task, expected=expected,
                    progress=lambda text: status.update(text), context=context)
        if missing_now:
            first_apiserver = "apiserver-1.log" if replicated else "apiserver.log"
            log_name = first_apiserver if missing_now == "the API server" else "kubelet.log"
            log_path = layout.log_dir / log_name
            if plane is not None and log_name == "apiserver.log":
                log_path = plane.log_path("apiserver") or layout.log_dir / "kubelet.log"
            console.print(f"[red]the cluster did not become ready in {ready_timeout(options):.0f}s[/red] "
                          f"(waiting for {missing_now}; more time: --wait); "
                          f"{log_path.name} says:\n{log_tail(log_path)}")
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            return 1
        state = {**state, "nodes": node_names(options.nodes) if "kubelet" in state["components"] else [],
                 "ready": True}
        layout.write_state(state)
        if options.merge_kubeconfig:
            target = merge_context(user_kubeconfig)
            layout.write_state({**state, "merged_kubeconfig": str(target)})
        print_summary(console, options, layout, all_names, missing)
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return 0
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if observer is not None:
            await observer.stop()
        await live_view.stop()
        await live_client.close()
        if plane is not None:  # the kubelets are stopped; their static pods are not
            await plane.stop()
        if service_network.runs_proxy(state["components"]):
            await service_network.teardown(node_names(options.nodes))
        layout.clear()
