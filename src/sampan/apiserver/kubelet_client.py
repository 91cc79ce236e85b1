"""How the API server reaches kubelets (``pods/log``, ``exec``/``attach``/``portforward``, ``nodes/proxy``).

With ``--kubelet-client-certificate``/``--kubelet-client-key`` the API server speaks HTTPS to kubelets
and presents that certificate (kubeadm's ``apiserver-kubelet-client``); ``--kubelet-certificate-authority``
makes it verify the kubelet's serving certificate (else it is not verified, as upstream). Without a client
certificate kubelets are reached over plain HTTP (embedded servers, ``sampan up --insecure``).
"""

from __future__ import annotations

import ssl

from sampan._lib.pki import client_ssl_context
from sampan.apiserver.context import ServerContext

_CONTEXT_KEY = "kubelet-client-tls"


def kubelet_tls(ctx: ServerContext) -> ssl.SSLContext | None:
    """The TLS context towards kubelets (made once), or None for plain HTTP."""
    options = ctx.config.kubelet_client
    if options.cert_file is None:
        return None
    made = ctx.extras.get(_CONTEXT_KEY)
    if not isinstance(made, ssl.SSLContext):
        made = client_ssl_context(ca_file=options.ca_file, cert_file=options.cert_file, key_file=options.key_file)
        ctx.extras[_CONTEXT_KEY] = made
    return made


def kubelet_scheme(ctx: ServerContext) -> str:
    return "https" if ctx.config.kubelet_client.cert_file is not None else "http"
