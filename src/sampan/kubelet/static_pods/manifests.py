"""Read static pod manifests from a directory, as upstream's file source does.

One pod per file, YAML or JSON (``kind: Pod``); files whose name starts with ``.`` and subdirectories are
skipped; a file that does not parse or is not a valid pod is logged and skipped (the others still run).
Each pod gets upstream's defaults (``pkg/kubelet/config/common.go``):

* ``metadata.name`` becomes ``<name>-<node name>``, ``metadata.namespace`` defaults to ``default``;
* ``metadata.uid`` (unless the file sets one) is a hash of the node name, the file's path and the pod as
  written, so the same file always gives the same uid (a restarted kubelet re-adopts its containers) and a
  changed file gives a new one (the pod is replaced);
* ``spec.nodeName`` is the node; a toleration of every ``NoExecute`` taint is added;
* annotations ``kubernetes.io/config.hash`` (= the uid), ``kubernetes.io/config.source: file`` and
  ``kubernetes.io/config.seen`` (when this kubelet first saw that uid; set by :class:`StaticPodFiles`).

Everything here is pure except :func:`read_directory`, which only reads files.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger(__name__)

CONFIG_HASH = "kubernetes.io/config.hash"
CONFIG_SOURCE = "kubernetes.io/config.source"
CONFIG_SEEN = "kubernetes.io/config.seen"
CONFIG_MIRROR = "kubernetes.io/config.mirror"
SOURCE_FILE = "file"
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class ManifestError(ValueError):
    """A manifest file that cannot become a static pod (one line, naming the file)."""


def is_static(pod: Mapping[str, Any]) -> bool:
    """A pod read from a file by this kubelet (not one from the API)."""
    return ((pod.get("metadata") or {}).get("annotations") or {}).get(CONFIG_SOURCE) == SOURCE_FILE and not \
        is_mirror(pod)


def is_mirror(pod: Mapping[str, Any]) -> bool:
    """A mirror pod: the API's view of some kubelet's static pod."""
    return CONFIG_MIRROR in (((pod.get("metadata") or {}).get("annotations")) or {})


def config_hash(pod: Mapping[str, Any]) -> str:
    return str((((pod.get("metadata") or {}).get("annotations")) or {}).get(CONFIG_HASH, ""))


def full_name(pod: Mapping[str, Any]) -> str:
    """``namespace/name``, the key a static pod and its mirror pod share."""
    md = pod.get("metadata") or {}
    return f"{md.get('namespace') or 'default'}/{md.get('name', '')}"


def _hash(node_name: str, source: str, pod: Mapping[str, Any]) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    digest.update(f"host:{node_name}".encode())
    digest.update(f"file:{source}".encode())
    digest.update(json.dumps(pod, sort_keys=True, separators=(",", ":"), default=str).encode())
    return digest.hexdigest()


def decode(text: str, *, source: str) -> dict[str, Any]:
    """The one pod a manifest holds (YAML or JSON); ManifestError otherwise."""
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as err:
        raise ManifestError(f"{source}: not YAML or JSON: {str(err).splitlines()[0]}") from None
    if len(docs) != 1:
        raise ManifestError(f"{source}: want exactly one pod per file, found {len(docs)} documents")
    pod = docs[0]
    if not isinstance(pod, dict) or pod.get("kind") != "Pod" or pod.get("apiVersion") not in ("v1", None):
        raise ManifestError(f"{source}: not a v1 Pod")
    md, spec = pod.get("metadata"), pod.get("spec")
    if not isinstance(md, dict) or not isinstance(md.get("name"), str) or not md["name"]:
        raise ManifestError(f"{source}: metadata.name is required")
    if not isinstance(spec, dict) or not isinstance(spec.get("containers"), list) or not spec["containers"]:
        raise ManifestError(f"{source}: spec.containers must list at least one container")
    for c in spec["containers"] + list(spec.get("initContainers") or []):
        if not isinstance(c, dict) or not isinstance(c.get("name"), str) or not c["name"]:
            raise ManifestError(f"{source}: every container needs a name")
    return pod


@functools.lru_cache(maxsize=64)
def _decode_unchanged(text: str, source: str) -> dict[str, Any]:
    """:func:`decode`, remembered for a manifest whose text has not changed since the last read (the
    directory is re-read every ``file_check_frequency`` and whenever a mirror pod changes; parsing the
    control plane's manifests with PyYAML was most of an idle node kubelet's CPU). Callers must not
    mutate the result (:func:`apply_defaults` copies it)."""
    return decode(text, source=source)


def apply_defaults(pod: Mapping[str, Any], *, node_name: str, source: str) -> dict[str, Any]:
    """The static pod a decoded manifest describes on ``node_name`` (without ``config.seen``)."""
    out: dict[str, Any] = copy.deepcopy(dict(pod))
    out.setdefault("apiVersion", "v1")
    md = out["metadata"]
    uid = str(md.get("uid") or _hash(node_name, source, pod))
    md["uid"] = uid
    md["name"] = f"{md['name']}-{node_name.lower()}"
    md["namespace"] = md.get("namespace") or "default"
    if not _DNS1123_SUBDOMAIN.match(md["name"]) or len(md["name"]) > 253:
        raise ManifestError(f"{source}: pod name {md['name']!r} is not a valid DNS-1123 subdomain")
    md["annotations"] = {**(md.get("annotations") or {}), CONFIG_HASH: uid, CONFIG_SOURCE: SOURCE_FILE}
    spec = out["spec"]
    spec["nodeName"] = node_name
    tolerations = list(spec.get("tolerations") or [])
    everything = {"operator": "Exists", "effect": "NoExecute"}
    if everything not in tolerations:
        tolerations.append(everything)
    spec["tolerations"] = tolerations
    out.pop("status", None)
    return out


@dataclass(frozen=True, slots=True)
class DirectoryRead:
    """What one pass over the manifest directory found: pods by uid, and one line per skipped file."""

    pods: dict[str, dict[str, Any]]
    errors: tuple[str, ...]


def read_directory(path: Path, *, node_name: str) -> DirectoryRead:
    """Every static pod in ``path`` (a missing directory holds none). Two files naming the same pod: the
    first by file name wins, as upstream keeps one pod per full name."""
    pods: dict[str, dict[str, Any]] = {}
    names: set[str] = set()
    problems: list[str] = []
    try:
        entries = sorted(path.iterdir())
    except FileNotFoundError:
        return DirectoryRead({}, ())
    except OSError as err:
        return DirectoryRead({}, (f"{path}: {err.strerror or err}",))
    for entry in entries:
        if entry.name.startswith(".") or not entry.is_file():
            continue
        source = str(entry)
        try:
            pod = apply_defaults(_decode_unchanged(entry.read_text(), source), node_name=node_name, source=source)
        except (ManifestError, OSError, UnicodeDecodeError) as err:
            problems.append(str(err))
            continue
        if full_name(pod) in names:
            problems.append(f"{source}: another manifest already defines pod {full_name(pod)}")
            continue
        names.add(full_name(pod))
        pods[pod["metadata"]["uid"]] = pod
    return DirectoryRead(pods, tuple(problems))
