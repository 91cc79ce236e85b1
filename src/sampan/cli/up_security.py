"""The flags ``sampan up`` adds for issue 17's last parts: audit logging, kubelet authentication and
authorization of its callers, and the aggregation layer's front-proxy certificate."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sampan.cli.pki import ClusterPKI

AUDIT_MAX_SIZE_MB, AUDIT_MAX_BACKUPS = 100, 5
KUBELET_AUTH_ARGS = ("--anonymous-auth", "false", "--authentication-token-webhook", "--authorization-mode", "Webhook")
"""kubeadm's kubelet configuration: no anonymous callers, tokens checked with TokenReview, every request
authorized with a SubjectAccessReview on ``nodes/<subresource>``."""


def audit_policy(data_dir: Path) -> Path:
    """``<data-dir>/audit-policy.yaml``: :data:`sampan.apiserver.audit.policy.DEFAULT_POLICY`, written on
    the cluster's first start and then kept (edit it to audit more)."""
    from sampan.apiserver.audit.policy import DEFAULT_POLICY

    path = data_dir / "audit-policy.yaml"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(DEFAULT_POLICY)
        tmp.replace(path)
    return path


def audit_args(data_dir: Path) -> tuple[str, ...]:
    """The API server's audit flags: the default policy, ``<data-dir>/logs/audit.log`` rotated at 100 MB."""
    return ("--audit-policy-file", str(audit_policy(data_dir)),
            "--audit-log-path", str(data_dir / "logs" / "audit.log"),
            "--audit-log-maxsize", str(AUDIT_MAX_SIZE_MB), "--audit-log-maxbackup", str(AUDIT_MAX_BACKUPS))


def front_proxy_args(pki: ClusterPKI) -> tuple[str, ...]:
    """kubeadm's aggregation-layer flags: request-header authentication from the front-proxy CA (common
    name ``front-proxy-client`` only), and that client certificate presented to extension servers."""
    from sampan.cli.pki import FRONT_PROXY_CLIENT

    return ("--requestheader-client-ca-file", str(pki.front_proxy_ca_cert),
            "--requestheader-allowed-names", FRONT_PROXY_CLIENT,
            "--requestheader-username-headers", "X-Remote-User", "--requestheader-group-headers", "X-Remote-Group",
            "--requestheader-extra-headers-prefix", "X-Remote-Extra-",
            "--proxy-client-cert-file", str(pki.cert(FRONT_PROXY_CLIENT)),
            "--proxy-client-key-file", str(pki.key(FRONT_PROXY_CLIENT)))
