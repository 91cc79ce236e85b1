"""Reading an EncryptionConfiguration (apiserver.config.k8s.io/v1) and resolving it to store prefixes.

``resources`` names are upstream's: ``secrets`` (core), ``deployments.apps``, ``*.apps`` (a whole group),
``*.`` (the core group) and ``*.*`` (everything, custom resources too; it must come last). Each entry's
``providers`` are ``aesgcm``/``aescbc``/``secretbox`` (``keys``: ``name`` + base64 ``secret``) and
``identity``; ``kms`` is refused. Every error is one line naming the file and the field.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sampan.apiserver.encryption.providers import (
    AESCBCTransformer,
    AESGCMTransformer,
    Identity,
    SecretboxTransformer,
    Transformer,
)

API_VERSIONS = ("apiserver.config.k8s.io/v1", "apiserver.config.k8s.io/v1beta1")
KEYED: dict[str, Callable[[str, bytes], Transformer]] = {
    "aesgcm": AESGCMTransformer, "aescbc": AESCBCTransformer, "secretbox": SecretboxTransformer}


class EncryptionConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Rule:
    """One ``resources`` entry: what it matches and its providers (the first encrypts)."""

    group: str | None
    """None: any group (``*.*``)."""
    resource: str | None
    """None: any resource of ``group``."""
    providers: tuple[Transformer, ...]

    def matches(self, group: str, resource: str) -> bool:
        return (self.group is None or self.group == group) and (self.resource is None or self.resource == resource)


def _parse_name(text: str, where: str) -> tuple[str | None, str | None]:
    if text == "*.*":
        return None, None
    resource, _, group = text.partition(".")
    if not resource:
        raise EncryptionConfigError(f"{where}: invalid resource {text!r}")
    return group, (None if resource == "*" else resource)


def _providers(raw: Any, where: str) -> tuple[Transformer, ...]:
    if not isinstance(raw, list) or not raw:
        raise EncryptionConfigError(f"{where}.providers: at least one provider is required")
    out: list[Transformer] = []
    for i, entry in enumerate(raw):
        here = f"{where}.providers[{i}]"
        if not isinstance(entry, dict) or len(entry) != 1:
            raise EncryptionConfigError(f"{here}: exactly one provider type must be set")
        [(kind, body)] = entry.items()
        if kind == "identity":
            out.append(Identity())
            continue
        if kind not in KEYED:
            raise EncryptionConfigError(f"{here}: provider {kind!r} is not supported "
                                        "(aesgcm, aescbc, secretbox, identity)")
        keys = (body or {}).get("keys") if isinstance(body, dict) else None
        if not isinstance(keys, list) or not keys:
            raise EncryptionConfigError(f"{here}.{kind}.keys: at least one key is required")
        for j, key in enumerate(keys):
            name, secret = (key or {}).get("name"), (key or {}).get("secret")
            if not name or not isinstance(secret, str):
                raise EncryptionConfigError(f"{here}.{kind}.keys[{j}]: name and secret are required")
            try:
                raw_secret = base64.b64decode(secret, validate=True)
            except (binascii.Error, ValueError):
                raise EncryptionConfigError(f"{here}.{kind}.keys[{j}].secret: not valid base64") from None
            try:
                out.append(KEYED[kind](str(name), raw_secret))
            except ValueError as err:
                raise EncryptionConfigError(f"{here}.{kind}.keys[{j}]: {err}") from None
    return tuple(out)


def parse(doc: Any, *, source: str = "encryption config") -> list[Rule]:
    if not isinstance(doc, dict) or doc.get("kind") != "EncryptionConfiguration" or \
            doc.get("apiVersion") not in API_VERSIONS:
        raise EncryptionConfigError(f"{source}: not an EncryptionConfiguration of {API_VERSIONS[0]}")
    rules: list[Rule] = []
    seen: set[tuple[str | None, str | None]] = set()
    for i, entry in enumerate(doc.get("resources") or []):
        where = f"{source}: resources[{i}]"
        names = (entry or {}).get("resources")
        if not isinstance(names, list) or not names:
            raise EncryptionConfigError(f"{where}.resources: at least one resource is required")
        providers = _providers((entry or {}).get("providers"), where)
        for name in names:
            parsed = _parse_name(str(name), where)
            if parsed in seen:
                raise EncryptionConfigError(f"{where}: resource {name!r} is listed twice")
            if (None, None) in seen:
                raise EncryptionConfigError(f"{where}: '*.*' must be the last resource")
            seen.add(parsed)
            rules.append(Rule(parsed[0], parsed[1], providers))
    return rules


def load(path: str | Path) -> list[Rule]:
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except OSError as err:
        raise EncryptionConfigError(f"--encryption-provider-config: cannot read {path}: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise EncryptionConfigError(f"--encryption-provider-config: {path} is not YAML: {err}") from None
    return parse(doc, source=str(path))


def prefix_rules(rules: list[Rule], prefixes: dict[tuple[str, str], str],
                 root: str) -> list[tuple[str, tuple[Transformer, ...]]]:
    """(store prefix, providers), most specific first: every built-in resource a rule matches, then the
    catch-all (``*.*``) as the store root, so custom resources are covered too."""
    out: list[tuple[str, tuple[Transformer, ...]]] = []
    for (group, resource), prefix in prefixes.items():
        rule = next((r for r in rules if r.group is not None and r.matches(group, resource)), None)
        if rule is not None:
            out.append((prefix, rule.providers))
    catch_all = next((r for r in rules if r.group is None), None)
    if catch_all is not None:
        out.append((root, catch_all.providers))
    return out


def generate(resources: Iterable[str], *, key_name: str = "key1") -> str:
    """A new configuration encrypting ``resources`` with a fresh random aesgcm key, identity last (so
    values written before encryption was turned on stay readable)."""
    import os

    secret = base64.b64encode(os.urandom(32)).decode()
    doc = {"apiVersion": API_VERSIONS[0], "kind": "EncryptionConfiguration", "resources": [{
        "resources": list(resources),
        "providers": [{"aesgcm": {"keys": [{"name": key_name, "secret": secret}]}}, {"identity": {}}],
    }]}
    return yaml.safe_dump(doc, sort_keys=False)
