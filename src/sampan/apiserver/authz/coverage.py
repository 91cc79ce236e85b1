"""Whether one set of PolicyRules covers another (upstream's ``validation.Covers``), and how upstream
prints what is missing.

A rule is broken down into atomic rules (one group, resource, verb and resource name each; one URL and
verb for non-resource rules); the owner covers the servant iff every atomic rule is allowed by some
owner rule, where ``*`` in the owner covers anything and ``*/<sub>`` covers that subresource of any
resource, but a servant's ``*`` is covered only by an owner's ``*``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sampan.apiserver.authz.rules import ALL

Rule = Mapping[str, Any]


def _strings(rule: Rule, key: str) -> list[str]:
    value = rule.get(key)
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def breakdown(rule: Rule) -> list[dict[str, list[str]]]:
    """Atomic rules of ``rule`` (each list holds one value; resourceNames only when set)."""
    out: list[dict[str, list[str]]] = []
    verbs = _strings(rule, "verbs")
    for group in _strings(rule, "apiGroups"):
        for resource in _strings(rule, "resources"):
            for verb in verbs:
                names = _strings(rule, "resourceNames")
                if names:
                    out.extend({"apiGroups": [group], "resources": [resource], "verbs": [verb],
                                "resourceNames": [n]} for n in names)
                else:
                    out.append({"apiGroups": [group], "resources": [resource], "verbs": [verb]})
    for url in _strings(rule, "nonResourceURLs"):
        out.extend({"nonResourceURLs": [url], "verbs": [verb]} for verb in verbs)
    return out


def _has_or_all(values: list[str], wanted: str) -> bool:
    return ALL in values or wanted in values


def _resource_covered(owner: list[str], resource: str) -> bool:
    if ALL in owner or resource in owner:
        return True
    return "/" in resource and f"*/{resource.split('/', 1)[1]}" in owner


def _url_covered(owner: list[str], url: str) -> bool:
    return any(o == url or (o.endswith("*") and url.startswith(o[:-1])) for o in owner)


def rule_covers(owner: Rule, atom: Mapping[str, list[str]]) -> bool:
    if not _has_or_all(_strings(owner, "verbs"), atom["verbs"][0]):
        return False
    if "nonResourceURLs" in atom:
        return _url_covered(_strings(owner, "nonResourceURLs"), atom["nonResourceURLs"][0])
    if not _has_or_all(_strings(owner, "apiGroups"), atom["apiGroups"][0]):
        return False
    if not _resource_covered(_strings(owner, "resources"), atom["resources"][0]):
        return False
    owner_names = _strings(owner, "resourceNames")
    return not owner_names or atom.get("resourceNames", [""])[0] in owner_names


def covers(owner: Sequence[Rule], servant: Iterable[Rule]) -> tuple[bool, list[dict[str, list[str]]]]:
    """(covered, the atomic servant rules no owner rule covers)."""
    missing = [atom for rule in servant for atom in breakdown(rule)
               if not any(rule_covers(o, atom) for o in owner)]
    return not missing, missing


def compact(atoms: Sequence[Mapping[str, list[str]]]) -> list[dict[str, list[str]]]:
    """Merge atomic rules that differ only in their verb (upstream's ``CompactRules``), order kept."""
    merged: dict[tuple[tuple[str, ...], ...], dict[str, list[str]]] = {}
    for atom in atoms:
        key = tuple(tuple(atom.get(k, ())) for k in ("apiGroups", "resources", "resourceNames", "nonResourceURLs"))
        if key in merged and "resourceNames" not in atom:
            if atom["verbs"][0] not in merged[key]["verbs"]:
                merged[key]["verbs"].append(atom["verbs"][0])
        elif key not in merged:
            merged[key] = {k: list(v) for k, v in atom.items()}
        else:
            merged[(*key, (str(len(merged)),))] = {k: list(v) for k, v in atom.items()}
    return list(merged.values())


def _go_quoted(values: list[str]) -> str:
    return "[" + " ".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values) + "]"


def compact_string(rule: Mapping[str, list[str]]) -> str:
    """Upstream's ``CompactString``: ``{APIGroups:[""], Resources:["pods"], Verbs:["get" "list"]}``."""
    parts = [f"{label}:{_go_quoted(rule[key])}" for key, label in (
        ("apiGroups", "APIGroups"), ("resources", "Resources"), ("nonResourceURLs", "NonResourceURLs"),
        ("resourceNames", "ResourceNames"), ("verbs", "Verbs")) if rule.get(key)]
    return "{" + ", ".join(parts) + "}"
