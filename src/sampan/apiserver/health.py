"""``/healthz``, ``/livez`` and ``/readyz``, with upstream's named checks and output.

A :class:`HealthChecks` holds named checks; each is a function returning ``None`` when healthy or a
reason string (sync or async). ``/livez`` runs the liveness checks, ``/readyz`` the liveness plus the
readiness checks, ``/healthz`` all of them (it is upstream's deprecated union). Each endpoint answers:

* ``200 ok`` (text/plain) when every check passes, else ``500`` with the verbose listing;
* ``?verbose`` (any value): one ``[+]name ok`` / ``[-]name failed: reason withheld`` line per check and a
  final ``<endpoint> check passed`` / ``failed`` line;
* ``?exclude=name`` (repeatable) skips named checks;
* ``/<endpoint>/<name>`` runs a single check (404 for an unknown name).

Invariant: a check that raises counts as failed; nothing here can turn into a 500 traceback page.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

log = logging.getLogger(__name__)

CheckResult = str | None
Check = Callable[[], CheckResult | Awaitable[CheckResult]]


def _always_ok() -> None:
    return None


@dataclass(frozen=True, slots=True)
class _Named:
    name: str
    check: Check
    readiness_only: bool


class HealthChecks:
    """The checks of one server; ``ping`` and ``log`` are always there, as upstream."""

    def __init__(self) -> None:
        self._checks: list[_Named] = []
        self.add("ping", _always_ok)
        self.add("log", _always_ok)

    def add(self, name: str, check: Check, *, readiness_only: bool = False) -> None:
        """Register ``check`` as ``name``; ``readiness_only`` checks are skipped by ``/livez``. Adding an
        existing name replaces that check."""
        self._checks = [c for c in self._checks if c.name != name]
        self._checks.append(_Named(name, check, readiness_only))

    def names(self, endpoint: str) -> list[str]:
        return [c.name for c in self._for(endpoint)]

    def _for(self, endpoint: str) -> list[_Named]:
        if endpoint == "livez":
            return [c for c in self._checks if not c.readiness_only]
        return list(self._checks)

    async def run(self, endpoint: str, *, exclude: frozenset[str] = frozenset()) -> list[tuple[str, CheckResult]]:
        """(name, failure reason or None) for each check of ``endpoint``, in registration order."""
        results: list[tuple[str, CheckResult]] = []
        for c in self._for(endpoint):
            if c.name in exclude:
                continue
            results.append((c.name, await _run_one(c)))
        return results

    async def run_one(self, endpoint: str, name: str) -> tuple[bool, CheckResult]:
        """(found, failure reason) for a single named check."""
        for c in self._for(endpoint):
            if c.name == name:
                return True, await _run_one(c)
        return False, None


async def _run_one(c: _Named) -> CheckResult:
    try:
        result = c.check()
        if inspect.isawaitable(result):
            result = await result
    except Exception as err:  # a check that raises has failed; log it, never propagate
        log.warning("health check raised name=%s error=%r", c.name, err)
        return f"{type(err).__name__}: {err}"
    return result if result else None


def _handler(checks: HealthChecks, endpoint: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        single = request.match_info.get("check")
        if single:
            found, reason = await checks.run_one(endpoint, single)
            if not found:
                return web.Response(status=404, text="404 page not found\n", content_type="text/plain")
            if reason is None:
                return web.Response(text="ok", content_type="text/plain")
            return web.Response(status=500, text=f"internal server error: {single} check failed\n",
                                content_type="text/plain")
        exclude = frozenset(request.query.getall("exclude", []))
        results = await checks.run(endpoint, exclude=exclude)
        failed = [name for name, reason in results if reason is not None]
        verbose = "verbose" in request.query
        if not failed and not verbose:
            return web.Response(text="ok", content_type="text/plain")
        lines = [f"[+]{name} ok" if reason is None else f"[-]{name} failed: reason withheld"
                 for name, reason in results]
        lines += [f"{endpoint} check {'failed' if failed else 'passed'}"]
        for name, reason in results:
            if reason is not None:
                log.info("health check failed endpoint=%s name=%s reason=%s", endpoint, name, reason)
        return web.Response(status=500 if failed else 200, text="\n".join(lines) + "\n", content_type="text/plain")

    return handle


HEALTH_KEY = web.AppKey("sampan.health", HealthChecks)


def register(app: web.Application, checks: HealthChecks) -> None:
    """Add the three endpoints (with and without a trailing slash) and their per-check paths."""
    for endpoint in ("healthz", "livez", "readyz"):
        handle = _handler(checks, endpoint)
        app.router.add_get(f"/{endpoint}", handle)
        app.router.add_get(f"/{endpoint}/", handle)
        app.router.add_get(f"/{endpoint}/{{check}}", handle)
    app[HEALTH_KEY] = checks
