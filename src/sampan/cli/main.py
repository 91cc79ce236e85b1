"""Entry point of the ``sampan`` command.

Each sub-command lives in its own module exposing ``register(subparsers)``, which adds a parser whose
``handler`` default is a function ``(args) -> int``. Errors a user can fix are reported as one line on
stderr with exit code 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from collections.abc import Sequence

from sampan import __version__
from sampan.cli import commands


class UsageError(Exception):
    """A problem with the user's input, reported as one line."""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``sampan`` parser; with ``command`` (a sub-command name) only that sub-command is registered, so
    only its module is imported. Parsing a command line that names it gives the same result either way."""
    parser = argparse.ArgumentParser(prog="sampan", description="Kubernetes, rebuilt in Python.")
    parser.add_argument("--version", action="version", version=f"sampan {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-v, -vv)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in commands.registrars_for(command):
        register(sub)
    return parser


#: Generation-0 threshold for sampan's own processes. Components hold large, long-lived caches of small
#: dicts; with CPython's default (700) full collections over those caches take most of the CPU time of
#: a busy informer (docs/client.md, bench/informer.py: 19k -> 80k watch events/s).
GC_GEN0_THRESHOLD = 50_000


def _command_of(argv: Sequence[str]) -> str | None:
    """The sub-command a command line names: its first word when the only options before it are ``-v``
    flags; None otherwise (e.g. ``--help``, ``--version``), which builds the whole parser."""
    for word in argv:
        if word in ("-v", "--verbose") or (word.startswith("-v") and set(word[1:]) == {"v"}):
            continue
        return None if word.startswith("-") else word
    return None


def main(argv: Sequence[str] | None = None) -> int:
    gc.set_threshold(GC_GEN0_THRESHOLD, 20, 100)
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command_of(argv))
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2) if args.verbose else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(args))
    except (UsageError, ValueError, OSError) as exc:
        print(f"sampan {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
