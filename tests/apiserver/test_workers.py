"""Several API server processes over one SQLite store (``--shared-store``, ``--workers N``), as real
processes: a write acknowledged by one is seen by a consistent read on another, a watch on either sees
every event once and in order, 410 Gone and resuming behave, cluster IPs stay unique, and ``--workers``
serves one port with N supervised processes."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from tests.support.apiserver import APIServerHandle, run_apiserver_process

pytestmark = pytest.mark.slow

JSON = {"Content-Type": "application/json", "Accept": "application/json"}
CMS = "/api/v1/namespaces/default/configmaps"


@contextlib.contextmanager
def _two_members(tmp_path: Path) -> Iterator[tuple[APIServerHandle, APIServerHandle]]:
    """Two servers on their own ports over one store, started at the same time."""
    shared = ["--shared-store", "--data-dir", str(tmp_path / "store"), "--default-watch-cache-size", "10"]
    with contextlib.ExitStack() as stack, concurrent.futures.ThreadPoolExecutor(2) as pool:
        servers = [run_apiserver_process(tmp_path / n, storage="sqlite", extra_args=shared) for n in "ab"]
        entered = [pool.submit(s.__enter__) for s in servers]
        for server, fut in zip(servers, entered, strict=True):
            if fut.exception() is None:  # waits; a server that started is stopped on the way out
                stack.push(server.__exit__)
        a, b = (f.result() for f in entered)
        yield a, b


async def _post(http: aiohttp.ClientSession, url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    async with http.post(url + path, json=body, headers=JSON) as r:
        data: dict[str, Any] = await r.json()
        assert r.status == 201, data
        return data


def _cm(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": name}}


async def _watch(http: aiohttp.ClientSession, url: str, rv: str, want: int) -> list[tuple[str, str, int]]:
    """(type, name, resourceVersion) of the first ``want`` events of a watch from ``rv``."""
    seen: list[tuple[str, str, int]] = []
    query = f"?watch=true&resourceVersion={rv}&timeoutSeconds=60"
    async with http.get(url + CMS + query, headers=JSON) as r:
        assert r.status == 200
        async for line in r.content:
            ev = orjson.loads(line)
            obj = ev["object"]
            if ev["type"] == "ERROR":
                seen.append(("ERROR", str(obj.get("reason")), int(obj.get("code", 0))))
                return seen
            if ev["type"] == "BOOKMARK":
                continue
            seen.append((ev["type"], obj["metadata"]["name"], int(obj["metadata"]["resourceVersion"])))
            if len(seen) >= want:
                return seen
    return seen


async def test_members_over_one_store_agree(tmp_path: Path) -> None:
    with _two_members(tmp_path) as (a, b):
        async with aiohttp.ClientSession() as http:
            async with http.get(a.url + CMS, headers=JSON) as r:
                start = (await r.json())["metadata"]["resourceVersion"]
            watches = [asyncio.create_task(_watch(http, s.url, start, 16)) for s in (a, b)]
            written: list[int] = []
            for i in range(8):
                for writer, reader in ((a, b), (b, a)):
                    name = f"cm-{i}-{writer.port}"
                    rv = int((await _post(http, writer.url, CMS, _cm(name)))["metadata"]["resourceVersion"])
                    written.append(rv)
                    # read-your-writes across processes: a consistent GET and LIST on the other one
                    async with http.get(f"{reader.url}{CMS}/{name}", headers=JSON) as r:
                        assert r.status == 200, await r.text()
                    async with http.get(reader.url + CMS, headers=JSON) as r:
                        listed = await r.json()
                    assert int(listed["metadata"]["resourceVersion"]) >= rv
                    assert name in {o["metadata"]["name"] for o in listed["items"]}
            assert written == sorted(written)
            assert len(set(written)) == len(written)
            async with asyncio.timeout(60):
                seen_a, seen_b = await asyncio.gather(*watches)
            # every event once, in order, the same on both (whoever wrote it)
            assert seen_a == seen_b
            assert [rv for _, _, rv in seen_a] == written
            assert {t for t, _, _ in seen_a} == {"ADDED"}

            # a watch from before both caches' windows (10 events) is 410 Gone on either; a recent one resumes
            for server in (a, b):
                gone = await _watch(http, server.url, start, 1)
                assert gone == [("ERROR", "Expired", 410)]
            resume_from = str(written[-3])
            async with http.delete(f"{a.url}{CMS}/cm-0-{a.port}", headers=JSON) as r:
                assert r.status == 200
            resumed = await _watch(http, b.url, resume_from, 3)
            assert [rv for _, _, rv in resumed[:2]] == written[-2:]
            assert resumed[2][:2] == ("DELETED", f"cm-0-{a.port}")

            # cluster IPs (and node ports) allocated by both at once never collide
            async def service(server: APIServerHandle, i: int) -> tuple[str, int]:
                svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"s{i}-{server.port}"},
                       "spec": {"type": "NodePort", "ports": [{"port": 80}]}}
                spec = (await _post(http, server.url, "/api/v1/namespaces/default/services", svc))["spec"]
                return spec["clusterIP"], spec["ports"][0]["nodePort"]

            made = await asyncio.gather(*(service(s, i) for i in range(8) for s in (a, b)))
            assert len({ip for ip, _ in made}) == len(made)
            assert len({port for _, port in made}) == len(made)


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(c) for c in text.split()]


def _wait(predicate: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


async def test_workers_serve_one_port_and_are_restarted(tmp_path: Path) -> None:
    with run_apiserver_process(tmp_path, storage="sqlite", extra_args=["--workers", "2"]) as server:
        _wait(lambda: len(_children(server.process.pid)) == 2, "two workers")
        first = _children(server.process.pid)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
            async def until_ready() -> None:  # both workers: many fresh connections all answer ready
                for _ in range(600):
                    statuses = []
                    for _ in range(10):
                        async with http.get(server.url + "/readyz") as r:
                            statuses.append(r.status)
                    if statuses == [200] * 10:
                        return
                    await asyncio.sleep(0.1)
                raise AssertionError("workers never all ready")

            await until_ready()
            # fresh connections land on either worker; every write is visible to a consistent LIST
            names = [f"w{i}" for i in range(20)]
            await asyncio.gather(*(_post(http, server.url, CMS, _cm(n)) for n in names))
            async with http.get(server.url + CMS, headers=JSON) as r:
                assert set(names) <= {o["metadata"]["name"] for o in (await r.json())["items"]}
            # a worker that dies is replaced; the port keeps answering meanwhile
            os.kill(first[0], signal.SIGKILL)
            _wait(lambda: len(_children(server.process.pid)) == 2 and first[0] not in _children(server.process.pid),
                  "a replacement worker")
            await until_ready()
            await _post(http, server.url, CMS, _cm("after-restart"))
        assert server.process.poll() is None
