"""Identities of the density benchmark's cluster, as a real cluster runs (``sampan up``'s PKI,
:class:`sampan.cli.pki.ClusterPKI`): the API server serves HTTPS only and authenticates every request,
so API Priority and Fairness classifies each component as upstream's suggested FlowSchemas say.

- scheduler: client certificate ``system:kube-scheduler`` -> leader-election (its Lease), workload-high;
- controller-manager: ``system:kube-controller-manager`` -> leader-election, workload-high;
- hollow nodes: node ``<name>`` sends the bearer token of ``system:node:<name>`` (group ``system:nodes``,
  ``--token-auth-file``) over the process's shared connections -> node-high (Lease, Node status) and
  system (pod status, events); the Node authorizer and NodeRestriction judge each node as its own. The
  process's shared watches (all pods, configmaps, secrets, ...) run as ``sampan:hollow-nodes`` in kubeadm's
  admin group (global-default): one real kubelet would watch only its own node's pods;
- the driver (this process, a user): ``kubernetes-admin`` in ``kubeadm:cluster-admins`` -> global-default.

Nobody is in ``system:masters``, so nothing is exempt from APF (``--insecure`` in the bench keeps the old
shape: plain HTTP, every request the exempt insecure admin).

``--http-identities`` (:func:`http_identities`): the same identities, each a bearer token of the API
server's ``--token-auth-file``, over plain HTTP (the API server's plain port authenticates tokens when given
that file): APF classifies every component as above, without TLS's CPU — the Python TLS layer costs every
one of 500 Lease renewals a second on both sides, which a cluster of Go processes hardly notices. The
Node authorizer is not on (plain HTTP authorizes with AlwaysAllow).
"""

from __future__ import annotations

import math
import secrets
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from sampan.cli.kubeconfig import render_kubeconfig
from sampan.cli.pki import ADMIN_GROUP, NODES_GROUP, ClusterPKI

SERVICE_CIDR = "100.96.0.0/16"
HOLLOW_PROCESS_USER = "sampan:hollow-nodes"


@dataclass(frozen=True)
class Identities:
    """Where each component's kubeconfig is, and the API server's flags."""

    apiserver_args: tuple[str, ...]
    kubeconfigs: dict[str, Path]
    """component -> kubeconfig: ``admin`` (the driver), ``scheduler``, ``controller-manager``, ``hollow-nodes``."""
    hollow_args: tuple[str, ...]
    """Extra flags of the hollow-node process (its per-node tokens)."""
    ca_file: Path | None
    admin_cert: tuple[Path, Path] | None

    def ssl_context(self) -> ssl.SSLContext | None:
        """The admin's TLS context (for /metrics); None on the insecure port."""
        if self.ca_file is None or self.admin_cert is None:
            return None
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        ctx.load_cert_chain(str(self.admin_cert[0]), str(self.admin_cert[1]))
        return ctx


def insecure(work: Path, port: int) -> Identities:
    """The old shape: plain HTTP on loopback, every component the insecure port's admin (APF-exempt)."""
    kubeconfig = work / "kubeconfig"
    kubeconfig.write_text(render_kubeconfig(f"http://127.0.0.1:{port}"))
    return Identities(apiserver_args=("--port", str(port)),
                      kubeconfigs=dict.fromkeys(("admin", "scheduler", "controller-manager", "hollow-nodes"),
                                                kubeconfig),
                      hollow_args=(), ca_file=None, admin_cert=None)


def secure(work: Path, port: int, *, nodes: int, prefix: str = "hollow-") -> Identities:
    """HTTPS with the cluster's PKI under ``work`` and a token per hollow node (see the module docstring)."""
    pki = ClusterPKI(work)
    pki.ensure(nodes=[], service_cidr=SERVICE_CIDR)
    server = f"https://127.0.0.1:{port}"
    kubeconfigs = {name: pki.write_kubeconfig(name, server=server)
                   for name in ("admin", "scheduler", "controller-manager")}
    tokens = work / "tokens.csv"
    process_token = secrets.token_hex(16)
    lines = [f'{process_token},{HOLLOW_PROCESS_USER},{HOLLOW_PROCESS_USER},"{ADMIN_GROUP}"']
    lines += [f"{secrets.token_hex(16)},system:node:{prefix}{i},node-{i},{NODES_GROUP}" for i in range(1, nodes + 1)]
    tokens.write_text("\n".join(lines) + "\n")
    tokens.chmod(0o600)
    hollow = work / "kubeconfigs" / "hollow-nodes.conf"
    hollow.write_text(yaml.safe_dump(token_kubeconfig(server, ca_file=pki.ca_cert, token=process_token),
                                     sort_keys=False))
    hollow.chmod(0o600)
    kubeconfigs["hollow-nodes"] = hollow
    args = ("--secure-port", str(port), "--tls-cert-file", str(pki.cert("apiserver")),
            "--tls-private-key-file", str(pki.key("apiserver")), "--client-ca-file", str(pki.ca_cert),
            "--service-account-signing-key-file", str(pki.sa_key), "--service-account-key-file", str(pki.sa_key),
            "--token-auth-file", str(tokens))
    return Identities(apiserver_args=args, kubeconfigs=kubeconfigs, hollow_args=("--hollow-node-tokens", str(tokens)),
                      ca_file=pki.ca_cert, admin_cert=(pki.cert("admin"), pki.key("admin")))


