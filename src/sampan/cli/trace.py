"""``sampan trace KIND/NAME [-n NS]``: the end-to-end timeline of one object from the embedded trace store
of ``sampan up --trace`` — a table of hops (start offset, duration, component, what happened, informer lag)
with the gaps between components named, and a waterfall (:mod:`sampan.cli.trace_render`). ``--follow``
prints hops as they arrive; ``-o json`` prints the timeline for tools.

The object is looked up through the API server (any kind discovery knows: ``pod/web-1``,
``deployment.apps/web``); its uid is what the store correlates by, plus the pod's IP for kube-proxy syncs.
Errors (no such object, no store running) are one line, exit code 1.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

FOLLOW_POLL = 0.5


class TraceError(Exception):
    """A problem reported to the user in one line."""


def parse_target(target: str) -> tuple[str, str, str]:
    """``kind[.group]/name`` -> (kind, group, name)."""
    kind, sep, name = target.partition("/")
    if not sep or not kind or not name:
        raise TraceError(f"expected KIND/NAME (e.g. pod/web-1), got {target!r}")
    kind, _, group = kind.partition(".")
    return kind, group, name


async def lookup(kubeconfig: str | None, target: str, namespace: str) -> dict[str, Any]:
    """The object ``target`` names, from the API server."""
    from sampan.api import errors
    from sampan.client import Client, load_config

    kind, group, name = parse_target(target)
    async with Client(load_config(kubeconfig)) as client:
        info = None
        for g, versions in await client.discovery.groups():
            if (group and g != group and not g.startswith(group + ".")) or not versions:
                continue
            for r in await client.discovery.resources(g, versions[0]):
                if kind.lower() in (r.resource, r.singular, r.kind.lower(), *r.short_names) and "/" not in r.resource:
                    info = r
                    break
            if info is not None:
                break
        if info is None:
            raise TraceError(f'the server doesn\'t have a resource type "{kind}"')
        try:
            obj: dict[str, Any] = await client.resource_for(info).get(
                name, namespace=namespace if info.namespaced else None)
        except errors.APIError as e:
            raise TraceError(str(e)) from None
        return obj


def fetch_spans(store: str, uid: str, *, ip: str = "", after: int = 0) -> tuple[list[dict[str, Any]], int]:
    import json
    import urllib.parse
    import urllib.request

    query = urllib.parse.urlencode({"uid": uid, "ip": ip, "after": after})
    try:
        with urllib.request.urlopen(f"{store.rstrip('/')}/v1/spans?{query}", timeout=5) as resp:
            doc = json.loads(resp.read())
    except OSError as e:
        raise TraceError(f"cannot reach the trace store at {store}: {e}") from None
    return list(doc.get("spans") or []), int(doc.get("last_seq") or 0)


def _named_spans(console: Any, store: str, name: str, *, component: str, as_json: bool) -> int:
    """The latest spans called ``name`` (work about no single object, e.g. ``reflector.relist``), of
    ``component`` if given: a table of when, which component, how long, and their attributes."""
    import json
    import time
    import urllib.request

    from rich.table import Table

    try:
        with urllib.request.urlopen(f"{store.rstrip('/')}/v1/spans?recent=10000", timeout=5) as resp:
            spans = [s for s in json.loads(resp.read()).get("spans") or [] if s.get("name") == name
                     and (not component or s.get("component") == component)]
    except OSError as e:
        raise TraceError(f"cannot reach the trace store at {store}: {e}") from None
    if as_json:
        print(json.dumps(spans, indent=2))
        return 0
    table = Table(title=f"{len(spans)} latest {name} span(s)")
    for col in ("time", "component", "ms", "attributes"):
        table.add_column(col)
    for s in spans:
        start = s["start_ns"]
        when = time.strftime("%H:%M:%S", time.localtime(start / 1e9)) + f".{start // 1_000_000 % 1000:03d}"
        attrs = "  ".join(f"{k}={v}" for k, v in sorted((s.get("attributes") or {}).items()))
        table.add_row(when, s.get("component", ""), f"{(s['end_ns'] - s['start_ns']) / 1e6:.1f}", attrs)
    console.print(table)
    return 0


def store_url(args: argparse.Namespace) -> str:
    if args.store:
        return str(args.store)
    from sampan.cli.layout import ClusterLayout

    url = ClusterLayout(Path(args.data_dir)).read_state().get("trace_store")
    if not url:
        raise TraceError(f"no trace store: start the cluster with `sampan up --trace` (data dir {args.data_dir}) "
                         "or give --store URL")
    return str(url)


def _kubeconfig(args: argparse.Namespace) -> str | None:
    if args.kubeconfig:
        return str(args.kubeconfig)
    from sampan.cli.layout import ClusterLayout

    path = ClusterLayout(Path(args.data_dir)).kubeconfig
    return str(path) if path.exists() else None


def _run(args: argparse.Namespace) -> int:
    import asyncio
    import json
    import sys

    from rich.console import Console

    from sampan.cli import trace_render
    from sampan.tracestore.timeline import build

    console = Console()
    try:
        store = store_url(args)
        if args.spans:
            return _named_spans(console, store, args.spans, component=args.component,
                                as_json=args.output == "json")
        if not args.target:
            raise TraceError("give KIND/NAME (or --spans NAME)")
        obj = asyncio.run(lookup(_kubeconfig(args), args.target, args.namespace))
        md = obj.get("metadata") or {}
        uid, ip = str(md.get("uid", "")), str((obj.get("status") or {}).get("podIP") or "")
        spans, last = fetch_spans(store, uid, ip=ip)
        direct_start = min((s["start_ns"] for s in spans if (s.get("attributes") or {}).get("k8s.uid") == uid),
                           default=None)
        not_before = direct_start - 5_000_000_000 if direct_start is not None else None
        timeline = build(spans, not_before_ns=not_before)
        if args.output == "json":
            print(json.dumps({"object": {"kind": obj.get("kind"), "namespace": md.get("namespace"),
                                         "name": md.get("name"), "uid": uid}, **timeline.to_json()},
                             indent=None if args.follow else 2), flush=True)  # following: one JSON per line
        else:
            trace_render.render(console, timeline, title=f"{obj.get('kind', '')} {md.get('namespace', '')}/"
                                                         f"{md.get('name', '')} ({uid})")
        while args.follow:
            time.sleep(FOLLOW_POLL)
            new, last = fetch_spans(store, uid, ip=ip, after=last)
            if new:
                spans += new
                timeline = build(spans, not_before_ns=not_before)
                ids = {s["span_id"] for s in new}
                for hop in timeline.hops:
                    if hop.span_id in ids:
                        if args.output == "json":
                            print(json.dumps(hop.__dict__), flush=True)
                        else:
                            trace_render.print_hop(console, hop)
    except TraceError as e:
        print(f"sampan trace: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("trace", help="the end-to-end timeline of an object (needs `sampan up --trace`)")
    p.add_argument("target", nargs="?", default="", help="KIND/NAME, e.g. pod/web-1 or deployment.apps/web")
    p.add_argument("--spans", default="", metavar="NAME", help="instead of an object: the latest spans called NAME "
                   "(work about no single object, e.g. reflector.relist)")
    p.add_argument("--component", default="", help="with --spans: only this component's (e.g. kubelet)")
    p.add_argument("-n", "--namespace", default="default", help="namespace (default: default)")
    p.add_argument("-o", "--output", choices=("table", "json"), default="table", help="table (default) or json")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing hops as they happen")
    p.add_argument("--data-dir", default=".sampan", help="the cluster's data dir (default .sampan)")
    p.add_argument("--store", default="", help="trace store URL (default: the one `sampan up --trace` serves)")
    p.add_argument("--kubeconfig", default="", help="kubeconfig (default: the data dir's, else the usual lookup)")
    p.set_defaults(handler=_run)
