"""``sampan scheduler``: run kube-scheduler in the foreground until SIGINT/SIGTERM.

Flags keep kube-scheduler's names: ``--kubeconfig``, ``--config`` (a KubeSchedulerConfiguration file),
``--leader-elect`` (default true; ``--leader-elect=false`` turns it off) and its lease knobs,
``--bind-address``/``--secure-port`` for ``/metrics`` and ``/healthz`` (plain HTTP here; port 0 disables
serving, as upstream), ``--kube-api-qps``/``--kube-api-burst``. Bad flags or a bad config file give one
line on stderr and exit code 2; losing leadership exits with code 1 (a supervisor restarts it).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from sampan._lib.durations import parse_duration

if TYPE_CHECKING:
    from sampan.scheduler.app import SchedulerAppOptions

log = logging.getLogger(__name__)


def parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1", "yes", "t"):
        return True
    if value in ("false", "0", "no", "f"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean {text!r} (want true or false)")


def options_from_args(args: argparse.Namespace) -> SchedulerAppOptions:
    """The component options the flags describe; ValueError (one line) for bad values."""
    from sampan.client import load_config
    from sampan.client.leaderelection import LeaderElectionConfig
    from sampan.scheduler.app import SchedulerAppOptions
    from sampan.scheduler.framework.config import load_config as load_scheduler_config
    from sampan.scheduler.scheduler import Scheduler, SchedulerOptions

    config_text = ""
    if args.config:
        try:
            config_text = Path(args.config).read_text(encoding="utf-8")
        except OSError as e:
            raise ValueError(f"cannot read --config {args.config}: {e.strerror}") from None
    sched_config = load_scheduler_config(config_text)
    Scheduler(SchedulerOptions(config=sched_config))  # builds every profile's plugins: bad args fail here
    rest = load_config(args.kubeconfig)
    rest = dataclasses.replace(rest, qps=float(args.kube_api_qps), burst=int(args.kube_api_burst),
                               user_agent="kube-scheduler/sampan")
    election = LeaderElectionConfig(
        lease_duration=parse_duration(args.leader_elect_lease_duration),
        renew_deadline=parse_duration(args.leader_elect_renew_deadline),
        retry_period=parse_duration(args.leader_elect_retry_period),
    )
    if not 0 <= args.secure_port <= 65535:
        raise ValueError(f"--secure-port must be in [0, 65535], got {args.secure_port}")
    return SchedulerAppOptions(
        rest=rest, scheduler=SchedulerOptions(config=sched_config), leader_elect=args.leader_elect,
        lease_namespace=args.leader_elect_resource_namespace, lease_name=args.leader_elect_resource_name,
        identity=args.identity or "", leader_election=election, metrics_bind_address=args.bind_address,
        metrics_port=args.secure_port or None, sync_timeout=_positive_duration(args.cache_sync_timeout),
    )


def _positive_duration(text: str) -> float:
    seconds = parse_duration(text)
    if seconds <= 0:
        raise ValueError(f"--cache-sync-timeout must be positive, got {text}")
    return seconds


async def _serve(options: SchedulerAppOptions) -> int:
    from sampan.cli.signals import run_until_signalled
    from sampan.scheduler.app import LeadershipLost, SchedulerApp

    try:
        await run_until_signalled(SchedulerApp(options).run(), name="scheduler")
    except LeadershipLost as e:
        log.error("leader election lost, exiting: %s", e)
        return 1
    log.info("scheduler stopped")
    return 0


def _run(args: argparse.Namespace) -> int:
    options = options_from_args(args)
    return asyncio.run(_serve(options))


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("scheduler", help="run kube-scheduler")
    p.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config, "
                   "then in-cluster)")
    p.add_argument("--config", default="", help="KubeSchedulerConfiguration file (profiles, plugins, "
                   "percentageOfNodesToScore, back-off)")
    p.add_argument("--leader-elect", type=parse_bool, nargs="?", const=True, default=True, metavar="BOOL",
                   help="hold a Lease before scheduling, so one replica schedules at a time (default true)")
    p.add_argument("--leader-elect-lease-duration", default="15s", help="default 15s")
    p.add_argument("--leader-elect-renew-deadline", default="10s", help="default 10s")
    p.add_argument("--leader-elect-retry-period", default="2s", help="default 2s")
    p.add_argument("--leader-elect-resource-namespace", default="kube-system", help="default kube-system")
    p.add_argument("--leader-elect-resource-name", default="kube-scheduler", help="default kube-scheduler")
    p.add_argument("--identity", default="", help="lease holder identity (default <hostname>_<uuid>)")
    p.add_argument("--cache-sync-timeout", default="120s",
                   help="sampan's own: give up (exit, for a supervisor to restart) when the informers' first "
                   "LISTs are not handled within this (default 120s; 150,000 pods on a loaded machine need more)")
    p.add_argument("--bind-address", default="127.0.0.1", help="address of /metrics and /healthz "
                   "(default 127.0.0.1)")
    p.add_argument("--secure-port", "--port", type=int, default=10259,
                   help="port of /metrics and /healthz, plain HTTP; 0 disables (default 10259)")
    p.add_argument("--kube-api-qps", type=float, default=50.0, help="client QPS to the API server (default 50)")
    p.add_argument("--kube-api-burst", type=int, default=100, help="client burst (default 100)")
    p.set_defaults(handler=_run)
