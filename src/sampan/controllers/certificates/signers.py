"""What each built-in signer accepts (upstream's ``pkg/apis/certificates`` helpers and the signers'
``isRequestForSignerFn``). Each check returns "" when the request is acceptable, else the reason the
signer records in a ``Failed`` condition (reason ``SignerValidationFailure``).

* ``kubernetes.io/kube-apiserver-client-kubelet``: subject ``O=system:nodes``, ``CN=system:node:<name>``,
  no SANs, usages exactly {digital signature, client auth} (+ key encipherment);
* ``kubernetes.io/kubelet-serving``: the same subject, at least one DNS or IP SAN, no email/URI SANs,
  usages {digital signature, server auth} (+ key encipherment);
* ``kubernetes.io/kube-apiserver-client``: any subject (the CertificateSubjectRestriction admission
  plugin keeps ``system:masters`` out), usages within {digital signature, key encipherment, client auth}
  and including client auth.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sampan._lib.csr import Request

KUBE_APISERVER_CLIENT = "kubernetes.io/kube-apiserver-client"
KUBELET_CLIENT = "kubernetes.io/kube-apiserver-client-kubelet"
KUBELET_SERVING = "kubernetes.io/kubelet-serving"
NODE_PREFIX = "system:node:"
NODES_GROUP = "system:nodes"


def _node_subject(req: Request) -> str:
    if list(req.organizations) != [NODES_GROUP]:
        return "subject organization is not system:nodes"
    if not req.common_name.startswith(NODE_PREFIX):
        return "subject common name does not begin with system:node:"
    return ""


def _usages_match(usages: Sequence[str], required: set[str]) -> str:
    got = set(usages)
    if got == required or got == required | {"key encipherment"}:
        return ""
    return f"usages did not match {sorted(required | {'key encipherment'})}"


def kubelet_client(req: Request, usages: Sequence[str]) -> str:
    problem = _node_subject(req)
    if problem:
        return problem
    for what, values in (("DNS", req.dns_names), ("Email", req.emails), ("IP", req.ip_addresses),
                         ("URI", req.uris)):
        if values:
            return f"{what} subjectAltNames are not allowed"
    return _usages_match(usages, {"digital signature", "client auth"})


def kubelet_serving(req: Request, usages: Sequence[str]) -> str:
    problem = _node_subject(req)
    if problem:
        return problem
    if req.emails:
        return "Email subjectAltNames are not allowed"
    if req.uris:
        return "URI subjectAltNames are not allowed"
    if not req.dns_names and not req.ip_addresses:
        return "DNS or IP subjectAltName is required"
    return _usages_match(usages, {"digital signature", "server auth"})


def apiserver_client(req: Request, usages: Sequence[str]) -> str:
    allowed = {"digital signature", "key encipherment", "client auth"}
    if "client auth" not in usages or not set(usages) <= allowed:
        return f"invalid usage for client certificate: usages must be within {sorted(allowed)} and include client auth"
    return ""


CHECKS: dict[str, Callable[[Request, Sequence[str]], str]] = {
    KUBE_APISERVER_CLIENT: apiserver_client,
    KUBELET_CLIENT: kubelet_client,
    KUBELET_SERVING: kubelet_serving,
}
"""signerName -> its restrictions; the signers this controller-manager serves."""
