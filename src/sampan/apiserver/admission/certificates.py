"""The certificates.k8s.io admission plugins, as upstream's ``plugin/pkg/admission/certificates``:

* ``CertificateApproval`` — a write to ``certificatesigningrequests/approval`` needs the ``approve`` verb on
  ``signers`` (group certificates.k8s.io) named by the request's ``spec.signerName`` (or ``<domain>/*``);
* ``CertificateSigning`` — a write to ``certificatesigningrequests/status`` that changes
  ``status.certificate`` needs ``sign`` on that signer;
* ``CertificateSubjectRestriction`` — a request for ``kubernetes.io/kube-apiserver-client`` may not ask
  for the ``system:masters`` group.

The verb checks ask the server's authorizer (no authorizer configured: allowed, as AlwaysAllow would).
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any

from sampan._lib import csr
from sampan.api import errors
from sampan.apiserver.admission.interface import Attributes, PluginBase
from sampan.apiserver.authz import authorization_of
from sampan.apiserver.authz.attributes import Attributes as AuthzAttributes
from sampan.apiserver.userinfo import UserInfo

if TYPE_CHECKING:
    from sampan.apiserver.context import ServerContext

GROUP = "certificates.k8s.io"
RESOURCE = "certificatesigningrequests"
API_SERVER_CLIENT = "kubernetes.io/kube-apiserver-client"


def _forbidden(attrs: Attributes, why: str) -> errors.Forbidden:
    target = f'{RESOURCE}.{GROUP} "{attrs.name}"' if attrs.name else f"{RESOURCE}.{GROUP}"
    details: dict[str, Any] = {"kind": RESOURCE, "group": GROUP}
    if attrs.name:
        details["name"] = attrs.name
    return errors.Forbidden(f"{target} is forbidden: {why}", details=details)


def _signer(obj: dict[str, Any] | None) -> str:
    spec = (obj or {}).get("spec")
    return str(spec.get("signerName") or "") if isinstance(spec, dict) else ""


def authorized_for_signer(ctx: ServerContext, user: UserInfo, verb: str, signer: str) -> bool:
    """Upstream's ``IsAuthorizedForSignerName``: ``verb`` on the signer itself, else on ``<domain>/*``."""
    authz = authorization_of(ctx)
    if authz is None:
        return True
    names = [signer]
    if "/" in signer:
        names.append(signer.split("/", 1)[0] + "/*")
    for name in names:
        attrs = AuthzAttributes(user=user, verb=verb, api_group=GROUP, resource="signers", name=name)
        if authz.authorizer.authorize(attrs).allowed:
            return True
    return False


class CertificateApprovalPlugin(PluginBase):
    name = "CertificateApproval"

    def handles(self, attrs: Attributes) -> bool:
        return attrs.operation == "UPDATE" and attrs.is_resource(GROUP, RESOURCE, "approval")

    async def validate(self, ctx: ServerContext, attrs: Attributes) -> None:
        signer = _signer(attrs.obj)
        if not authorized_for_signer(ctx, attrs.user, "approve", signer):
            raise _forbidden(attrs, f'user not permitted to approve requests with signerName "{signer}"')


class CertificateSigningPlugin(PluginBase):
    name = "CertificateSigning"

    def handles(self, attrs: Attributes) -> bool:
        return attrs.operation == "UPDATE" and attrs.is_resource(GROUP, RESOURCE, "status")

    async def validate(self, ctx: ServerContext, attrs: Attributes) -> None:
        def certificate(obj: dict[str, Any] | None) -> Any:
            status = (obj or {}).get("status")
            return status.get("certificate") if isinstance(status, dict) else None

        if certificate(attrs.obj) == certificate(attrs.old):
            return
        signer = _signer(attrs.old)
        if not authorized_for_signer(ctx, attrs.user, "sign", signer):
            raise _forbidden(attrs, f'user not permitted to sign requests with signerName "{signer}"')


class CertificateSubjectRestrictionPlugin(PluginBase):
    name = "CertificateSubjectRestriction"

    def handles(self, attrs: Attributes) -> bool:
        return attrs.operation == "CREATE" and attrs.is_resource(GROUP, RESOURCE)

    async def validate(self, ctx: ServerContext, attrs: Attributes) -> None:
        if _signer(attrs.obj) != API_SERVER_CLIENT:
            return
        spec = (attrs.obj or {}).get("spec") or {}
        try:
            request = csr.parse_request(base64.b64decode(spec.get("request") or ""))
        except (ValueError, binascii.Error):
            return  # validation already refused it
        if "system:masters" in request.organizations:
            raise _forbidden(attrs, f"use of {API_SERVER_CLIENT} signer with system:masters group is not allowed")
