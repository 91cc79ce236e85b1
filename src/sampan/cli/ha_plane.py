"""The control plane of ``sampan up --control-plane-nodes N`` (N > 1): every replica is a supervised process.

With one control-plane node, ``sampan up`` runs the control plane as static pods of the first kubelet
(:mod:`sampan.cli.control_plane`). With N > 1 it runs, as children of its own supervisor (each restarted
when it dies, each with its log under ``<data-dir>/logs``):

* ``etcd-1`` … ``etcd-N``: one etcd cluster of N members on loopback, each with its own client and peer
  port and its data in ``<data-dir>/etcd/etcd-<i>`` (none with ``--etcd-servers``: the user's cluster);
  unless the cluster was created ``--insecure``, client and peer traffic is TLS with client certificates
  (``--client-cert-auth``, ``--peer-client-cert-auth``; etcd's own CA under ``<data-dir>/pki/etcd``, as
  kubeadm lays it out);
* ``apiserver-1`` … ``apiserver-N``: stateless peers over that cluster (``--storage etcd``, every member in
  ``--etcd-servers``, ``--etcd-cafile/certfile/keyfile`` when etcd is TLS), each with its own watch cache,
  on free loopback ports;
* ``haproxy``: Debian's HAProxy on the cluster's ``--port`` in TCP mode (TLS passes through untouched),
  balancing new connections to the server with the fewest (``leastconn``: long watches spread out),
  health-checking ``GET /readyz`` every second; a server that fails two checks is drained and its open
  connections are cut (``on-marked-down shutdown-sessions``), so its watchers reconnect through the
  balancer to a live one;
* ``scheduler-1`` … and ``controller-manager-1`` …: N replicas each, with leader election (one Lease per
  component; ``--identity <host>_<name>`` so ``sampan status`` names the leader).

Why not static pods here: a static pod belongs to one node, and replicas of the control plane on separate
kubelets would tie the number of control-plane replicas to ``--nodes`` and restart them through N
kubelets; the supervisor already restarts processes with back-off, and the kubelets, kube-proxies, DNS
and the kubeconfig only ever see the balancer's address (``--port``), exactly as with one API server.

Invariant: the etcd members' names, ports and scheme (``tls``) are fixed when the cluster is first created and
kept in ``<data-dir>/control-plane.json`` (an etcd member's peer URL is part of the cluster's stored membership),
so a later ``sampan up`` on the same data dir, or a ``sampan etcd snapshot restore``, finds the same
cluster. The API servers' ports are chosen afresh on every start.
"""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sampan.cli.supervisor import ComponentSpec

PLAN_FILE = "control-plane.json"
CLUSTER_TOKEN = "sampan-etcd"
REPLICATED = ("scheduler", "controller-manager")
#: HAProxy's health checking: every second, down after 2 failures, up after 1 success.
CHECK_INTERVAL_MS, CHECK_FALL, CHECK_RISE = 1000, 2, 1


@dataclass(frozen=True)
class EtcdMember:
    name: str
    client_port: int
    peer_port: int
    tls: bool = False

    @property
    def client_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.peer_port}"


@dataclass(frozen=True)
class ControlPlanePlan:
    """N control-plane replicas; ``members`` is empty when the user runs etcd (``external_etcd``)."""

    replicas: int
    members: tuple[EtcdMember, ...]
    external_etcd: str = ""

    @property
    def tls(self) -> bool:
        """The members serve and talk to each other over TLS."""
        return bool(self.members) and self.members[0].tls

    @property
    def etcd_servers(self) -> str:
        return self.external_etcd or ",".join(m.client_url for m in self.members)

    def initial_cluster(self) -> str:
        return ",".join(f"{m.name}={m.peer_url}" for m in self.members)


