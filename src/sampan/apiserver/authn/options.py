"""Options of the authentication chain (kube-apiserver's authentication flags), one frozen dataclass."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sampan.apiserver.authn.requestheader import RequestHeaderOptions


@dataclass(frozen=True)
class AuthenticationOptions:
    client_ca_file: Path | None = None
    """``--client-ca-file``: CAs whose client certificates authenticate (CN = user, O = groups)."""
    token_auth_file: Path | None = None
    """``--token-auth-file``: a CSV of static bearer tokens (``token,user,uid,"group1,group2"``)."""
    service_account_key_files: tuple[Path, ...] = ()
    """``--service-account-key-file`` (repeatable): public (or private) keys that verify service-account
    JWTs, besides the signing key's own public key."""
    service_account_issuers: tuple[str, ...] = ()
    """``--service-account-issuer`` (repeatable): accepted ``iss`` values; the first one signs. Empty: the
    signer's issuer."""
    api_audiences: tuple[str, ...] = ()
    """``--api-audiences``: a bound token must name one of these in ``aud``; empty: the issuers."""
    service_account_lookup: bool = True
    """``--service-account-lookup``: reject tokens whose ServiceAccount (or legacy Secret) is gone."""
    bootstrap_tokens: bool = True
    """``--enable-bootstrap-token-auth`` (kubeadm turns it on): ``bootstrap.kubernetes.io/token`` Secrets."""
    anonymous: bool = True
    """``--anonymous-auth``: a request without credentials is ``system:anonymous`` (else 401)."""
    anonymous_paths: tuple[str, ...] | None = ("/healthz", "/livez", "/readyz", "/version")
    """Where anonymous requests are allowed (upstream's AuthenticationConfiguration ``anonymous.conditions``;
    sub-paths included); elsewhere a request without credentials is a 401. None: every path."""
    requestheader: RequestHeaderOptions | None = None
    """``--requestheader-*``: trust user names in headers from proxies with a certificate of that CA (the
    aggregation layer's front proxy)."""