def http_identities(work: Path, port: int, *, nodes: int, prefix: str = "hollow-") -> Identities:
    """Plain HTTP, every component and hollow node with a token of its own (see the module docstring)."""
    server = f"http://127.0.0.1:{port}"
    users = {"admin": ("kubernetes-admin", ADMIN_GROUP), "scheduler": ("system:kube-scheduler", ""),
             "controller-manager": ("system:kube-controller-manager", ""),
             "hollow-nodes": (HOLLOW_PROCESS_USER, ADMIN_GROUP)}
    (work / "kubeconfigs").mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    kubeconfigs: dict[str, Path] = {}
    for component, (user, group) in users.items():
        token = secrets.token_hex(16)
        lines.append(f'{token},{user},{user},"{group}"')
        path = kubeconfigs[component] = work / "kubeconfigs" / f"{component}.conf"
        path.write_text(yaml.safe_dump(token_kubeconfig(server, ca_file=None, token=token), sort_keys=False))
        path.chmod(0o600)
    lines += [f"{secrets.token_hex(16)},system:node:{prefix}{i},node-{i},{NODES_GROUP}" for i in range(1, nodes + 1)]
    tokens = work / "tokens.csv"
    tokens.write_text("\n".join(lines) + "\n")
    tokens.chmod(0o600)
    return Identities(apiserver_args=("--port", str(port), "--token-auth-file", str(tokens)), kubeconfigs=kubeconfigs,
                      hollow_args=("--hollow-node-tokens", str(tokens)), ca_file=None, admin_cert=None)


def token_kubeconfig(server: str, *, ca_file: Path | None, token: str) -> dict[str, object]:
    cluster: dict[str, str] = {"server": server}
    if ca_file is not None:
        cluster["certificate-authority"] = str(ca_file)
    return {"apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "density", "cluster": cluster}],
            "users": [{"name": "hollow", "user": {"token": token}}],
            "contexts": [{"name": "density", "context": {"cluster": "density", "user": "hollow"}}],
            "current-context": "density"}


def apf_summary(metrics_text: str, *, quantile: Callable[[list[tuple[float, float]], float], float]
                ) -> dict[str, dict[str, float]]:
    """Per priority level: requests dispatched and rejected, queue-wait p99 (seconds), and the flow schemas
    that sent requests there: whether APF classified each component as upstream does."""
    out: dict[str, dict[str, float]] = {}
    schemas: dict[str, set[str]] = {}
    waits: dict[str, dict[float, float]] = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            level = sample.labels.get("priority_level")
            if not level:
                continue
            row = out.setdefault(level, {"dispatched": 0.0, "rejected": 0.0, "wait_p99": math.nan})
            if sample.name == "apiserver_flowcontrol_dispatched_requests_total":
                row["dispatched"] += sample.value
                schemas.setdefault(level, set()).add(sample.labels.get("flow_schema", ""))
            elif sample.name == "apiserver_flowcontrol_rejected_requests_total":
                row["rejected"] += sample.value
            elif sample.name == "apiserver_flowcontrol_request_wait_duration_seconds_bucket":
                le = float(sample.labels["le"])
                by_le = waits.setdefault(level, {})
                by_le[le] = by_le.get(le, 0.0) + sample.value
    for level, by_le in waits.items():
        out[level]["wait_p99"] = quantile(sorted(by_le.items()), 0.99)
    result = {level: row for level, row in out.items() if row["dispatched"] or row["rejected"]}
    for level, row in result.items():
        row["schemas"] = ",".join(sorted(schemas.get(level, ())))  # type: ignore[assignment]
    return result
