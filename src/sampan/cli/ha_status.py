"""What ``sampan status`` shows of a replicated control plane (:mod:`sampan.cli.ha_plane`): each etcd member
(healthy or not, and which one leads), each API server (``/readyz``) and which scheduler and
controller-manager hold their leader-election Leases.

Every probe is one short local HTTP request with a timeout; a member that does not answer is shown as such,
never as an error of ``sampan status`` itself. etcd is asked through its gRPC gateway
(``POST /v3/maintenance/status``), which answers with its own member id and the leader's. The Leases are
read with the cluster's kubeconfig (``sampan.client``: its credentials and CA, whether the servers serve
plain HTTP or TLS); ``/readyz`` is probed without verifying a loopback server's certificate.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

TIMEOUT = 2.0
#: (component, Lease name in kube-system) of the leader-elected components.
LEASES = (("scheduler", "kube-scheduler"), ("controller-manager", "kube-controller-manager"))


def _request(url: str, body: bytes | None = None, *, context: ssl.SSLContext | None = None) -> Any:
    req = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET",
                                 headers={"Content-Type": "application/json"} if body is not None else {})
    with urllib.request.urlopen(req, timeout=TIMEOUT, context=context) as resp:
        return json.loads(resp.read() or b"null")


def etcd_context(files: Sequence[str]) -> ssl.SSLContext | None:
    """A client context for TLS etcd members from (CA, certificate, key); None for plain HTTP ones."""
    if len(files) != 3:
        return None
    ca, cert, key = files
    context = ssl.create_default_context(cafile=ca)
    context.load_cert_chain(cert, key)
    return context


class MemberStatus(NamedTuple):
    """One member's answer: whether it answered, whether it says it leads, and its raft term (0 when unknown).
    A member that leads at a higher term than an earlier leader was elected after it (by a quorum), even
    when it is the same member restarted."""

    answers: bool
    leader: bool
    term: int


def etcd_member_status(client_url: str, *, context: ssl.SSLContext | None = None) -> MemberStatus:
    try:
        status = _request(f"{client_url}/v3/maintenance/status", b"{}", context=context)
    except (urllib.error.URLError, OSError, ValueError):
        return MemberStatus(False, False, 0)
    if not isinstance(status, dict):
        return MemberStatus(False, False, 0)
    member = str((status.get("header") or {}).get("member_id", ""))
    try:
        term = int(status.get("raftTerm") or 0)
    except (TypeError, ValueError):
        term = 0
    return MemberStatus(True, bool(member) and member == str(status.get("leader", "")), term)


def ready(url: str) -> bool:
    context = None
    if url.startswith("https://"):  # a health probe of a loopback server: its identity is not in question
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=TIMEOUT, context=context) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


async def _lease_holders(kubeconfig: Path) -> dict[str, str]:
    from sampan.client import Client, load_config

    config = load_config(str(kubeconfig))
    holders: dict[str, str] = {}
    async with Client(config) as client:
        leases = await client.resource("coordination.k8s.io/v1", "leases")
        for _, name in LEASES:
            try:
                obj = await asyncio.wait_for(leases.get(name, namespace="kube-system"), TIMEOUT)
            except Exception:  # not found, not answering, not allowed: shown as no holder
                continue
            holders[name] = str((obj.get("spec") or {}).get("holderIdentity") or "")
    return holders


def lease_holders(kubeconfig: Path) -> dict[str, str]:
    """Lease name -> holder with the ``<host>_`` prefix removed (missing when none or unknown)."""
    try:
        holders = asyncio.run(asyncio.wait_for(_lease_holders(kubeconfig), 3 * TIMEOUT))
    except Exception:
        return {}
    return {name: h.split("_", 1)[1] if "_" in h else h for name, h in holders.items() if h}


def control_plane_rows(control_plane: Mapping[str, Any], server: str, kubeconfig: Path) -> list[tuple[str, str]]:
    """(component, state) rows for ``sampan status``."""
    rows: list[tuple[str, str]] = []
    try:
        context = etcd_context(list(control_plane.get("etcd_client") or []))
    except (OSError, ssl.SSLError):
        context = None  # certificates gone: the members show as not answering
    for member in control_plane.get("etcd_members") or []:
        answers, leader, term = etcd_member_status(str(member["client_url"]), context=context)
        state = (f"healthy, leader at raft term {term}" if leader else "healthy") if answers else "not answering"
        rows.append((str(member["name"]), f"{state} ({member['client_url']})"))
    if not control_plane.get("etcd_members"):
        rows.append(("etcd", f"external ({control_plane.get('etcd_servers', '')})"))
    for api in control_plane.get("apiservers") or []:
        rows.append((str(api["name"]), ("ready" if ready(str(api["url"])) else "not ready") + f" ({api['url']})"))
    rows.append(("haproxy", ("ready" if ready(server) else "no ready API server behind it") + f" ({server})"))
    holders = lease_holders(kubeconfig)
    for component, lease in LEASES:
        rows.append((f"{component} leader", holders.get(lease) or "none"))
    return rows
