"""``sampan token create``: a bootstrap token for joining nodes, as ``kubeadm token create``.

Creates Secret ``kube-system/bootstrap-token-<id>`` (type ``bootstrap.kubernetes.io/token``; ``token-id``,
``token-secret``, ``expiration``, ``usage-bootstrap-authentication``/``-signing``, ``auth-extra-groups:
system:bootstrappers:kubeadm:default-node-token``) and makes sure kubeadm's bindings exist, so a kubelet
holding the token can join (``sampan kubelet --bootstrap-kubeconfig``):

* ``kubeadm:kubelet-bootstrap`` — ``system:node-bootstrapper`` (create/get/list/watch CSRs) for the group;
* ``kubeadm:node-autoapprove-bootstrap`` — ``…:certificatesigningrequests:nodeclient`` for the group, so
  the controller-manager's csrapproving controller approves the node's first certificate;
* ``kubeadm:node-autoapprove-certificate-rotation`` — ``…:selfnodeclient`` for ``system:nodes`` (renewals).

Prints ``<id>.<secret>``; ``--bootstrap-kubeconfig FILE`` also writes a kubeconfig with the token and the
admin kubeconfig's server and CA, ready for ``sampan kubelet --bootstrap-kubeconfig FILE``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import secrets
import string
import sys
from typing import Any

DEFAULT_GROUP = "system:bootstrappers:kubeadm:default-node-token"
_ALPHABET = string.ascii_lowercase + string.digits
RBAC = "rbac.authorization.k8s.io"
CSR_ROLE = "system:certificates.k8s.io:certificatesigningrequests:"
BINDINGS = (
    ("kubeadm:kubelet-bootstrap", "system:node-bootstrapper", DEFAULT_GROUP),
    ("kubeadm:node-autoapprove-bootstrap", f"{CSR_ROLE}nodeclient", DEFAULT_GROUP),
    ("kubeadm:node-autoapprove-certificate-rotation", f"{CSR_ROLE}selfnodeclient", "system:nodes"),
)


def new_token() -> tuple[str, str]:
    """A token id (6 characters) and secret (16), from ``[a-z0-9]`` as bootstrap tokens require."""
    return ("".join(secrets.choice(_ALPHABET) for _ in range(6)),
            "".join(secrets.choice(_ALPHABET) for _ in range(16)))


def token_secret(token_id: str, secret: str, *, expiration: str, description: str, groups: str) -> dict[str, Any]:
    data = {"token-id": token_id, "token-secret": secret, "usage-bootstrap-authentication": "true",
            "usage-bootstrap-signing": "true", "auth-extra-groups": groups, "description": description}
    if expiration:
        data["expiration"] = expiration
    return {"apiVersion": "v1", "kind": "Secret", "type": "bootstrap.kubernetes.io/token",
            "metadata": {"name": f"bootstrap-token-{token_id}", "namespace": "kube-system"},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


def _binding(name: str, role: str, group: str) -> dict[str, Any]:
    return {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRoleBinding", "metadata": {"name": name},
            "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "Group", "apiGroup": RBAC, "name": group}]}


def bootstrap_kubeconfig_text(config: Any, token: str) -> str:
    """A kubeconfig for ``config``'s server and CA (a :class:`sampan.client.RESTConfig`) with ``token``."""
    import yaml

    cluster: dict[str, Any] = {"server": config.host}
    if config.ca_data:
        cluster["certificate-authority-data"] = base64.b64encode(config.ca_data).decode()
    elif config.ca_file:
        cluster["certificate-authority"] = config.ca_file
    doc = {"apiVersion": "v1", "kind": "Config",
           "clusters": [{"name": "sampan", "cluster": cluster}],
           "users": [{"name": "tls-bootstrap-token-user", "user": {"token": token}}],
           "contexts": [{"name": "tls-bootstrap-token-user@sampan",
                         "context": {"cluster": "sampan", "user": "tls-bootstrap-token-user"}}],
           "current-context": "tls-bootstrap-token-user@sampan"}
    return yaml.safe_dump(doc, sort_keys=False)


async def _create(args: argparse.Namespace) -> str:
    import time

    from sampan.api import errors, humanize
    from sampan.client import Client, load_config

    config = load_config(args.kubeconfig or None)
    token_id, secret = new_token()
    ttl = args.ttl
    expiration = humanize.format_rfc3339(time.time() + ttl) if ttl > 0 else ""
    async with Client(config) as client:
        secrets_api = await client.resource("v1", "secrets")
        await secrets_api.create(token_secret(token_id, secret, expiration=expiration, description=args.description,
                                              groups=args.groups))
        bindings = await client.resource(f"{RBAC}/v1", "clusterrolebindings")
        for name, role, group in BINDINGS:
            try:
                await bindings.create(_binding(name, role, group))
            except errors.AlreadyExists:
                pass
    token = f"{token_id}.{secret}"
    if args.bootstrap_kubeconfig:
        _write_private(args.bootstrap_kubeconfig, bootstrap_kubeconfig_text(config, token))
    return token


def _write_private(path: str, text: str) -> None:
    """``text`` to ``path``, mode 0600 (it holds a credential)."""
    from pathlib import Path

    from sampan._lib.pki import write_atomic

    write_atomic(Path(path), text.encode(), private=True)


def _run(args: argparse.Namespace) -> int:
    from sampan._lib.durations import parse_duration

    try:
        args.ttl = parse_duration(args.ttl_text)
    except ValueError:
        raise ValueError(f"--ttl: invalid duration {args.ttl_text!r}") from None
    sys.stdout.write(asyncio.run(_create(args)) + "\n")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("token", help="bootstrap tokens for joining nodes (as kubeadm token)")
    tsub = p.add_subparsers(dest="token_command", required=True)
    c = tsub.add_parser("create", help="create a bootstrap token and print it")
    c.add_argument("--kubeconfig", default="", help="an admin kubeconfig (default: $KUBECONFIG, ~/.kube/config)")
    c.add_argument("--ttl", dest="ttl_text", default="24h", help="token lifetime (default 24h; 0: never expires)")
    c.add_argument("--description", default="sampan bootstrap token", help="the token's description")
    c.add_argument("--groups", default=DEFAULT_GROUP, help=f"extra groups of the token (default {DEFAULT_GROUP})")
    c.add_argument("--bootstrap-kubeconfig", default="",
                   help="also write a kubeconfig with this token, for sampan kubelet --bootstrap-kubeconfig")
    c.set_defaults(handler=_run)
