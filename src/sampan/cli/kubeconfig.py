"""``sampan kubeconfig``: print a kubeconfig that points kubectl and client libraries at an API server.

No credentials: for plain-HTTP servers (``sampan apiserver --insecure-port``, ``sampan up --insecure``).
``sampan up`` writes kubeconfigs with certificates itself (:mod:`sampan.cli.pki`).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import yaml

DEFAULT_SERVER = "http://127.0.0.1:6443"


def kubeconfig(server: str, *, name: str = "sampan", namespace: str = "default") -> dict[str, Any]:
    """The kubeconfig document: one cluster, one (anonymous) user, one context, selected."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": name, "cluster": {"server": server}}],
        "users": [{"name": name, "user": {}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name, "namespace": namespace}}],
        "current-context": name,
    }


def render_kubeconfig(server: str, *, name: str = "sampan", namespace: str = "default") -> str:
    return yaml.safe_dump(kubeconfig(server, name=name, namespace=namespace), sort_keys=False)


def _run(args: argparse.Namespace) -> int:
    server = args.server
    if not server.startswith(("http://", "https://")):
        raise ValueError(f"--server must be an http:// or https:// URL, got {server!r}")
    text = render_kubeconfig(server.rstrip("/"), name=args.name, namespace=args.namespace)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("kubeconfig", help="print a kubeconfig for a sampan API server")
    p.add_argument("--server", default=DEFAULT_SERVER, help=f"API server URL (default {DEFAULT_SERVER})")
    p.add_argument("--name", default="sampan", help="cluster, user and context name (default sampan)")
    p.add_argument("--namespace", default="default", help="the context's namespace (default default)")
    p.add_argument("-o", "--output", default="", help="write to this file instead of stdout")
    p.set_defaults(handler=_run)
