"""Registry credentials from ``imagePullSecrets``, matched to images as upstream's credential keyring
(``credentialprovider.BasicDockerKeyring``) matches them.

Secrets of type ``kubernetes.io/dockerconfigjson`` (``.dockerconfigjson``: ``{"auths": {KEY: entry}}``)
and ``kubernetes.io/dockercfg`` (``.dockercfg``: ``{KEY: entry}``) hold entries with ``username``,
``password``, ``auth`` (base64 ``user:password``, used when username/password are absent),
``identitytoken``/``registrytoken``. A KEY is a registry, optionally with a scheme, port and path prefix
(``https://index.docker.io/v1/``, ``127.0.0.1:5000``, ``*.example.com/team``).

Matching an image: the key's host (``*`` globs one dot-separated label) must match the image's registry
host, the ports must be equal (both absent counts), and the key's path must be a prefix of the image's
repository path. Every match is returned, most specific key first; the puller tries them in order.
Docker Hub keys (``index.docker.io``, ``registry-1.docker.io``, ``docker.io`` with a ``/v1/``-style path)
mean ``docker.io``. Entries that cannot be read are skipped (logged), never fatal.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sampan.kubelet.images.reference import DEFAULT_DOMAIN, ImageReference
from sampan.kubelet.runtime.images import RegistryAuth

log = logging.getLogger(__name__)

DOCKER_CONFIG_JSON = "kubernetes.io/dockerconfigjson"
DOCKER_CONFIG = "kubernetes.io/dockercfg"
_HUB_HOSTS = frozenset({"index.docker.io", "registry-1.docker.io", "docker.io"})


@dataclass(frozen=True, slots=True)
class _Key:
    host: str
    port: str
    path: str
    raw: str


def _parse_key(raw: str) -> _Key | None:
    text = raw.strip()
    if not text:
        return None
    parts = urlsplit(text if "://" in text else "https://" + text)
    try:
        port = str(parts.port) if parts.port is not None else ""
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    path = parts.path.strip("/")
    if host in _HUB_HOSTS:
        host = DEFAULT_DOMAIN
        if path in ("v1", "v2"):
            path = ""
    return _Key(host=host, port=port, path=path, raw=raw) if host else None


def _split_host(domain: str) -> tuple[str, str]:
    if domain.startswith("["):
        host, _, port = domain[1:].partition("]")
        return host.lower(), port.lstrip(":")
    host, _, port = domain.partition(":")
    return host.lower(), port


def _host_matches(pattern: str, host: str) -> bool:
    want, have = pattern.split("."), host.split(".")
    return len(want) == len(have) and all(fnmatch.fnmatchcase(h, w) for w, h in zip(want, have, strict=True))


def _matches(key: _Key, ref: ImageReference) -> bool:
    host, port = _split_host(ref.domain)
    if key.port != port or not _host_matches(key.host, host):
        return False
    return not key.path or ref.path == key.path or ref.path.startswith(key.path + "/")


def _entry_auth(key: _Key, entry: Mapping[str, Any]) -> RegistryAuth | None:
    username = str(entry.get("username") or "")
    password = str(entry.get("password") or "")
    auth = str(entry.get("auth") or "")
    if auth and not (username or password):
        try:
            decoded = base64.b64decode(auth, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            log.warning("pull secret entry has an undecodable auth field, skipped registry=%s", key.raw)
            return None
        username, sep, password = decoded.partition(":")
        if not sep:
            log.warning("pull secret entry's auth is not user:password, skipped registry=%s", key.raw)
            return None
    # as upstream's keyring: user and password only, no server address (containerd parses it as a URL, and
    # "127.0.0.1:5000" is none) — the runtime uses the credentials for the registry it pulls from
    return RegistryAuth(username=username, password=password,
                        identity_token=str(entry.get("identitytoken") or ""),
                        registry_token=str(entry.get("registrytoken") or ""))


class DockerKeyring:
    """Credentials by registry key; :meth:`lookup` gives those for one image, most specific first."""

    def __init__(self) -> None:
        self._entries: list[tuple[_Key, RegistryAuth]] = []

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, config: Mapping[str, Any]) -> None:
        """Add every entry of a docker config (``{KEY: entry}``)."""
        for raw, entry in config.items():
            key = _parse_key(str(raw))
            if key is None or not isinstance(entry, Mapping):
                log.warning("pull secret entry is not a registry with credentials, skipped registry=%s", raw)
                continue
            auth = _entry_auth(key, entry)
            if auth is not None:
                self._entries.append((key, auth))

    def lookup(self, ref: ImageReference) -> list[RegistryAuth]:
        found = [(key, auth) for key, auth in self._entries if _matches(key, ref)]
        found.sort(key=lambda ka: (len(ka[0].host) + len(ka[0].path), ka[0].host.count("*") == 0), reverse=True)
        out: list[RegistryAuth] = []
        for _, auth in found:
            if auth not in out:
                out.append(auth)
        return out


def secret_docker_config(secret: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ``{KEY: entry}`` config of a pull secret, or None (wrong type, missing or unreadable data)."""
    data = secret.get("data") or {}
    kind = secret.get("type")
    field = ".dockerconfigjson" if kind == DOCKER_CONFIG_JSON else ".dockercfg" if kind == DOCKER_CONFIG else ""
    if not field or field not in data:
        return None
    try:
        parsed = json.loads(base64.b64decode(str(data[field]), validate=True))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(parsed, dict):
        return None
    if field == ".dockerconfigjson":
        auths = parsed.get("auths")
        return auths if isinstance(auths, dict) else None
    return parsed


def keyring_from_secrets(secrets: Iterable[Mapping[str, Any]]) -> DockerKeyring:
    """One keyring over all of a pod's pull secrets (unreadable ones logged and skipped)."""
    keyring = DockerKeyring()
    for secret in secrets:
        config = secret_docker_config(secret)
        if config is None:
            md = secret.get("metadata") or {}
            log.warning("pull secret is not a readable docker config, skipped secret=%s/%s type=%s",
                        md.get("namespace"), md.get("name"), secret.get("type"))
            continue
        keyring.add(config)
    return keyring
