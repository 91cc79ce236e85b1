"""Assembling the authentication chain from the server's options, in upstream's order:

insecure port (plain HTTP is the insecure admin) → request headers from a front proxy → x509 client
certificates → bearer tokens (static token file, service-account JWTs, bootstrap tokens) → anonymous
(when ``--anonymous-auth``).

The token authenticators are also kept on the context (:data:`TOKEN_AUTHENTICATORS_KEY`) for
TokenReview, which judges a token exactly as a request carrying it would be judged.
"""

from __future__ import annotations

from sampan.apiserver.authn import Authenticator
from sampan.apiserver.authn.anonymous import Anonymous, InsecurePort
from sampan.apiserver.authn.bootstrap import BootstrapTokens
from sampan.apiserver.authn.jws import PublicKey, load_public_keys
from sampan.apiserver.authn.lookup import WatchCacheLookup
from sampan.apiserver.authn.options import AuthenticationOptions
from sampan.apiserver.authn.requestheader import RequestHeader
from sampan.apiserver.authn.serviceaccount import ServiceAccountTokens
from sampan.apiserver.authn.static_token import StaticTokens
from sampan.apiserver.authn.tokens import BearerToken, TokenAuthenticator
from sampan.apiserver.authn.x509 import ClientCertificate, load_ca_bundle
from sampan.apiserver.context import ServerContext

TOKEN_AUTHENTICATORS_KEY = "authn-token-authenticators"
"""``ctx.extras`` key: the list of :class:`TokenAuthenticator` the chain uses."""
SERVICE_ACCOUNT_TOKENS_KEY = "authn-service-account-tokens"
"""``ctx.extras`` key: the :class:`ServiceAccountTokens` (TokenReview checks its own audiences)."""


def build_chain(options: AuthenticationOptions, ctx: ServerContext, *, signing_keys: list[PublicKey],
                signing_issuer: str) -> list[Authenticator]:
    """The chain for ``options``; ``signing_keys``/``signing_issuer`` are the TokenRequest signer's (its
    tokens always verify here). ValueError (one line) for unreadable files."""
    chain: list[Authenticator] = [InsecurePort()]
    if options.requestheader is not None:
        chain.append(RequestHeader(options.requestheader, load_ca_bundle(options.requestheader.client_ca_file),
                                   clock=ctx.clock))
    if options.client_ca_file is not None:
        chain.append(ClientCertificate(load_ca_bundle(options.client_ca_file), clock=ctx.clock))
    lookup = WatchCacheLookup(ctx)
    tokens: list[TokenAuthenticator] = []
    if options.token_auth_file is not None:
        tokens.append(StaticTokens.from_file(options.token_auth_file))
    keys = list(signing_keys)
    for path in options.service_account_key_files:
        keys.extend(load_public_keys(path))
    issuers = options.service_account_issuers or (signing_issuer,)
    sa_tokens = ServiceAccountTokens(keys, issuers=issuers, audiences=options.api_audiences or issuers,
                                     lookup=lookup, lookup_service_accounts=options.service_account_lookup,
                                     clock=ctx.clock)
    tokens.append(sa_tokens)
    if options.bootstrap_tokens:
        tokens.append(BootstrapTokens(lookup, clock=ctx.clock))
    chain.append(BearerToken(tokens))
    if options.anonymous:
        chain.append(Anonymous(options.anonymous_paths))
    ctx.extras[TOKEN_AUTHENTICATORS_KEY] = tokens
    ctx.extras[SERVICE_ACCOUNT_TOKENS_KEY] = sa_tokens
    return chain