def _free_ports(count: int) -> list[int]:
    """``count`` distinct ports on 127.0.0.1 that were free a moment ago (all held open while choosing)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def new_members(replicas: int, *, tls: bool = False) -> tuple[EtcdMember, ...]:
    ports = _free_ports(2 * replicas)
    return tuple(EtcdMember(f"etcd-{i + 1}", ports[2 * i], ports[2 * i + 1], tls) for i in range(replicas))


def save_plan(data_dir: Path, plan: ControlPlanePlan) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    doc = {"replicas": plan.replicas, "external_etcd": plan.external_etcd, "tls": plan.tls,
           "members": [{"name": m.name, "client_port": m.client_port, "peer_port": m.peer_port}
                       for m in plan.members]}
    tmp = data_dir / f".{PLAN_FILE}.tmp"
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(data_dir / PLAN_FILE)


def read_plan(data_dir: Path) -> ControlPlanePlan | None:
    try:
        doc = json.loads((data_dir / PLAN_FILE).read_text())
        tls = bool(doc.get("tls"))  # plans written before etcd TLS: plain HTTP, as their stored membership
        members = tuple(EtcdMember(str(m["name"]), int(m["client_port"]), int(m["peer_port"]), tls)
                        for m in doc.get("members") or [])
        return ControlPlanePlan(int(doc["replicas"]), members, str(doc.get("external_etcd") or ""))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def load_or_create_plan(data_dir: Path, *, replicas: int, etcd_servers: str = "", tls: bool = False
                        ) -> ControlPlanePlan:
    """The stored plan of this data dir, or a new one (stored; its etcd over TLS with ``tls``). ValueError
    (one line) when the stored cluster has another number of etcd members than asked for: membership
    changes are not supported."""
    stored = read_plan(data_dir)
    if etcd_servers:
        plan = ControlPlanePlan(replicas, (), etcd_servers)
    elif stored is not None and stored.members:
        if len(stored.members) != replicas:
            raise ValueError(f"the etcd cluster in {data_dir} has {len(stored.members)} members; start it with "
                             f"--control-plane-nodes {len(stored.members)} (membership changes are not supported)")
        plan = stored
    else:
        plan = ControlPlanePlan(replicas, new_members(replicas, tls=tls))
    if plan != stored:
        save_plan(data_dir, plan)
    return plan


def etcd_binary() -> str:
    etcd = shutil.which("etcd")
    if etcd is None:
        raise ValueError("--control-plane-nodes > 1 runs an etcd cluster, but `etcd` is not on PATH "
                         "(Debian: apt-get install etcd-server), or pass --etcd-servers")
    return etcd


def haproxy_binary() -> str:
    haproxy = shutil.which("haproxy") or ("/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None)
    if haproxy is None:
        raise ValueError("--control-plane-nodes > 1 puts HAProxy in front of the API servers, but `haproxy` "
                         "is not installed (Debian: apt-get install haproxy)")
    return haproxy


def etcd_argv(member: EtcdMember, plan: ControlPlanePlan, *, data_dir: Path, etcd: str = "etcd") -> tuple[str, ...]:
    """One member of the plan's cluster. The ``--initial-*`` flags only matter on the first start (a member
    with data reads its membership from it). With TLS: kubeadm's flags over ``<data-dir>/pki/etcd``
    (:meth:`ClusterPKI.ensure_etcd` must have run)."""
    return (etcd, f"--name={member.name}", *_etcd_tls_flags(data_dir, member.tls),
            f"--data-dir={member_data_dir(data_dir, member)}",
            f"--listen-client-urls={member.client_url}", f"--advertise-client-urls={member.client_url}",
            f"--listen-peer-urls={member.peer_url}", f"--initial-advertise-peer-urls={member.peer_url}",
            f"--initial-cluster={plan.initial_cluster()}", "--initial-cluster-state=new",
            f"--initial-cluster-token={CLUSTER_TOKEN}", "--snapshot-count=10000")


def _etcd_tls_flags(data_dir: Path, tls: bool) -> tuple[str, ...]:
    if not tls:
        return ()
    from sampan.cli.pki import ClusterPKI

    d = ClusterPKI(data_dir).etcd_dir
    return (f"--cert-file={d / 'server.crt'}", f"--key-file={d / 'server.key'}", "--client-cert-auth=true",
            f"--trusted-ca-file={d / 'ca.crt'}", f"--peer-cert-file={d / 'peer.crt'}",
            f"--peer-key-file={d / 'peer.key'}", "--peer-client-cert-auth=true",
            f"--peer-trusted-ca-file={d / 'ca.crt'}")


def apiserver_etcd_args(data_dir: Path, plan: ControlPlanePlan) -> tuple[str, ...]:
    """The API server's ``--etcd-cafile/certfile/keyfile`` for the plan's etcd (none when it is plain HTTP)."""
    if not plan.tls:
        return ()
    from sampan.cli.pki import ClusterPKI

    ca, cert, key = ClusterPKI(data_dir).etcd_client("apiserver-etcd-client")
    return ("--etcd-cafile", str(ca), "--etcd-certfile", str(cert), "--etcd-keyfile", str(key))


def member_data_dir(data_dir: Path, member: EtcdMember) -> Path:
    return data_dir / "etcd" / member.name


def haproxy_config(*, port: int, backends: Sequence[tuple[str, int]], tls: bool = False) -> str:
    """HAProxy's configuration: TCP on 127.0.0.1:``port`` to ``backends`` ((name, port) on loopback), health
    checks on ``/readyz`` (over TLS without verification when the servers serve TLS). Client and server
    timeouts exceed the longest watch (2 x ``--min-request-timeout`` = 1 h)."""
    default_server = (f"inter {CHECK_INTERVAL_MS} fall {CHECK_FALL} rise {CHECK_RISE} on-marked-down shutdown-sessions"
                      + (" check-ssl verify none" if tls else ""))
    servers = "\n".join(f"    server {name} 127.0.0.1:{p} check" for name, p in backends)
    return f"""# written by `sampan up --control-plane-nodes`; rewritten on every start
global
    maxconn {max_connections()}

defaults
    mode tcp
    timeout connect 2s
    timeout client 2h
    timeout server 2h
    timeout check 2s
    retries 3
    option redispatch

frontend sampan-apiserver
    bind 127.0.0.1:{port}
    default_backend sampan-apiservers

