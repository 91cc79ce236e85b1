"""Fakes of one seam each, for unit tests: a scripted ListerWatcher."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any


class ScriptedLW:
    """Serves LIST pages of ``objects`` at ``rv``; each WATCH plays the next script entry: a list of events,
    or an exception to raise at watch start."""

    def __init__(self, objects: list[dict[str, Any]], rv: str, watches: list[Any]) -> None:
        self.objects, self.rv, self.watches = objects, rv, list(watches)
        self.list_calls: list[tuple[str | None, str | None]] = []
        self.watch_calls: list[tuple[str, int]] = []
        self.fail_list_with: BaseException | None = None
        self.exhausted = asyncio.Event()

    async def list(self, *, resource_version: str | None, limit: int | None, continue_: str | None
                   ) -> dict[str, Any]:
        self.list_calls.append((resource_version, continue_))
        if self.fail_list_with is not None and resource_version not in ("", None):
            raise self.fail_list_with
        start = int(continue_ or 0)
        assert limit is not None
        page = self.objects[start:start + limit]
        meta: dict[str, Any] = {"resourceVersion": self.rv}
        if start + limit < len(self.objects):
            meta["continue"] = str(start + limit)
        return {"kind": "ConfigMapList", "apiVersion": "v1", "metadata": meta,
                "items": [{k: v for k, v in o.items() if k not in ("kind", "apiVersion")} for o in page]}

    async def watch(self, *, resource_version: str, timeout_seconds: int) -> AsyncIterator[dict[str, Any]]:
        self.watch_calls.append((resource_version, timeout_seconds))
        if not self.watches:
            self.exhausted.set()
            await asyncio.Event().wait()
        step = self.watches.pop(0)
        if isinstance(step, BaseException):
            raise step
        for event in step:
            yield event
