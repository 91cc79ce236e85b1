"""Audit options (kube-apiserver's ``--audit-*`` flags), one frozen dataclass."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sampan.apiserver.audit.backend import DEFAULT_BATCH_SIZE, DEFAULT_BUFFER_SIZE


@dataclass(frozen=True)
class AuditOptions:
    policy_file: Path | None = None
    """``--audit-policy-file``: without it nothing is audited (as upstream)."""
    log_path: str = ""
    """``--audit-log-path``: JSON lines of Events; ``-`` is standard output; empty: no log backend."""
    log_max_age_days: int = 0
    """``--audit-log-maxage``: days rotated files are kept (0: no limit)."""
    log_max_backups: int = 0
    """``--audit-log-maxbackup``: rotated files kept (0: all)."""
    log_max_size_bytes: int = 0
    """``--audit-log-maxsize`` (given in megabytes): rotate past this size (0: never)."""
    log_buffer_size: int = DEFAULT_BUFFER_SIZE
    """``--audit-log-batch-buffer-size``: events queued for the writer; beyond it they are dropped."""
    log_batch_size: int = DEFAULT_BATCH_SIZE
    """``--audit-log-batch-max-size``: events per write."""
    webhook_config_file: Path | None = None
    """``--audit-webhook-config-file``: a kubeconfig naming the server Events are POSTed to (batches)."""
    webhook_batch_max_wait: float = 30.0
    """``--audit-webhook-batch-max-wait``: a batch waits at most this long to fill up (seconds)."""
    webhook_initial_backoff: float = 10.0
    """``--audit-webhook-initial-backoff``: first retry delay of a failed POST (seconds; doubled, 3 tries)."""

    def __post_init__(self) -> None:
        for name in ("log_max_age_days", "log_max_backups", "log_max_size_bytes"):
            if getattr(self, name) < 0:
                raise ValueError(f"--audit-{name.replace('_', '-')} may not be negative")
        if self.log_buffer_size < 1 or self.log_batch_size < 1:
            raise ValueError("audit buffer and batch sizes must be at least 1")

    @property
    def enabled(self) -> bool:
        return self.policy_file is not None and bool(self.log_path or self.webhook_config_file)
