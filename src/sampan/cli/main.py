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
from sampan._lib import eventloop
from sampan.cli import commands


class UsageError(Exception):
    """A problem with the user's input, reported as one line."""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``sampan`` parser; with ``command`` (a sub-command name) only that sub-command is registered, so
    only its module is imported. Parsing a command line that names it gives the same result either way."""
    parser = argparse.ArgumentParser(prog="sampan", description="Kubernetes, rebuilt in Python.")
    parser.add_argument("--version", action="version", version=f"sampan {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-v, -vv)")
    parser.add_argument("--tracing", metavar="ENDPOINT", default="",
                        help="export OpenTelemetry spans (OTLP/HTTP) to this collector, e.g. localhost:4318")
    parser.add_argument("--tracing-config-file", default="",
                        help="an upstream TracingConfiguration file (endpoint, samplingRatePerMillion)")
    parser.add_argument("--trace-store", default="", help="export spans to sampan's embedded trace store at this "
                        "URL (`sampan up --trace` passes it to its components)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in commands.registrars_for(command):
        register(sub)
    return parser


#: Cyclic-GC thresholds for sampan's own processes. Generation 0 at 50,000: components hold large,
#: long-lived caches of small dicts; with CPython's default (700) full collections over those caches take
#: most of the CPU time of a busy informer (docs/client.md, bench/informer.py: 19k -> 80k watch events/s).
#: Generation 1 every 2 young collections, not 20: a process whose caches grow (hollow nodes while pods
#: arrive) keeps nearly every young object, and a generation-1 collection walks every survivor since the last
#: one — at 20 up to ~1 M objects, a 0.55-0.77 s stall of the loop every ~50 s (README, Scale, session 15).
#: Generation 2 after 1,000 of those, so full collections come no more often than before (2 x 1,000 = 20 x 100).
GC_THRESHOLDS = (50_000, 2, 1_000)


def _command_of(argv: Sequence[str]) -> str | None:
    """The sub-command a command line names: its first word when the only options before it are ``-v``
    flags; None otherwise (e.g. ``--help``, ``--version``), which builds the whole parser."""
    words = iter(argv)
    for word in words:
        if word in ("-v", "--verbose") or (word.startswith("-v") and set(word[1:]) == {"v"}):
            continue
        if word in _VALUED_GLOBALS:
            next(words, None)
            continue
        return None if word.startswith("-") else word
    return None


_VALUED_GLOBALS = frozenset({"--tracing", "--tracing-config-file", "--trace-store"})


#: Sub-commands that are components, with the service name their spans carry (upstream's binary names).
TRACED_COMPONENTS = {"apiserver": "kube-apiserver", "scheduler": "kube-scheduler",
                     "controller-manager": "kube-controller-manager", "kubelet": "kubelet", "proxy": "kube-proxy",
                     "dns": "coredns"}


def _configure_tracing(args: argparse.Namespace) -> None:
    """Tracing for a component process, from ``--tracing``/``--tracing-config-file`` or the environment
    ``sampan up --trace`` sets for its children (see :mod:`sampan._lib.tracing`). Off otherwise."""
    import os

    if args.tracing:
        os.environ["SAMPAN_TRACING_ENDPOINT"] = args.tracing
    if args.tracing_config_file:
        os.environ["SAMPAN_TRACING_CONFIG_FILE"] = args.tracing_config_file
    if args.trace_store:
        os.environ["SAMPAN_TRACE_STORE"] = args.trace_store
    component = TRACED_COMPONENTS.get(args.command or "")
    if component is None:
        return  # `sampan up` passes the environment on to its components
    if not any(os.environ.get(k) for k in ("SAMPAN_TRACING_ENDPOINT", "SAMPAN_TRACING_CONFIG_FILE",
                                           "SAMPAN_TRACE_STORE")):
        return  # off: opentelemetry is never imported
    from sampan._lib import tracing

    tracing.configure(component, tracing.config_from_env())


def main(argv: Sequence[str] | None = None) -> int:
    gc.set_threshold(*GC_THRESHOLDS)
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
        eventloop.install(args.command)  # SAMPAN_EVENT_LOOP or the command's default, before any loop exists
        _configure_tracing(args)
        return int(handler(args))
    except (UsageError, ValueError, OSError) as exc:
        print(f"sampan {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
