"""``sampan apiserver``'s aggregation-layer flags: request-header authentication (``--requestheader-*``)
and the front-proxy client certificate (``--proxy-client-cert-file``/``--proxy-client-key-file``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sampan.apiserver.authn.requestheader import RequestHeaderOptions


def _list(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def add_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--requestheader-client-ca-file", default="", metavar="FILE",
                   help="CAs of authenticating proxies whose X-Remote-User headers are believed")
    p.add_argument("--requestheader-allowed-names", default="", metavar="NAMES",
                   help="comma-separated common names such a proxy may have (default: any)")
    p.add_argument("--requestheader-username-headers", default="X-Remote-User", metavar="HEADERS")
    p.add_argument("--requestheader-group-headers", default="X-Remote-Group", metavar="HEADERS")
    p.add_argument("--requestheader-extra-headers-prefix", default="X-Remote-Extra-", metavar="PREFIXES")
    p.add_argument("--proxy-client-cert-file", default="", metavar="FILE",
                   help="client certificate the aggregation layer presents to extension API servers")
    p.add_argument("--proxy-client-key-file", default="", metavar="FILE", help="its key")


def requestheader_options(args: argparse.Namespace) -> RequestHeaderOptions | None:
    from sampan.apiserver.authn.requestheader import RequestHeaderOptions

    if not args.requestheader_client_ca_file:
        return None
    return RequestHeaderOptions(client_ca_file=Path(args.requestheader_client_ca_file),
                                allowed_names=_list(args.requestheader_allowed_names),
                                username_headers=_list(args.requestheader_username_headers),
                                group_headers=_list(args.requestheader_group_headers),
                                extra_headers_prefix=_list(args.requestheader_extra_headers_prefix))


def proxy_client_fields(args: argparse.Namespace) -> dict[str, Any]:
    if bool(args.proxy_client_cert_file) != bool(args.proxy_client_key_file):
        raise ValueError("--proxy-client-cert-file and --proxy-client-key-file go together")
    if not args.proxy_client_cert_file:
        return {}
    return {"proxy_client_cert_file": Path(args.proxy_client_cert_file),
            "proxy_client_key_file": Path(args.proxy_client_key_file)}
