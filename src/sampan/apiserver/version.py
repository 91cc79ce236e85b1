"""``GET /version``: the server's version.Info, shaped like kube-apiserver 1.32's.

kubectl's dispatcher picks the kubectl binary by ``minor``; conformance checks that ``major`` and
``minor`` are plain integers written as strings; the Python client requires every field below.
"""

from __future__ import annotations

import platform
import sys
from typing import Any

import orjson
from aiohttp import web

import sampan

MAJOR = "1"
MINOR = "32"
GIT_VERSION = "v1.32.0-sampan"


def version_info() -> dict[str, Any]:
    """The body of ``/version``."""
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine or "unknown")
    return {
        "major": MAJOR,
        "minor": MINOR,
        "gitVersion": GIT_VERSION,
        "gitCommit": f"sampan-{getattr(sampan, '__version__', '0')}",
        "gitTreeState": "clean",
        "buildDate": "2024-12-11T00:00:00Z",
        "goVersion": f"python{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}",
        "compiler": "cpython",
        "platform": f"{sys.platform}/{arch}",
    }


async def handle_version(request: web.Request) -> web.Response:
    """Indented, without a trailing newline: upstream writes ``/version`` with ``json.MarshalIndent``."""
    return web.Response(body=orjson.dumps(version_info(), option=orjson.OPT_INDENT_2), content_type="application/json")


def register(app: web.Application) -> None:
    """Add ``GET /version`` and ``GET /version/``."""
    app.router.add_get("/version", handle_version)
    app.router.add_get("/version/", handle_version)
