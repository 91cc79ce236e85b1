"""How ``sampan up --control-plane-nodes N`` lays out its control plane (no processes started)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from sampan.cli import ha_plane
from sampan.cli.supervisor import ComponentSpec
from sampan.cli.up import UpOptions, component_specs, timing_args
from tests.ha.support import needs_etcd_and_haproxy


def _specs(tmp_path: Path) -> list[ComponentSpec]:
    options = UpOptions(data_dir=tmp_path, port=7443, storage="etcd", nodes=2, runtime="simulated",
                        control_plane_nodes=3)
    specs, _ = component_specs(options, {"apiserver", "scheduler", "controller-manager", "kubelet", "dns"})
    return specs


@needs_etcd_and_haproxy
def test_three_replicas_of_everything_behind_haproxy(tmp_path: Path) -> None:
    plan = ha_plane.load_or_create_plan(tmp_path, replicas=3)
    specs, replicated = ha_plane.replicate(_specs(tmp_path), data_dir=tmp_path, lb_port=7443, plan=plan,
                                           hostname="vm")
    names = [s.name for s in specs]
    assert names[:7] == ["etcd-1", "etcd-2", "etcd-3", "apiserver-1", "apiserver-2", "apiserver-3", "haproxy"]
    assert [n for n in names if n.startswith(("scheduler", "controller-manager"))] == [
        "scheduler-1", "scheduler-2", "scheduler-3",
        "controller-manager-1", "controller-manager-2", "controller-manager-3"]
    assert "kubelet" in names
    assert "hollow-kubelets" in names  # simulated nodes 2..N run in one process (hollow nodes)
    by_name = {s.name: s.argv for s in specs}
    servers = plan.etcd_servers
    assert servers.count("http://127.0.0.1:") == 3
    ports = set()
    for i in (1, 2, 3):
        argv = by_name[f"apiserver-{i}"]
        assert argv[argv.index("--storage") + 1] == "etcd"
        assert argv[argv.index("--etcd-servers") + 1] == servers
        ports.add(argv[argv.index("--secure-port") + 1])  # TLS by default (sampan up --insecure: --port)
        assert "--port" not in argv
        sched = by_name[f"scheduler-{i}"]
        assert sched[sched.index("--identity") + 1] == f"vm_scheduler-{i}"
        cm = by_name[f"controller-manager-{i}"]
        assert cm[cm.index("--identity") + 1] == f"vm_controller-manager-{i}"
        if i > 1:  # only the first replica may take the upstream metrics port
            assert sched[sched.index("--secure-port") + 1] == "0"
            assert cm[cm.index("--secure-port") + 1] == "0"
        etcd = by_name[f"etcd-{i}"]
        assert f"--name=etcd-{i}" in etcd
        assert f"--data-dir={tmp_path / 'etcd' / f'etcd-{i}'}" in etcd
        assert "--initial-cluster=" + plan.initial_cluster() in etcd
    assert len(ports) == 3
    assert {str(p) for p in replicated.apiserver_ports} == ports
    config = replicated.haproxy_config.read_text()
    assert "bind 127.0.0.1:7443" in config
    assert "option httpchk GET /readyz" in config
    for i, p in enumerate(replicated.apiserver_ports):
        assert f"server apiserver-{i + 1} 127.0.0.1:{p} check" in config
    assert by_name["haproxy"][-2:] == ("-f", str(replicated.haproxy_config))
    state = replicated.state()
    assert [m["name"] for m in state["etcd_members"]] == ["etcd-1", "etcd-2", "etcd-3"]


def test_the_etcd_plan_is_kept_across_starts(tmp_path: Path) -> None:
    first = ha_plane.load_or_create_plan(tmp_path, replicas=3)
    again = ha_plane.load_or_create_plan(tmp_path, replicas=3)
    assert again == first  # same member names and ports: a restarted member finds its cluster
    with pytest.raises(ValueError, match="has 3 members; start it with --control-plane-nodes 3"):
        ha_plane.load_or_create_plan(tmp_path, replicas=5)


@needs_etcd_and_haproxy
def test_external_etcd_runs_no_members(tmp_path: Path) -> None:
    plan = ha_plane.load_or_create_plan(tmp_path, replicas=2, etcd_servers="http://127.0.0.1:2379")
    specs, _ = ha_plane.replicate(_specs(tmp_path), data_dir=tmp_path, lb_port=7443, plan=plan, hostname="vm")
    assert not any(s.name.startswith("etcd") for s in specs)
    argv = next(s.argv for s in specs if s.name == "apiserver-2")
    assert argv[argv.index("--etcd-servers") + 1] == "http://127.0.0.1:2379"


@needs_etcd_and_haproxy
def test_a_secure_cluster_runs_etcd_over_tls_with_client_certificates(tmp_path: Path) -> None:
    from sampan.cli.pki import ClusterPKI

    plan = ha_plane.load_or_create_plan(tmp_path, replicas=3, tls=True)
    assert plan.tls
    assert plan.etcd_servers.count("https://127.0.0.1:") == 3
    assert ha_plane.read_plan(tmp_path) == plan  # the scheme is part of the stored membership
    specs, replicated = ha_plane.replicate(_specs(tmp_path), data_dir=tmp_path, lb_port=7443, plan=plan,
                                           hostname="vm", tls=True)
    by_name = {s.name: s.argv for s in specs}
    etcd_dir = ClusterPKI(tmp_path).etcd_dir
    member = by_name["etcd-1"]
    for flag in ("--client-cert-auth=true", "--peer-client-cert-auth=true", f"--trusted-ca-file={etcd_dir / 'ca.crt'}",
                 f"--cert-file={etcd_dir / 'server.crt'}", f"--peer-cert-file={etcd_dir / 'peer.crt'}",
                 f"--listen-peer-urls={plan.members[0].peer_url}"):
        assert flag in member
    assert plan.members[0].peer_url.startswith("https://")
    server = by_name["apiserver-1"]
    assert server[server.index("--etcd-cafile") + 1] == str(etcd_dir / "ca.crt")
    assert server[server.index("--etcd-certfile") + 1] == str(ClusterPKI(tmp_path).dir / "apiserver-etcd-client.crt")
    assert replicated.state()["etcd_client"][1] == str(etcd_dir / "healthcheck-client.crt")
    assert all(a["url"].startswith("https://") for a in replicated.state()["apiservers"])


def test_a_plan_written_before_etcd_tls_stays_plain(tmp_path: Path) -> None:
    (tmp_path / ha_plane.PLAN_FILE).write_text(
        '{"replicas": 1, "external_etcd": "", "members": [{"name": "etcd-1", "client_port": 1, "peer_port": 2}]}')
    plan = ha_plane.load_or_create_plan(tmp_path, replicas=1, tls=True)
    assert not plan.tls
    assert plan.etcd_servers == "http://127.0.0.1:1"


def test_tls_servers_are_checked_over_tls() -> None:
    config = ha_plane.haproxy_config(port=6443, backends=[("apiserver-1", 1)], tls=True)
    assert "check-ssl verify none" in config
    assert "mode tcp" in config


def test_haproxy_maxconn_fits_the_descriptor_limit() -> None:
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert 2 * ha_plane.max_connections() <= max(soft, 1024)


def test_leader_election_flags_reach_both_components() -> None:
    from sampan.cli import up

    parser = argparse.ArgumentParser()
    up.register(parser.add_subparsers())
    args = parser.parse_args(["up", "--control-plane-nodes", "3", "--leader-elect-lease-duration", "4s"])
    assert timing_args(args, "scheduler") == ("--leader-elect-lease-duration", "4s")
    assert timing_args(args, "controller-manager") == ("--leader-elect-lease-duration", "4s")
    assert args.storage is None  # resolved to etcd by `sampan up` itself


@pytest.mark.parametrize(("argv", "message"), [
    (["--control-plane-nodes", "0"], "--control-plane-nodes must be at least 1"),
    (["--control-plane-nodes", "3", "--storage", "sqlite"], "needs --storage etcd"),
])
def test_bad_control_plane_flags_are_one_line_errors(tmp_path: Path, argv: list[str], message: str) -> None:
    from tests.ha.support import sampan

    result = sampan("up", "--data-dir", str(tmp_path), "--port", "0", *argv, timeout=30)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
