"""The live view ``sampan up`` serves (:mod:`sampan.dashboard`): which component answers where, read from
the command lines the supervisor runs (``--secure-port``, ``--port``, ``--healthz-bind-address``,
``--metrics-bind-address``). A kubelet serving TLS is asked through the API server's node proxy; a scheduler or
controller-manager without a port (0) is alive by its leader-election Lease (see
:class:`sampan.dashboard.snapshot.ComponentTarget`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sampan.cli.supervisor import ComponentSpec
    from sampan.dashboard.snapshot import ComponentTarget

NAMES = {"scheduler": "kube-scheduler", "controller-manager": "kube-controller-manager", "proxy": "kube-proxy",
         "dns": "coredns", "kubelet": "kubelet"}


def _flag(argv: Sequence[str], name: str) -> str:
    return argv[argv.index(name) + 1] if name in argv and argv.index(name) + 1 < len(argv) else ""


def _url(address: str, path: str) -> str | None:
    host, _, port = address.rpartition(":")
    return f"http://{host or '127.0.0.1'}:{port}{path}" if port and port != "0" else None


def targets(specs: Sequence[ComponentSpec], server: str) -> list[ComponentTarget]:
    from sampan.dashboard.snapshot import ComponentTarget

    out = [ComponentTarget("kube-apiserver", f"{server}/readyz", f"{server}/metrics")]
    for spec in specs:
        argv = list(spec.argv)
        kind = re.sub(r"-\d+$", "", spec.name)  # kubelet-2, scheduler-2 (HA replicas) …
        name = NAMES.get(kind)
        if name is None:
            continue
        if kind in ("scheduler", "controller-manager"):
            port = _flag(argv, "--secure-port")
            health, metrics = _url(f":{port}", "/healthz"), _url(f":{port}", "/metrics")
            out.append(ComponentTarget(name, health, metrics, lease=name))
        elif kind == "kubelet":  # over TLS with authentication: asked through the API server's node proxy
            port = "" if "--tls-cert-file" in argv else _flag(argv, "--port")
            out.append(ComponentTarget(f"kubelet {_flag(argv, '--node-name')}", _url(f":{port}", "/healthz"),
                                       _url(f":{port}", "/metrics")))
        elif kind == "proxy":
            out.append(ComponentTarget(name, _url(_flag(argv, "--healthz-bind-address"), "/healthz"),
                                       _url(_flag(argv, "--metrics-bind-address"), "/metrics")))
        else:
            out.append(ComponentTarget(name, _url(_flag(argv, "--health"), "/health"),
                                       _url(_flag(argv, "--metrics"), "/metrics")))
    return out


async def start_live_view(specs: Sequence[ComponentSpec], *, server: str, kubeconfig: str,
                          trace_store: str) -> tuple[Any, Any]:
    """(live view, its client); stop the view, then close the client."""
    from sampan.client import Client, load_config
    from sampan.dashboard.server import LiveView
    from sampan.dashboard.snapshot import SnapshotSource

    client = Client(load_config(kubeconfig))
    view = LiveView(SnapshotSource(client, targets(specs, server), f"{server}/metrics", trace_store=trace_store),
                    trace_store=trace_store)
    await view.start()
    return view, client
