"""``sampan apiserver``: run the API server in the foreground until SIGINT/SIGTERM.

Flags keep kube-apiserver's names where it has the same knob. By default the server speaks HTTPS on
``--secure-port`` (6443) and authenticates every request (:mod:`sampan.apiserver.authn`); without
``--tls-cert-file`` it makes a self-signed serving certificate under ``--cert-dir``, as upstream.
``--insecure-port PORT`` adds plain HTTP on 127.0.0.1 where every request is the insecure admin
(``0`` picks a free port); ``--secure-port 0`` turns HTTPS off. ``--port N`` is sampan's older spelling of
``--insecure-port N --secure-port 0``. Plain HTTP beyond loopback is refused (one line, exit code 2).
With HTTPS off, ``--token-auth-file`` still authenticates the bearer tokens it lists (a request without one
stays the insecure admin), so API Priority and Fairness sees who sent each request without TLS's cost
(the density benchmark's ``--http-identities``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sampan._lib.durations import parse_duration
from sampan.cli import apiserver_audit, apiserver_frontproxy

if TYPE_CHECKING:
    from sampan.apiserver.config import APIServerConfig

log = logging.getLogger(__name__)

BACKENDS = ("sqlite", "etcd", "memory")


def _bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {text!r}")
OFF_BY_DEFAULT = ("ServiceAccount",)
"""Plugins a bare ``sampan apiserver`` does not run unless enabled: without a serviceaccount controller no
``default`` account exists and ServiceAccount would refuse every pod (controller-runtime's envtest turns
it off for the same reason). ``sampan up``, which runs the controller-manager, enables it."""


def admission_plugins_off(enable: str, disable: str) -> tuple[str, ...]:
    """The plugins not to run: :data:`OFF_BY_DEFAULT` (or ``--disable-admission-plugins`` when given)
    minus ``--enable-admission-plugins``. ValueError for an unknown name or one named in both."""
    from sampan.apiserver.admission.chain import FACTORIES, ORDER

    def names(text: str, flag: str) -> set[str]:
        out = {n.strip() for n in text.split(",") if n.strip()}
        unknown = sorted(n for n in out if n not in ORDER)
        if unknown:
            raise ValueError(f"{flag}: unknown admission plugin(s) {', '.join(unknown)}; "
                             f"known: {', '.join(n for n in ORDER if n in FACTORIES)}")
        return out

    on, off = names(enable, "--enable-admission-plugins"), names(disable, "--disable-admission-plugins")
    if on & off:
        raise ValueError(f"admission plugins both enabled and disabled: {', '.join(sorted(on & off))}")
    chosen = (off or set(OFF_BY_DEFAULT)) - on
    return tuple(n for n in ORDER if n in chosen)


def config_from_args(args: argparse.Namespace) -> APIServerConfig:
    """The server options the flags describe; ValueError (one line) for bad values."""
    from sampan.apiserver.authz import parse_modes
    from sampan.apiserver.config import APIServerConfig, StorageOptions

    servers = tuple(s.strip() for s in (args.etcd_servers or "").split(",") if s.strip())
    if args.storage == "etcd" and not servers:
        raise ValueError("--storage etcd needs --etcd-servers")
    etcd_tls_files = (args.etcd_cafile, args.etcd_certfile, args.etcd_keyfile)
    if any(etcd_tls_files) and not all(etcd_tls_files):
        raise ValueError("--etcd-cafile, --etcd-certfile and --etcd-keyfile go together")
    etcd_tls = etcd_tls_files if all(etcd_tls_files) else None
    compaction = parse_duration(args.etcd_compaction_interval)
    bookmark = parse_duration(args.watch_bookmark_interval)
    if args.encryption_provider_config:
        from sampan.apiserver.encryption.config import load

        load(args.encryption_provider_config)  # a bad file is a one-line error now, not at the first write
    serving = _serving(args)
    from sampan.apiserver.config import COMPONENT_STATUS_SERVERS

    components = dict(COMPONENT_STATUS_SERVERS)
    for item in args.component_status_server:
        name, sep, url = item.partition("=")
        if not sep or not name or not url.startswith(("http://", "https://")):
            raise ValueError(f"--component-status-server: want NAME=http(s)://..., got {item!r}")
        components[name] = url
    return APIServerConfig(
        **serving,
        storage=StorageOptions(backend=args.storage, data_dir=Path(args.data_dir), etcd_servers=servers,
                               etcd_tls=etcd_tls, shared=args.shared_store and args.storage == "sqlite"),
        default_watch_cache_size=args.default_watch_cache_size,
        compaction_interval=compaction,
        bookmark_interval=bookmark,
        min_request_timeout=float(args.min_request_timeout),
        service_cluster_ip_range=args.service_cluster_ip_range,
        service_node_port_range=args.service_node_port_range,
        advertise_address=args.advertise_address,
        encryption_provider_config=args.encryption_provider_config,
        audit=apiserver_audit.options_from_args(args),
        authorization_modes=parse_modes(args.authorization_mode) if args.authorization_mode else (),
        enable_priority_and_fairness=args.enable_priority_and_fairness,
        max_requests_inflight=args.max_requests_inflight,
        max_mutating_requests_inflight=args.max_mutating_requests_inflight,
        disable_admission_plugins=admission_plugins_off(args.enable_admission_plugins, args.disable_admission_plugins),
        component_status_servers=components,
    )


def _serving(args: argparse.Namespace) -> dict[str, Any]:
    """The listener, TLS and authentication fields of the config."""
    from sampan.apiserver.authn.options import AuthenticationOptions
    from sampan.apiserver.config import KubeletClientOptions, SecureServing

    secure_port = args.secure_port if args.secure_port is not None else (0 if args.port is not None else 6443)
    insecure_port = args.insecure_port if args.insecure_port is not None else args.port
    kubelet = KubeletClientOptions(cert_file=_path(args.kubelet_client_certificate),
                                   key_file=_path(args.kubelet_client_key),
                                   ca_file=_path(args.kubelet_certificate_authority))
    common: dict[str, Any] = {"kubelet_client": kubelet,
                              "service_account_signing_key_file": _path(args.service_account_signing_key_file),
                              "service_account_issuer": (args.service_account_issuer or [""])[0],
                              **apiserver_frontproxy.proxy_client_fields(args)}
    if secure_port == 0:
        if insecure_port is None:
            raise ValueError("--secure-port 0 turns HTTPS off: give --insecure-port to serve anything")
        plain: dict[str, Any] = {**common, "bind_address": args.bind_address, "port": insecure_port}
        if args.token_auth_file:  # plain HTTP with identities: see apiserver.app._default_chain
            plain["authentication"] = AuthenticationOptions(token_auth_file=Path(args.token_auth_file))
        return plain
    if bool(args.tls_cert_file) != bool(args.tls_private_key_file):
        raise ValueError("--tls-cert-file and --tls-private-key-file go together")
    if args.tls_cert_file:
        cert, key = Path(args.tls_cert_file), Path(args.tls_private_key_file)
    else:
        cert, key = _self_signed(Path(args.cert_dir or Path(args.data_dir) / "pki"), args)
    authentication = AuthenticationOptions(
        client_ca_file=_path(args.client_ca_file), token_auth_file=_path(args.token_auth_file),
        service_account_key_files=tuple(Path(p) for p in args.service_account_key_file or ()),
        service_account_issuers=tuple(args.service_account_issuer or ()),
        api_audiences=tuple(a for a in (args.api_audiences or "").split(",") if a),
        anonymous=args.anonymous_auth == "true", requestheader=apiserver_frontproxy.requestheader_options(args))
    return {**common, "bind_address": args.bind_address, "port": secure_port,
            "tls": SecureServing(cert_file=cert, key_file=key, client_ca_file=_path(args.client_ca_file)),
            "insecure_port": insecure_port, "authentication": authentication}


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def _self_signed(cert_dir: Path, args: argparse.Namespace) -> tuple[Path, Path]:
    """kube-apiserver's ``--cert-dir`` behaviour: a self-signed serving certificate, made once."""
    from sampan._lib.pki import self_signed_serving
    from sampan.cli.pki import apiserver_serving_spec

    cert, key = cert_dir / "apiserver-self-signed.crt", cert_dir / "apiserver-self-signed.key"
    extra_ips = [args.bind_address] if args.bind_address not in ("0.0.0.0", "::", "127.0.0.1") else []
    if args.advertise_address:
        extra_ips.append(args.advertise_address)
    self_signed_serving(apiserver_serving_spec(service_cidr=args.service_cluster_ip_range, extra_ips=extra_ips),
                        cert_path=cert, key_path=key)
    return cert, key


