"""``sampan up --trace``: the embedded trace store the components export spans to (:mod:`sampan.tracestore`),
served from the ``sampan up`` process on a free loopback port recorded in ``up.json`` (``trace_store``), and
the ``--trace-store`` flag added to every component's command line (static pods included)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sampan.cli.supervisor import ComponentSpec
    from sampan.tracestore.server import TraceStoreServer

MAIN_MODULE = "sampan.cli.main"


async def start_observer(enabled: bool) -> TraceStoreServer | None:
    if not enabled:
        return None
    from sampan.tracestore.server import TraceStoreServer

    server = TraceStoreServer()
    await server.start()
    return server


def with_trace_store(specs: Sequence[ComponentSpec], url: str) -> list[ComponentSpec]:
    """``specs`` whose ``python -m sampan.cli.main`` command lines carry ``--trace-store url`` (a global
    option, so it goes before the sub-command)."""
    out = []
    for spec in specs:
        argv = list(spec.argv)
        if MAIN_MODULE in argv:
            i = argv.index(MAIN_MODULE) + 1
            argv[i:i] = ["--trace-store", url]
        out.append(replace(spec, argv=tuple(argv)))
    return out