backend sampan-apiservers
    balance leastconn
    option httpchk GET /readyz
    http-check expect status 200
    default-server {default_server}
{servers}
"""


def max_connections() -> int:
    """HAProxy's ``maxconn``: each connection takes two descriptors (client and server side) and HAProxy
    refuses to start when the limit would exceed this process's (inherited) descriptor limit."""
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = 1 << 20 if soft == resource.RLIM_INFINITY else soft
    return max(256, min(10_000, (limit - 200) // 2))


def _with_flag(argv: Sequence[str], flag: str, value: str) -> tuple[str, ...]:
    out = list(argv)
    if flag in out and out.index(flag) + 1 < len(out):
        out[out.index(flag) + 1] = value
    else:
        out += [flag, value]
    return tuple(out)


@dataclass(frozen=True)
class ReplicatedControlPlane:
    """What :func:`replicate` decided: the plan, the API servers' ports and the balancer's config file."""

    plan: ControlPlanePlan
    apiserver_ports: tuple[int, ...]
    haproxy_config: Path
    tls: bool = True
    """The API servers serve HTTPS (``sampan up`` without ``--insecure``)."""
    etcd_client: tuple[str, str, str] | None = None
    """(etcd CA, certificate, key) ``sampan status`` probes TLS etcd members with."""

    def state(self) -> dict[str, Any]:
        """For ``up.json`` (read by ``sampan status``): each API server's own URL (``https`` unless
        ``--insecure``)."""
        scheme = "https" if self.tls else "http"
        return {"replicas": self.plan.replicas, "etcd_servers": self.plan.etcd_servers,
                "etcd_client": list(self.etcd_client or ()),
                "etcd_members": [{"name": m.name, "client_url": m.client_url} for m in self.plan.members],
                "apiservers": [{"name": f"apiserver-{i + 1}", "url": f"{scheme}://127.0.0.1:{p}"}
                               for i, p in enumerate(self.apiserver_ports)]}


def replicate(specs: Sequence[ComponentSpec], *, data_dir: Path, lb_port: int, plan: ControlPlanePlan,
              hostname: str, tls: bool = False) -> tuple[list[ComponentSpec], ReplicatedControlPlane]:
    """Turn the single-replica ``specs`` of ``sampan up`` into the replicated control plane described in the
    module docstring: the ``apiserver`` spec becomes the etcd members, N API servers and HAProxy (in that
    order, so clients leave before servers on stop); ``scheduler`` and ``controller-manager`` become N
    replicas each (the first keeps its ``--secure-port``, the others use none). ``data_dir`` must be
    absolute. Writes the HAProxy config file."""
    from sampan.cli.supervisor import ComponentSpec

    n = plan.replicas
    ports = tuple(_free_ports(n))
    cfg = data_dir / "haproxy.cfg"
    out: list[ComponentSpec] = []
    for spec in specs:
        if spec.name == "apiserver":
            if plan.members:
                etcd = etcd_binary()
                out += [ComponentSpec(m.name, etcd_argv(m, plan, data_dir=data_dir, etcd=etcd)) for m in plan.members]
            for i, p in enumerate(ports):
                port_flag = "--secure-port" if "--secure-port" in spec.argv else "--port"  # TLS unless --insecure
                argv = _with_flag(_with_flag(_with_flag(spec.argv, port_flag, str(p)), "--storage", "etcd"),
                                  "--etcd-servers", plan.etcd_servers)
                for flag, value in zip(*[iter(apiserver_etcd_args(data_dir, plan))] * 2, strict=True):
                    argv = _with_flag(argv, flag, value)
                if "--audit-log-path" in argv:  # one audit log per server (each rotates its own)
                    argv = _with_flag(argv, "--audit-log-path", str(data_dir / "logs" / f"audit-apiserver-{i + 1}.log"))
                out.append(ComponentSpec(f"apiserver-{i + 1}", argv, spec.env))
            cfg.write_text(haproxy_config(port=lb_port, backends=[(f"apiserver-{i + 1}", p)
                                                                  for i, p in enumerate(ports)], tls=tls))
            out.append(ComponentSpec("haproxy", (haproxy_binary(), "-db", "-f", str(cfg))))
        elif spec.name in REPLICATED:
            for i in range(n):
                name = f"{spec.name}-{i + 1}"
                argv = _with_flag(spec.argv, "--identity", f"{hostname}_{name}") if spec.name == "scheduler" \
                    else (*spec.argv, "--identity", f"{hostname}_{name}")
                if i > 0:
                    argv = _with_flag(argv, "--secure-port", "0")
                out.append(replace(spec, name=name, argv=argv))
        else:
            out.append(spec)
    etcd_client = None
    if plan.tls:
        from sampan.cli.pki import ClusterPKI

        ca, cert, key = ClusterPKI(data_dir).etcd_client("healthcheck-client")
        etcd_client = (str(ca), str(cert), str(key))
    return out, ReplicatedControlPlane(plan, ports, cfg, tls=tls, etcd_client=etcd_client)
