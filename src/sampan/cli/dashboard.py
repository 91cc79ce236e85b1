"""``sampan dashboard``: open the live view that ``sampan up`` serves (its URL is in the data dir's
``up.json``) in a browser, or print it with ``--print``."""

from __future__ import annotations

import argparse


def _run(args: argparse.Namespace) -> int:
    import sys
    import webbrowser
    from pathlib import Path

    from sampan.cli.layout import ClusterLayout

    url = ClusterLayout(Path(args.data_dir)).read_state().get("dashboard")
    if not url:
        print(f"sampan dashboard: no cluster running from {args.data_dir} (start one with `sampan up`)",
              file=sys.stderr)
        return 1
    print(url)
    if not args.print_only:
        webbrowser.open(str(url))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("dashboard", help="open the live view of the cluster `sampan up` runs")
    p.add_argument("--data-dir", default=".sampan", help="the cluster's data dir (default .sampan)")
    p.add_argument("--print", dest="print_only", action="store_true", help="only print the URL")
    p.set_defaults(handler=_run)
