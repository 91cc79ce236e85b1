"""``sampan up``'s component arguments: pass-through timing flags reach the controller-manager and every
kubelet unchanged (bad values fail ``sampan up`` itself in one line); the scheduler's metrics port steps
aside when 10259 is taken."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from sampan.cli.up import UpOptions, component_specs, register, timing_args


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    return parser.parse_args(["up", *argv])


def test_flags_reach_their_components(tmp_path: Path) -> None:
    args = parse("--nodes", "2", "--node-monitor-grace-period", "6s", "--node-eviction-rate", "1",
                 "--node-status-update-frequency", "2s", "--node-lease-duration-seconds", "6")
    options = UpOptions(data_dir=tmp_path, nodes=2, controller_manager_args=timing_args(args, "controller-manager"),
                        kubelet_args=timing_args(args, "kubelet"))
    specs, _ = component_specs(options, {"apiserver", "scheduler", "controller-manager", "kubelet"})
    argv = {spec.name: spec.argv for spec in specs}
    cm = argv["controller-manager"]
    assert cm[cm.index("--node-monitor-grace-period") + 1] == "6s"
    assert cm[cm.index("--node-eviction-rate") + 1] == "1"
    assert "--node-status-update-frequency" not in cm
    for name in ("kubelet", "kubelet-2"):
        kubelet = argv[name]
        assert kubelet[kubelet.index("--node-status-update-frequency") + 1] == "2s"
        assert kubelet[kubelet.index("--node-lease-duration-seconds") + 1] == "6"
        assert "--node-monitor-grace-period" not in kubelet


def test_unset_flags_are_not_passed() -> None:
    args = parse()
    assert timing_args(args, "controller-manager") == ()
    assert timing_args(args, "kubelet") == ()


@pytest.mark.parametrize(("flag", "value", "component"), [
    ("--node-monitor-grace-period", "soon", "controller-manager"),
    ("--node-lease-duration-seconds", "6s", "kubelet"),
    ("--node-lease-renew-interval", "ten", "kubelet"),
    ("--node-eviction-rate", "fast", "controller-manager")])
def test_bad_values_are_one_line_errors(flag: str, value: str, component: str) -> None:
    args = parse(flag, value)
    with pytest.raises(ValueError, match=f"^{flag}: invalid value '{value}'$"):
        timing_args(args, component)


def test_scheduler_metrics_port_falls_back_to_a_free_one_when_taken(tmp_path: Path) -> None:
    import socket

    from sampan.cli.up import SCHEDULER_PORT, port_is_free

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        # SO_REUSEADDR as every server sets it: a TIME_WAIT left by an earlier test's scheduler must not
        # make this bind fail while port_is_free (which sets it too) calls the port free.
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:  # hold the port; if something else on the machine already listens on it, that serves as well
            holder.bind(("127.0.0.1", SCHEDULER_PORT))
            holder.listen()
        except OSError:
            assert not port_is_free(SCHEDULER_PORT)
        specs, _ = component_specs(UpOptions(data_dir=tmp_path), {"apiserver", "scheduler"})
    scheduler = next(s.argv for s in specs if s.name == "scheduler")
    port = scheduler[scheduler.index("--secure-port") + 1]
    assert port not in ("0", str(SCHEDULER_PORT))
    # the API server probes this cluster's scheduler for `kubectl get componentstatuses`, not another one's
    apiserver = next(s.argv for s in specs if s.name == "apiserver")
    assert f"scheduler=http://127.0.0.1:{port}/healthz" in apiserver
