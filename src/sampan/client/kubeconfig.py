"""Loading a kubeconfig (file, ``KUBECONFIG`` list, contexts) or the in-cluster service-account config.

Rules, as client-go's ``clientcmd``:

- the path is ``--kubeconfig`` if given, else every file in ``KUBECONFIG`` (``os.pathsep``-separated;
  missing files skipped), else ``~/.kube/config``;
- when several files are merged, the first file to define a cluster, user or context name wins, and the
  first non-empty ``current-context`` wins;
- relative file paths inside a kubeconfig are relative to the file that names them;
- ``*-data`` fields are base64; ``tokenFile`` is read on use.

Not supported (the error says so): ``exec`` and ``auth-provider`` credential plugins.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import yaml

from sampan.client.config import ConfigError, RESTConfig

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


class KubeconfigError(ConfigError):
    """A kubeconfig that cannot be used; the message names the file and the entry."""


@dataclass
class _Merged:
    clusters: dict[str, tuple[dict[str, Any], str]] = field(default_factory=dict)
    users: dict[str, tuple[dict[str, Any], str]] = field(default_factory=dict)
    contexts: dict[str, dict[str, Any]] = field(default_factory=dict)
    current_context: str = ""


def kubeconfig_paths(explicit: str | None = None, *, env: Mapping[str, str] | None = None) -> list[str]:
    """The files to read, in precedence order."""
    env = os.environ if env is None else env
    if explicit:
        return [explicit]
    if env.get("KUBECONFIG"):
        return [p for p in env["KUBECONFIG"].split(os.pathsep) if p]
    home = env.get("HOME") or os.path.expanduser("~")
    return [os.path.join(home, ".kube", "config")]


def load_kubeconfig(
    path: str | None = None, *, context: str | None = None, env: Mapping[str, str] | None = None
) -> RESTConfig:
    """The :class:`RESTConfig` of ``context`` (default: current-context) in the kubeconfig at ``path``."""
    paths = kubeconfig_paths(path, env=env)
    merged = _Merged()
    found = False
    for p in paths:
        if not os.path.exists(p):
            if path:
                raise KubeconfigError(f"kubeconfig {p} does not exist")
            continue
        found = True
        _merge(merged, _read(p), p)
    if not found:
        raise KubeconfigError(f"no kubeconfig found (looked at {', '.join(paths)})")
    name = context or merged.current_context
    if not name:
        raise KubeconfigError("kubeconfig has no current-context; pass a context name")
    ctx = merged.contexts.get(name)
    if ctx is None:
        raise KubeconfigError(f"context {name!r} not found in kubeconfig")
    cluster_name, user_name = ctx.get("cluster") or "", ctx.get("user") or ""
    if cluster_name not in merged.clusters:
        raise KubeconfigError(f"context {name!r} refers to cluster {cluster_name!r}, which is not defined")
    cluster, cluster_file = merged.clusters[cluster_name]
    user, user_file = merged.users.get(user_name, ({}, cluster_file))
    if user_name and user_name not in merged.users:
        raise KubeconfigError(f"context {name!r} refers to user {user_name!r}, which is not defined")
    cfg = RESTConfig(host=str(cluster.get("server") or ""), namespace=ctx.get("namespace") or "default")
    return _apply_user(_apply_cluster(cfg, cluster, cluster_file, cluster_name), user, user_file, user_name)


def in_cluster_config(*, env: Mapping[str, str] | None = None, sa_dir: str = SERVICE_ACCOUNT_DIR) -> RESTConfig:
    """Config of a pod: ``KUBERNETES_SERVICE_HOST``/``_PORT`` plus the mounted service-account token and CA."""
    env = os.environ if env is None else env
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        raise ConfigError("not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT unset")
    token_file = os.path.join(sa_dir, "token")
    if not os.path.exists(token_file):
        raise ConfigError(f"not running in a cluster: {token_file} does not exist")
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    ns_file = os.path.join(sa_dir, "namespace")
    namespace = "default"
    if os.path.exists(ns_file):
        with open(ns_file, encoding="utf-8") as f:
            namespace = f.read().strip() or "default"
    ca = os.path.join(sa_dir, "ca.crt")
    return RESTConfig(
        host=f"https://{host}:{port}", bearer_token_file=token_file, ca_file=ca if os.path.exists(ca) else None,
        namespace=namespace,
    )


def load_config(
    path: str | None = None, *, context: str | None = None, env: Mapping[str, str] | None = None
) -> RESTConfig:
    """A kubeconfig if one is given or found; otherwise the in-cluster config."""
    env = os.environ if env is None else env
    if path or env.get("KUBECONFIG") or any(os.path.exists(p) for p in kubeconfig_paths(None, env=env)):
        return load_kubeconfig(path, context=context, env=env)
    return in_cluster_config(env=env)


def _read(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except OSError as e:
        raise KubeconfigError(f"cannot read kubeconfig {path}: {e.strerror}") from e
    except yaml.YAMLError as e:
        raise KubeconfigError(f"kubeconfig {path} is not valid YAML: {e}") from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise KubeconfigError(f"kubeconfig {path} is not a mapping")
    return data


def _merge(merged: _Merged, data: dict[str, Any], path: str) -> None:
    for section, single, target in (("clusters", "cluster", merged.clusters), ("users", "user", merged.users)):
        for entry in _entries(data, section, path):
            name = entry.get("name")
            body = entry.get(single) or {}
            if not isinstance(name, str) or not isinstance(body, dict):
                raise KubeconfigError(f"kubeconfig {path}: malformed entry in {section}")
            target.setdefault(name, (body, path))
    for entry in _entries(data, "contexts", path):
        name, body = entry.get("name"), entry.get("context") or {}
        if not isinstance(name, str) or not isinstance(body, dict):
            raise KubeconfigError(f"kubeconfig {path}: malformed entry in contexts")
        merged.contexts.setdefault(name, body)
    if not merged.current_context and isinstance(data.get("current-context"), str):
        merged.current_context = data["current-context"]


def _entries(data: dict[str, Any], section: str, path: str) -> list[dict[str, Any]]:
    entries = data.get(section) or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise KubeconfigError(f"kubeconfig {path}: {section} must be a list of mappings")
    return entries


def _b64(value: Any, what: str) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError) as e:
        raise KubeconfigError(f"{what} is not valid base64") from e


def _rel(path: str | None, base_file: str) -> str | None:
    if not path:
        return None
    path = os.path.expanduser(path)
    return path if os.path.isabs(path) else os.path.join(os.path.dirname(os.path.abspath(base_file)), path)


def _apply_cluster(cfg: RESTConfig, cluster: dict[str, Any], path: str, name: str) -> RESTConfig:
    ca_data = cluster.get("certificate-authority-data")
    return replace(
        cfg,
        ca_data=_b64(ca_data, f"cluster {name!r} certificate-authority-data") if ca_data else None,
        ca_file=_rel(cluster.get("certificate-authority"), path),
        insecure=bool(cluster.get("insecure-skip-tls-verify", False)),
        tls_server_name=cluster.get("tls-server-name"),
    )


def _apply_user(cfg: RESTConfig, user: dict[str, Any], path: str, name: str) -> RESTConfig:
    for plugin in ("exec", "auth-provider"):
        if user.get(plugin):
            raise KubeconfigError(f"user {name!r} uses an {plugin} credential plugin, which sampan does not support")
    cert, key = user.get("client-certificate-data"), user.get("client-key-data")
    return replace(
        cfg,
        bearer_token=user.get("token"),
        bearer_token_file=_rel(user.get("tokenFile"), path),
        username=user.get("username"),
        password=user.get("password"),
        cert_data=_b64(cert, f"user {name!r} client-certificate-data") if cert else None,
        key_data=_b64(key, f"user {name!r} client-key-data") if key else None,
        cert_file=_rel(user.get("client-certificate"), path),
        key_file=_rel(user.get("client-key"), path),
    )
