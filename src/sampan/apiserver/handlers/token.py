"""POST ``serviceaccounts/<name>/token``: the TokenRequest API (``kubectl create token``).

The body is an ``authentication.k8s.io/v1`` ``TokenRequest``. Defaults and checks, as upstream:
``expirationSeconds`` defaults to 3600 and must lie in [600, 2^32]; no audiences means the issuer's;
a ``boundObjectRef`` names a v1 Pod, Secret or Node that must exist (and match its ``uid`` when given),
and its name/uid go into the token's ``kubernetes.io`` claim. The service account must exist (404).
The answer echoes the request with ``status.token`` (an ES256 JWT from :mod:`sampan.apiserver.satokens`)
and ``status.expirationTimestamp``, 201 Created, JSON or protobuf as negotiated. Nothing is stored. With
``?dryRun=All`` the token is still made, as upstream. :mod:`sampan.apiserver.authn.serviceaccount` checks
the tokens.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from sampan.api import errors, humanize
from sampan.apiserver.bodies import read_object
from sampan.apiserver.cacher.objects import decode_stored
from sampan.apiserver.context import ServerContext
from sampan.apiserver.handlers import objectmeta as om
from sampan.apiserver.responses import object_response
from sampan.apiserver.routes import Target
from sampan.apiserver.satokens import TokenSigner, service_account_claims
from sampan.apiserver.storage_errors import to_api_error
from sampan.storage import KeyNotFound, StorageError

log = logging.getLogger(__name__)

GROUP = "authentication.k8s.io"
KIND = "TokenRequest"
DEFAULT_EXPIRATION = 3600
MIN_EXPIRATION = 600
MAX_EXPIRATION = 1 << 32
_BINDABLE = {"Pod": ("pods", "pod"), "Secret": ("secrets", "secret"), "Node": ("nodes", "node")}
_SIGNER_KEY = "serviceaccount-token-signer"


def signer(ctx: ServerContext) -> TokenSigner:
    """The server's signer, made on first use: ``--service-account-signing-key-file``'s key, else one kept
    under the data dir (sqlite storage) or in memory."""
    existing = ctx.extras.get(_SIGNER_KEY)
    if isinstance(existing, TokenSigner):
        return existing
    options = ctx.config.storage
    if ctx.config.service_account_signing_key_file is not None:
        made = TokenSigner.from_file(ctx.config.service_account_signing_key_file,
                                     issuer=ctx.config.service_account_issuer)
    else:
        made = TokenSigner.load_or_create(options.data_dir if options.backend == "sqlite" else None)
        if ctx.config.service_account_issuer:
            made = made.with_issuer(ctx.config.service_account_issuer)
    ctx.extras[_SIGNER_KEY] = made
    return made


def _check_request(body: dict[str, Any], name: str) -> tuple[dict[str, Any], int]:
    if body.get("kind") not in (None, "", KIND) or body.get("apiVersion") not in (None, "", f"{GROUP}/v1"):
        raise errors.BadRequest(f'{body.get("kind")} in version "{body.get("apiVersion")}" cannot be handled as a '
                                f"{KIND}")
    raw_spec = body.get("spec")
    spec: dict[str, Any] = dict(raw_spec) if isinstance(raw_spec, dict) else {}
    seconds = spec.get("expirationSeconds")
    if seconds is None:
        seconds = DEFAULT_EXPIRATION
    causes: list[errors.Cause] = []
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        causes.append(errors.invalid("spec.expirationSeconds", str(seconds), "must be an integer"))
    elif seconds < MIN_EXPIRATION:
        causes.append(errors.invalid("spec.expirationSeconds", seconds,
                                     "may not specify a duration less than 10 minutes"))
    elif seconds > MAX_EXPIRATION:
        causes.append(errors.invalid("spec.expirationSeconds", seconds,
                                     "may not specify a duration larger than 2^32 seconds"))
    audiences = spec.get("audiences")
    if audiences is not None and (not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences)):
        causes.append(errors.invalid("spec.audiences", str(audiences), "must be a list of strings"))
    if causes:
        raise errors.invalid_object(KIND, name, causes, group=GROUP)
    spec["expirationSeconds"] = seconds
    return spec, seconds


async def _read(ctx: ServerContext, resource: str, namespace: str, name: str) -> dict[str, Any]:
    scope = ctx.scope("", "v1", resource)
    if scope is None:
        raise errors.NotFound("the server could not find the requested resource")
    try:
        kv = await ctx.store.get(scope.key(namespace or "", name))
    except KeyNotFound:
        raise errors.not_found(resource, name) from None
    except StorageError as exc:
        raise to_api_error(exc, resource=resource, group="", name=name) from None
    return decode_stored(kv.value, kv.mod_revision)


async def _bound_claims(ctx: ServerContext, ref: Any, namespace: str) -> dict[str, dict[str, str]]:
    if ref is None:
        return {}
    if not isinstance(ref, dict):
        raise errors.BadRequest("spec.boundObjectRef must be an object")
    kind, api_version = ref.get("kind"), ref.get("apiVersion") or "v1"
    if kind not in _BINDABLE or api_version != "v1":
        raise errors.BadRequest(f"cannot bind token to object of type {api_version}, Kind={kind}")
    resource, claim = _BINDABLE[str(kind)]
    name = ref.get("name")
    if not isinstance(name, str) or not name:
        raise errors.BadRequest("spec.boundObjectRef.name is required")
    obj = await _read(ctx, resource, namespace, name)
    uid = str((obj.get("metadata") or {}).get("uid") or "")
    wanted = ref.get("uid")
    if wanted and wanted != uid:
        raise errors.conflict(resource, name, f"the UID in the bound object reference ({wanted}) does not match "
                              f"the UID in record. The object might have been deleted and then recreated")
    return {claim: {"name": name, "uid": uid}}


async def handle(request: web.Request, ctx: ServerContext, t: Target) -> web.StreamResponse:
    if (t.scope.info.group, t.scope.info.resource) != ("", "serviceaccounts") or not t.namespace or not t.name:
        raise errors.NotFound("the server could not find the requested resource")
    om.dry_run(request)
    body = await read_object(request, max_bytes=ctx.config.max_body_bytes, expect=KIND)
    spec, seconds = _check_request(body, t.name)
    sa = await _read(ctx, "serviceaccounts", t.namespace, t.name)
    sa_uid = str((sa.get("metadata") or {}).get("uid") or "")
    bound = await _bound_claims(ctx, spec.get("boundObjectRef"), t.namespace)
    sign = signer(ctx)
    audiences = list(spec.get("audiences") or []) or [sign.issuer]
    spec["audiences"] = audiences
    now = int(ctx.clock.wall())
    claims = service_account_claims(issuer=sign.issuer, namespace=t.namespace, name=t.name, uid=sa_uid,
                                    audiences=audiences, now=now, expiration_seconds=seconds, bound=bound)
    answer = {
        "kind": KIND, "apiVersion": f"{GROUP}/v1",
        "metadata": {"name": t.name, "namespace": t.namespace, "creationTimestamp": humanize.format_rfc3339(now)},
        "spec": spec,
        "status": {"token": sign.sign(claims), "expirationTimestamp": humanize.format_rfc3339(now + seconds)},
    }
    log.info("issued service account token sa=%s/%s expiration_seconds=%d", t.namespace, t.name, seconds)
    return object_response(request, t.scope, answer, now=ctx.clock.wall(), status=201)
