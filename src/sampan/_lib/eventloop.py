"""Which event loop implementation sampan's processes run: the one switch (``SAMPAN_EVENT_LOOP``).

``SAMPAN_EVENT_LOOP=asyncio`` runs CPython's own loop (selector loop and TLS layer in pure Python);
``SAMPAN_EVENT_LOOP=uvloop`` runs `uvloop <https://pypi.org/project/uvloop/>`_ (libuv and Cython, TLS
included). Unset or empty means the command's default (:func:`default_for`: uvloop for the API server's
clients — kubelet, scheduler, controller-manager —, asyncio for everything else). :func:`install` applies
the choice by setting the process's event loop policy, so every loop created afterwards follows it:
``asyncio.run`` in the CLI's commands, the threads of :mod:`sampan._lib.own_loop` (heartbeats), and the API
server's ``--workers`` processes (forked after the policy is set). The ``sampan`` command calls it once,
before any loop exists (:func:`sampan.cli.main.main`);
library users and tests keep whatever policy they set themselves.

Invariants: :func:`install` is idempotent and returns the implementation in effect; an unknown value is a
``ValueError`` (a typo never silently picks a loop); ``uvloop`` not importable falls back to ``asyncio``
(with a warning when :data:`ENV` asked for it): the process still runs, only slower.

What differs under uvloop (checked by the tests run with ``SAMPAN_EVENT_LOOP=uvloop``, README "Event
loop"): the loop has no Python-visible ready queue, so :mod:`sampan._lib.urgent`'s lanes are not installed
(:func:`sampan._lib.urgent.install` returns False and logs it) — heartbeat requests then wait in the one FIFO
like every other request's steps: run the API server on uvloop only knowing that.
uvloop also calls a subprocess's ``preexec_fn`` right after ``fork``, before its ``setsid`` and stdio
``dup2``s (the kubelet's ``exec -t`` handles both orders: ``kubelet/streaming/process.py``).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping

log = logging.getLogger(__name__)

ENV = "SAMPAN_EVENT_LOOP"
"""Environment variable naming the implementation: ``asyncio`` or ``uvloop``."""
CHOICES = ("asyncio", "uvloop")


UVLOOP_COMMANDS = frozenset({"kubelet", "scheduler", "controller-manager"})
"""Commands that run on uvloop unless :data:`ENV` says otherwise: the API server's busiest clients, whose CPU
is mostly their HTTP client and TLS (README "Event loop": 8-17% less CPU each in the 1,000-node density
runs over TLS, the pipeline faster; no difference over plain HTTP)."""


def default_for(command: str | None) -> str:
    """The implementation when :data:`ENV` is unset or empty: uvloop for :data:`UVLOOP_COMMANDS`, asyncio for
    every other command and for library use and tests. The API server stays on CPython's loop: its urgent
    lanes (:mod:`sampan._lib.urgent`) need the loop's Python-visible ready queue, which uvloop does not have.
    (Session 8 measured the whole density pipeline ~35% slower with the clients on uvloop and made it
    opt-in; since the kubelet's events have their own connections (session 12) the same comparison shows
    no such loss, README "Event loop".)"""
    return "uvloop" if command in UVLOOP_COMMANDS else "asyncio"


def requested(command: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The implementation :data:`ENV` asks for, else :func:`default_for` ``command``; ValueError when unknown."""
    value = (os.environ if environ is None else environ).get(ENV, "").strip().lower()
    if not value:
        return default_for(command)
    if value not in CHOICES:
        raise ValueError(f"{ENV}={value!r}: expected one of {', '.join(CHOICES)}")
    return value


def current() -> str:
    """The implementation new loops of this process get under the current policy."""
    policy = type(asyncio.get_event_loop_policy())
    return "uvloop" if policy.__module__.split(".")[0] == "uvloop" else "asyncio"


def install(command: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """Set the process's event loop policy to what :func:`requested` says; the implementation in effect."""
    want = requested(command, environ)
    if want == "uvloop":
        try:
            import uvloop
        except ImportError:
            explicit = bool((os.environ if environ is None else environ).get(ENV, "").strip())
            log.log(logging.WARNING if explicit else logging.DEBUG,
                    "uvloop is not installed (pip install uvloop); using asyncio's event loop")
            want = "asyncio"
        else:
            if current() != "uvloop":
                asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
            return "uvloop"
    if current() != "asyncio":
        asyncio.set_event_loop_policy(asyncio.DefaultEventLoopPolicy())
    return want
