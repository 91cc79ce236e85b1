"""When is a cluster started by ``sampan up`` ready for a user? Every expected node is registered and
``Ready=True``, the scheduler holds its Lease (``kube-system/kube-scheduler``, renewed in this run: it is
running, leading, and so scheduling), and (when the controller-manager runs its serviceaccount
controller) the ``default`` ServiceAccount exists in ``default`` — pods created before it exists would be
refused upstream.

Checked with plain HTTP GETs (``/api/v1/nodes``, ``…/serviceaccounts/default``) so the waiting CLI needs
no event loop of its own; :meth:`ClusterExpectation.missing` names what is still missing, for progress.
"""

from __future__ import annotations

import datetime
import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any


def _get(server: str, path: str, timeout: float = 2.0, *, context: ssl.SSLContext | None = None
         ) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"{server}{path}", timeout=timeout, context=context) as resp:
            body: dict[str, Any] = json.loads(resp.read())
            return body
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _epoch(text: Any) -> float:
    try:
        return datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def ready_nodes(nodes: dict[str, Any], *, since: float = 0.0) -> set[str]:
    """Names of the nodes in a NodeList whose Ready condition is True with a heartbeat at or after
    ``since`` (epoch seconds; heartbeats have whole-second precision): a node stored by an earlier run
    of the cluster does not count until its new kubelet has posted."""
    out = set()
    for node in nodes.get("items") or []:
        for cond in (node.get("status") or {}).get("conditions") or []:
            if (cond.get("type") == "Ready" and cond.get("status") == "True"
                    and _epoch(cond.get("lastHeartbeatTime")) >= since - 1.0):
                out.add(str(node["metadata"]["name"]))
    return out


SCHEDULER_LEASE = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-scheduler"


def lease_held(lease: dict[str, Any] | None, *, since: float = 0.0) -> bool:
    """The Lease has a holder that renewed it at or after ``since`` (epoch seconds; 1 s of slack)."""
    spec = (lease or {}).get("spec") or {}
    return bool(spec.get("holderIdentity")) and _epoch(spec.get("renewTime")) >= since - 1.0


@dataclass(frozen=True, slots=True)
class ClusterExpectation:
    nodes: tuple[str, ...] = ()
    service_account: bool = True
    scheduler: bool = False
    """Wait for the scheduler to hold its Lease."""
    since: float = 0.0
    """Wall time the cluster was started: older heartbeats are from a previous run."""

    def missing(self, server: str, *, context: ssl.SSLContext | None = None) -> str:
        """"" when ready; otherwise a short phrase for what is still missing. ``context``: TLS with the
        admin's certificate (``https`` servers)."""
        if self.nodes:
            listed = _get(server, "/api/v1/nodes", context=context)
            if listed is None:
                return "the API server"
            ready = ready_nodes(listed, since=self.since)
            if not set(self.nodes) <= ready:
                return f"nodes ({len(set(self.nodes) & ready)}/{len(self.nodes)} Ready)"
        if self.scheduler and not lease_held(_get(server, SCHEDULER_LEASE, context=context), since=self.since):
            return "the scheduler"
        sa_path = "/api/v1/namespaces/default/serviceaccounts/default"
        if self.service_account and _get(server, sa_path, context=context) is None:
            return "the default service account"
        return ""
