"""Generate :mod:`sampan.api.protobuf.schema_table` from upstream's public API definitions.

Run it against git mirrors of ``k8s.io/api`` and ``k8s.io/apimachinery``::

    python -m sampan.api.protobuf.generate --api /path/to/kubernetes/api \\
        --apimachinery /path/to/kubernetes/apimachinery [--ref HEAD] > schema_table.py

Two sources are read with ``git show`` (nothing is copied into this repository):

* each package's ``generated.proto`` gives message names, field numbers, wire types, labels and the
  message a field refers to;
* the package's Go sources (``types.go`` and friends) give what protobuf does not carry: the JSON
  name, ``omitempty``, whether the Go field is a pointer, slice or map (nil-able), and whether a
  struct is embedded inline (``json:""``: its fields are flattened into the parent's JSON object).

The output is a table of names, numbers and types only (see :mod:`.schema` for its format).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from dataclasses import dataclass

# proto package -> (short package id used in the table, API group version or "" if none)
API_PACKAGES: dict[str, str] = {
    "core/v1": "v1",
    "apps/v1": "apps/v1",
    "batch/v1": "batch/v1",
    "coordination/v1": "coordination.k8s.io/v1",
    "discovery/v1": "discovery.k8s.io/v1",
    "events/v1": "events.k8s.io/v1",
    "policy/v1": "policy/v1",
    "rbac/v1": "rbac.authorization.k8s.io/v1",
    "authentication/v1": "authentication.k8s.io/v1",
    "authorization/v1": "authorization.k8s.io/v1",
    "autoscaling/v1": "autoscaling/v1",
    "autoscaling/v2": "autoscaling/v2",
    "scheduling/v1": "scheduling.k8s.io/v1",
    "networking/v1": "networking.k8s.io/v1",
    "storage/v1": "storage.k8s.io/v1",
    "admissionregistration/v1": "admissionregistration.k8s.io/v1",
    "certificates/v1": "certificates.k8s.io/v1",
}
MACHINERY_PACKAGES: dict[str, str] = {
    "pkg/apis/meta/v1": "meta/v1",
    "pkg/runtime": "runtime",
    "pkg/runtime/schema": "schema",
    "pkg/util/intstr": "intstr",
    "pkg/api/resource": "resource",
}
META_API_VERSION = "meta.k8s.io/v1"
# Kinds registered upstream without embedding TypeMeta.
EXTRA_KINDS = {f"{META_API_VERSION} WatchEvent": "meta/v1.WatchEvent"}

_MESSAGE = re.compile(r"^message (\w+) \{")
_FIELD = re.compile(r"^\s+(optional|repeated) ([\w.]+) (\w+) = (\d+);")
_MAP = re.compile(r"^\s+map<(\w+), ([\w.]+)> (\w+) = (\d+);")
_PACKAGE = re.compile(r"^package ([\w.]+);")
_STRUCT = re.compile(r"^type (\w+) struct \{")
_TAGGED = re.compile(r"^\s+(.*?)\s*`([^`]*)`")
_SCALARS = {"string", "bool", "int32", "int64", "bytes", "double", "float", "uint32", "uint64"}


@dataclass
class GoField:
    json: str
    omitempty: bool
    go_type: str
    inline: bool


def _git_show(repo: str, ref: str, path: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", repo, "show", f"{ref}:{path}"], check=True, capture_output=True, text=True
    ).stdout


def _git_ls(repo: str, ref: str, folder: str) -> list[str]:
    out = subprocess.run(
        ["git", "--git-dir", repo, "ls-tree", "--name-only", f"{ref}:{folder}"],
        check=True, capture_output=True, text=True,
    ).stdout
    return [n for n in out.split() if n.endswith(".go") and not n.endswith("_test.go") and "generated" not in n]


def parse_go(source: str) -> tuple[dict[str, dict[int, GoField]], set[str]]:
    """Struct name -> protobuf field number -> Go facts; and the structs that embed TypeMeta."""
    structs: dict[str, dict[int, GoField]] = {}
    kinds: set[str] = set()
    current: str | None = None
    for line in source.splitlines():
        m = _STRUCT.match(line)
        if m:
            current = m.group(1)
            structs.setdefault(current, {})
            continue
        if line.startswith("}"):
            current = None
            continue
        if current is None:
            continue
        t = _TAGGED.match(line)
        if not t:
            continue
        decl, tag = t.group(1).split(), t.group(2)
        json_tag = re.search(r'json:"([^"]*)"', tag)
        pb_tag = re.search(r'protobuf:"([^"]*)"', tag)
        if decl and decl[-1].endswith("TypeMeta") and json_tag and json_tag.group(1) == ",inline":
            kinds.add(current)
        if not pb_tag or "," not in pb_tag.group(1):
            continue
        number = int(pb_tag.group(1).split(",")[1])
        parts = (json_tag.group(1) if json_tag else "").split(",")
        go_type = decl[-1]
        inline = parts[0] == "" and len(decl) == 1
        structs[current][number] = GoField(parts[0], "omitempty" in parts[1:], go_type, inline)
    return structs, kinds


def parse_proto(source: str, short: str, packages: dict[str, str]) -> dict[str, list[tuple[str, ...]]]:
    """Message name -> raw field rows (label, type, name, number), plus a ``!nullable`` marker row."""
    messages: dict[str, list[tuple[str, ...]]] = {}
    current: str | None = None
    pending_nullable = False
    for line in source.splitlines():
        if "+protobuf.nullable=true" in line:
            pending_nullable = True
        m = _MESSAGE.match(line)
        if m:
            current = f"{short}.{m.group(1)}"
            messages[current] = [("!nullable",)] if pending_nullable else []
            pending_nullable = False
            continue
        if line.startswith("}"):
            current = None
            pending_nullable = False
            continue
        if current is None:
            continue
        f = _FIELD.match(line)
        if f:
            messages[current].append((f.group(1), _resolve(f.group(2), short, packages), f.group(3), f.group(4)))
            continue
        mm = _MAP.match(line)
        if mm:
            messages[current].append(
                ("map", _resolve(mm.group(2), short, packages), mm.group(3), mm.group(4), mm.group(1))
            )
    return messages


def _resolve(type_name: str, short: str, packages: dict[str, str]) -> str:
    if type_name in _SCALARS:
        return type_name
    if not type_name.startswith("."):
        return f"{short}.{type_name}"
    pkg, _, name = type_name[1:].rpartition(".")
    if pkg not in packages:
        raise SystemExit(f"unresolved proto type {type_name} in {short}")
    return f"{packages[pkg]}.{name}"


def build(api_repo: str, machinery_repo: str, ref: str) -> tuple[dict[str, tuple], dict[str, str]]:
    """Return (messages table, kinds table) as plain data."""
    sources: list[tuple[str, str, str]] = []  # (short, repo, folder)
    proto_pkgs: dict[str, str] = {}
    for folder, short in MACHINERY_PACKAGES.items():
        sources.append((short, machinery_repo, folder))
        proto_pkgs["k8s.io.apimachinery." + folder.replace("/", ".")] = short
    for folder in API_PACKAGES:
        sources.append((folder, api_repo, folder))
        proto_pkgs["k8s.io.api." + folder.replace("/", ".")] = folder
    messages: dict[str, tuple] = {}
    kinds: dict[str, str] = dict(EXTRA_KINDS)
    for short, repo, folder in sources:
        raw = parse_proto(_git_show(repo, ref, f"{folder}/generated.proto"), short, proto_pkgs)
        go_structs: dict[str, dict[int, GoField]] = {}
        go_kinds: set[str] = set()
        for name in _git_ls(repo, ref, folder):
            s, k = parse_go(_git_show(repo, ref, f"{folder}/{name}"))
            go_structs.update(s)
            go_kinds |= k
        for full, rows in raw.items():
            name = full.split(".", 1)[1]
            go = go_structs.get(name, {})
            messages[full] = _message_row(full, rows, go)
            if name in go_kinds:
                gv = API_PACKAGES.get(short, META_API_VERSION if short == "meta/v1" else "")
                if gv:
                    kinds[f"{gv} {name}"] = full
    return messages, kinds


def _message_row(full: str, rows: list[tuple[str, ...]], go: dict[int, GoField]) -> tuple:
    nullable = bool(rows) and rows[0] == ("!nullable",)
    fields = []
    for row in rows[1:] if nullable else rows:
        label, type_name, proto_name, number = row[0], row[1], row[2], int(row[3])
        facts = go.get(number)
        json_name = facts.json if facts and (facts.json or facts.inline) else proto_name
        if label == "map" and row[4] != "string":
            raise SystemExit(f"{full}.{proto_name}: map keys other than string are not supported")
        if facts is None:
            flags = "o"  # no Go struct (Timestamp-like helpers): omit zero values
        else:
            flags = "".join(flag for flag, on in (
                ("o", facts.omitempty),
                ("p", facts.go_type.startswith("*")),
                ("i", facts.inline),
                ("n", facts.go_type.startswith(("*", "[]", "map["))),
            ) if on)
        kind = {"map": "map", "repeated": "rep"}.get(label, "opt")
        fields.append((number, json_name, kind, type_name, flags))
    fields.sort()
    return ("wrapper" if nullable else "", tuple(fields))


def render(messages: dict[str, tuple], kinds: dict[str, str], ref_desc: str) -> str:
    out = [
        '"""Generated by ``python -m sampan.api.protobuf.generate``; do not edit by hand.',
        "",
        f"Source: k8s.io/api and k8s.io/apimachinery generated.proto + Go struct tags ({ref_desc}).",
        "Format: see :mod:`sampan.api.protobuf.schema`.",
        '"""',
        "# ruff: noqa: E501",
        "",
        "from typing import Any",
        "",
        "MESSAGES: dict[str, Any] = {",
    ]
    for name in sorted(messages):
        out.append(f"    {name!r}: {messages[name]!r},")
    out.append("}")
    out.append("")
    out.append("KINDS: dict[str, str] = {")
    for key in sorted(kinds):
        out.append(f"    {key!r}: {kinds[key]!r},")
    out.append("}")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", required=True, help="git dir of github.com/kubernetes/api")
    parser.add_argument("--apimachinery", required=True, help="git dir of github.com/kubernetes/apimachinery")
    parser.add_argument("--ref", default="HEAD")
    args = parser.parse_args(argv)
    messages, kinds = build(args.api, args.apimachinery, args.ref)

    def rev(repo: str) -> str:
        return subprocess.run(
            ["git", "--git-dir", repo, "rev-parse", f"{args.ref}^{{commit}}"], check=True, capture_output=True,
            text=True,
        ).stdout.strip()

    desc = f"{args.ref}: api@{rev(args.api)[:12]}, apimachinery@{rev(args.apimachinery)[:12]}"
    sys.stdout.write(render(messages, kinds, desc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