async def _serve(config: APIServerConfig) -> None:
    from sampan.apiserver.app import APIServer
    from sampan.cli.signals import run_until_signalled

    await run_until_signalled(APIServer(config).run(), name="apiserver")
    log.info("apiserver stopped")


def _run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    if args.workers < 1:
        raise ValueError("--workers must be at least 1")
    if args.workers > 1:
        from sampan.cli import apiserver_workers

        apiserver_workers.worker_config(config, workers=args.workers)  # refuses a store workers cannot share
        return apiserver_workers.run(config, workers=args.workers)
    from sampan.storage.errors import Unavailable

    try:
        asyncio.run(_serve(config))
    except Unavailable as exc:  # the store never answered: one line, not a traceback
        print(f"sampan apiserver: storage unavailable: {exc}", file=sys.stderr)
        return 1
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("apiserver", help="run the Kubernetes API server")
    p.add_argument("--data-dir", default=".sampan", help="where the sqlite store lives (default .sampan)")
    p.add_argument("--bind-address", default="127.0.0.1",
                   help="HTTPS listen address, e.g. 0.0.0.0 (default 127.0.0.1)")
    p.add_argument("--secure-port", type=int, default=None, help="HTTPS port; 0 turns HTTPS off (default 6443)")
    p.add_argument("--insecure-port", type=int, default=None,
                   help="also serve plain HTTP on 127.0.0.1:PORT, every request an admin; 0 picks a free port")
    p.add_argument("--port", type=int, default=None,
                   help="same as --insecure-port PORT --secure-port 0 (sampan's older spelling)")
    p.add_argument("--tls-cert-file", default="", help="serving certificate (PEM, then intermediates)")
    p.add_argument("--tls-private-key-file", default="", help="the serving certificate's key")
    p.add_argument("--cert-dir", default="",
                   help="where a self-signed serving certificate goes without --tls-cert-file (default <data-dir>/pki)")
    p.add_argument("--client-ca-file", default="",
                   help="CAs whose client certificates authenticate (CN user, O groups)")
    p.add_argument("--token-auth-file", default="",
                   help='static bearer tokens, CSV: token,user,uid,"group1,group2"')
    p.add_argument("--service-account-key-file", action="append",
                   help="PEM keys verifying service-account tokens (repeatable)")
    p.add_argument("--service-account-signing-key-file", default="",
                   help="private key signing service-account tokens")
    p.add_argument("--service-account-issuer", action="append",
                   help="iss of service-account tokens; the first one signs (repeatable)")
    p.add_argument("--api-audiences", default="", help="comma-separated audiences tokens must name (default: issuers)")
    p.add_argument("--anonymous-auth", choices=("true", "false"), default="true",
                   help="requests without credentials are system:anonymous on health paths (default true)")
    p.add_argument("--kubelet-client-certificate", default="", help="client certificate towards kubelets")
    p.add_argument("--kubelet-client-key", default="", help="its key")
    p.add_argument("--kubelet-certificate-authority", default="", help="CA verifying kubelets' serving certificates")
    p.add_argument("--storage", choices=BACKENDS, default="sqlite", help="storage backend (default sqlite)")
    p.add_argument("--enable-admission-plugins", default="", metavar="NAMES",
                   help="admission plugins to run besides the defaults (all but ServiceAccount run by default)")
    p.add_argument("--disable-admission-plugins", default="", metavar="NAMES",
                   help="comma-separated admission plugins to turn off (default: ServiceAccount)")
    p.add_argument("--encryption-provider-config", default="", metavar="FILE",
                   help="EncryptionConfiguration: encrypt these resources at rest (aesgcm, aescbc, secretbox)")
    apiserver_audit.add_flags(p)
    apiserver_frontproxy.add_flags(p)
    p.add_argument("--etcd-servers", default="", help="comma-separated etcd client URLs, for --storage etcd")
    p.add_argument("--component-status-server", action="append", default=[], metavar="NAME=URL",
                   help="a component `kubectl get componentstatuses` probes (its /healthz URL); replaces the "
                        "default of that name (scheduler: 127.0.0.1:10259, controller-manager: 127.0.0.1:10257)")
    p.add_argument("--etcd-cafile", default="", help="the CA of https etcd members (with --etcd-certfile/keyfile)")
    p.add_argument("--etcd-certfile", default="", help="client certificate towards etcd (PEM)")
    p.add_argument("--etcd-keyfile", default="", help="client key towards etcd (PEM)")
    p.add_argument("--default-watch-cache-size", type=int, default=1000,
                   help="recent events kept per resource for watch resumption (default 1000)")
    p.add_argument("--etcd-compaction-interval", default="5m",
                   help="how often to compact the store, e.g. 5m; 0 disables (default 5m)")
    p.add_argument("--watch-bookmark-interval", default="1m",
                   help="how often watchers that allow bookmarks get one (default 1m)")
    p.add_argument("--min-request-timeout", type=int, default=1800,
                   help="seconds; watches without timeoutSeconds end after a random time in [this, 2x] "
                   "(default 1800)")
    p.add_argument("--service-cluster-ip-range", default="100.96.0.0/16",
                   help="CIDR of Service cluster IPs; .1 is the kubernetes Service, .10 kept for DNS "
                   "(default 100.96.0.0/16)")
    p.add_argument("--service-node-port-range", default="30000-32767",
                   help="node ports of NodePort/LoadBalancer Services (default 30000-32767)")
    p.add_argument("--advertise-address", default="",
                   help="address the kubernetes Service's endpoints list for this server (default: bind address)")
    p.add_argument("--authorization-mode", default="",
                   help="ordered authorizers: comma-separated AlwaysAllow, AlwaysDeny, Node, RBAC (default: "
                   "Node,RBAC when requests are authenticated, AlwaysAllow on the insecure port)")
    p.add_argument("--enable-priority-and-fairness", type=_bool, nargs="?", const=True, default=True,
                   help="API Priority and Fairness; false: the plain max-in-flight limiter (default true)")
    p.add_argument("--max-requests-inflight", type=int, default=400,
                   help="read-only requests in flight (without APF) / part of APF's seats (default 400)")
    p.add_argument("--max-mutating-requests-inflight", type=int, default=200,
                   help="mutating requests in flight (without APF) / the rest of APF's seats (default 200)")
    p.add_argument("--shared-store", action="store_true",
                   help="sqlite: open state.db as one of several API server processes sharing it (what "
                        "--workers does; lets separate servers on their own ports share one store)")
    p.add_argument("--workers", type=int, default=1,
                   help="API server processes serving the same port over the same store (SO_REUSEPORT; "
                        "--storage sqlite or etcd; in-flight limits are split between them) (default 1)")
    p.set_defaults(handler=_run)
