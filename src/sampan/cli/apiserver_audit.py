"""``sampan apiserver``'s audit flags (upstream's names) and the :class:`AuditOptions` they make."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from sampan._lib.durations import parse_duration

if TYPE_CHECKING:
    from sampan.apiserver.audit.options import AuditOptions

MEGABYTE = 1024 * 1024


def add_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--audit-policy-file", default="", metavar="FILE",
                   help="audit.k8s.io/v1 Policy: which requests are audited, at which level")
    p.add_argument("--audit-log-path", default="", metavar="PATH",
                   help="write audit Events as JSON lines here ('-': standard output)")
    p.add_argument("--audit-log-maxage", type=int, default=0, help="days to keep rotated audit logs (0: no limit)")
    p.add_argument("--audit-log-maxbackup", type=int, default=0, help="rotated audit logs to keep (0: all)")
    p.add_argument("--audit-log-maxsize", type=float, default=0,
                   help="megabytes an audit log grows to before it is rotated (0: never)")
    p.add_argument("--audit-log-batch-buffer-size", type=int, default=10000,
                   help="audit events queued for the writer; beyond it events are dropped (never waited for)")
    p.add_argument("--audit-log-batch-max-size", type=int, default=400, help="audit events per write")
    p.add_argument("--audit-webhook-config-file", default="", metavar="FILE",
                   help="kubeconfig of a server audit EventLists are POSTed to")
    p.add_argument("--audit-webhook-batch-max-wait", default="30s", help="longest a webhook batch waits (30s)")
    p.add_argument("--audit-webhook-initial-backoff", default="10s", help="first retry delay of the webhook (10s)")


def options_from_args(args: argparse.Namespace) -> AuditOptions:
    """The audit options; ValueError (one line) for a bad policy file or values."""
    from sampan.apiserver.audit.options import AuditOptions
    from sampan.apiserver.audit.policy import load

    policy = Path(args.audit_policy_file) if args.audit_policy_file else None
    if policy is not None:
        load(policy)  # a bad policy is a one-line error now
    if (args.audit_log_path or args.audit_webhook_config_file) and policy is None:
        raise ValueError("--audit-log-path/--audit-webhook-config-file need --audit-policy-file")
    return AuditOptions(policy_file=policy, log_path=args.audit_log_path,
                        log_max_age_days=args.audit_log_maxage, log_max_backups=args.audit_log_maxbackup,
                        log_max_size_bytes=int(args.audit_log_maxsize * MEGABYTE),
                        log_buffer_size=args.audit_log_batch_buffer_size,
                        log_batch_size=args.audit_log_batch_max_size,
                        webhook_config_file=Path(args.audit_webhook_config_file)
                        if args.audit_webhook_config_file else None,
                        webhook_batch_max_wait=parse_duration(args.audit_webhook_batch_max_wait),
                        webhook_initial_backoff=parse_duration(args.audit_webhook_initial_backoff))
