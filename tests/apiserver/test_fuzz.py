"""Hypothesis throws malformed names, bodies, selectors, headers and query strings at every route.

Invariants checked for every request:
* the server never answers 5xx (no 500, no traceback page);
* every error response (>= 400) is a JSON ``Status`` whose ``code`` equals the HTTP status and whose
  ``reason`` is non-empty;
* an error response leaves the store byte-for-byte unchanged (same revision, same keys and values).

The server runs in its own thread and event loop over a MemoryStorage this module owns, so the store
can be inspected directly; requests go over real HTTP on loopback with a plain blocking client.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sampan.apiserver.app import APIServer
from sampan.apiserver.config import APIServerConfig
from sampan.apiserver.registry.catalog import Catalog
from sampan.storage.memory import MemoryStorage

EXAMPLES = int(os.environ.get("SAMPAN_FUZZ_EXAMPLES", "150"))
"""Examples per property (``SAMPAN_FUZZ_EXAMPLES=2000`` for a deep run)."""
SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@dataclass
class ServerThread:
    host: str
    port: int
    loop: asyncio.AbstractEventLoop
    store: MemoryStorage

    def snapshot(self) -> tuple[int, list[tuple[str, bytes, int]]]:
        async def snap() -> tuple[int, list[tuple[str, bytes, int]]]:
            rev = await self.store.current_revision()
            listing = await self.store.list(self.store.root)
            return rev, [(kv.key, kv.value, kv.mod_revision) for kv in listing.kvs]

        return asyncio.run_coroutine_threadsafe(snap(), self.loop).result(timeout=30)

    def request(self, method: str, path: str, *, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            if resp.status == 200 and "watch" in path:
                return resp.status, b""  # an open watch stream: the status line is all we judge
            return resp.status, resp.read()
        finally:
            conn.close()


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    loop = asyncio.new_event_loop()
    store = MemoryStorage()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def main() -> None:
        # APF off: its controller re-creates the flowcontrol objects a fuzzed deletecollection removed, and
        # writes FlowSchema statuses, asynchronously; the store must stay still between requests here. For
        # the same reason the server's own periodic writes (its master lease, renewed every 10 s, and the
        # service repair loops) wait an hour: a renewal between two snapshots failed a run.
        srv = APIServer(APIServerConfig(port=0, min_request_timeout=5.0, enable_priority_and_fairness=False,
                                        endpoint_reconciler_interval=3600.0, master_lease_ttl=7200.0,
                                        service_repair_interval=3600.0),
                        storage=store)
        await srv.start()
        holder["server"] = srv
        ready.set()
        stop = holder["stop"] = asyncio.Event()
        await stop.wait()
        await srv.stop()

    thread = threading.Thread(target=lambda: loop.run_until_complete(main()), daemon=True)
    thread.start()
    assert ready.wait(30), "apiserver did not start"
    srv: APIServer = holder["server"]
    yield ServerThread("127.0.0.1", srv.port, loop, store)
    loop.call_soon_threadsafe(holder["stop"].set)
    thread.join(30)
    loop.close()


def check(server: ServerThread, method: str, path: str, *, body: bytes | None = None,
          headers: dict[str, str] | None = None) -> int:
    before = server.snapshot()
    status, raw = server.request(method, path, body=body, headers=headers)
    too_new = status == 504 and b"Too large resource version" in raw  # upstream's answer for a future rv
    assert status < 500 or too_new, f"{method} {path} -> {status}: {raw[:300]!r}"
    if status >= 400 and method != "HEAD":
        try:
            doc = json.loads(raw)
        except ValueError:
            pytest.fail(f"{method} {path} -> {status} with a non-JSON body: {raw[:200]!r}")
        assert doc.get("kind") == "Status", doc
        assert doc.get("code") == status, doc
        assert doc.get("reason"), doc
        assert doc.get("status") == "Failure", doc
        after = server.snapshot()
        assert after == before, f"{method} {path} -> {status} changed the store"
    return status


def _collections() -> list[tuple[str, bool]]:
    """(collection path template, namespaced) for every served resource; ``{ns}`` is filled later."""
    out = []
    for s in Catalog.builtin().strategies():
        info = s.info
        base = f"/api/{info.version}" if not info.group else f"/apis/{info.group}/{info.version}"
        if info.namespaced:
            out.append((f"{base}/namespaces/{{ns}}/{info.resource}", True))
        else:
            out.append((f"{base}/{info.resource}", False))
    return out


COLLECTIONS = _collections()
collection = st.sampled_from(COLLECTIONS)
listable = st.sampled_from([c for c, s in zip(COLLECTIONS, Catalog.builtin().strategies(), strict=True)
                            if "list" in s.info.verbs])  # not the create-only reviews
text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
name_text = st.one_of(text, st.sampled_from(["..", ".", "a/b", "UPPER", "-x", "x-", "a" * 300, "default", "%zz",
                                             "a b", "é", "x" * 64]))
namespace = st.one_of(st.just("default"), name_text)
json_scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), text)
json_value = st.recursive(json_scalar, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                               st.dictionaries(text, inner, max_size=4)),
                          max_leaves=12)
QUERY_KEYS = ["limit", "continue", "resourceVersion", "resourceVersionMatch", "timeoutSeconds", "labelSelector",
              "fieldSelector", "watch", "allowWatchBookmarks", "sendInitialEvents", "includeObject", "dryRun",
              "fieldManager", "fieldValidation", "propagationPolicy", "gracePeriodSeconds", "pretty",
              "orphanDependents"]
QUERY_SAMPLES = ["", "0", "-1", "1", "true", "false", "True", "abc", "99999999999999999999", "NotOlderThan", "Exact",
                 "All", "Object", "Table", "a=b", "a in (", "!", "metadata.name=x", "spec.nope=1", "a,,b", "=",
                 "x==y!=z"]
query_value = st.one_of(text, st.sampled_from(QUERY_SAMPLES))
query = st.dictionaries(st.sampled_from(QUERY_KEYS), query_value, max_size=5)


def quote(s: str) -> str:
    return urllib.parse.quote(s, safe="")


def fill(template: str, ns: str) -> str:
    return template.replace("{ns}", quote(ns))


def with_query(path: str, params: dict[str, str]) -> str:
    if not params:
        return path
    # watch streams must end quickly if one starts
    params = {**params, "timeoutSeconds": "1"} if params.get("watch", "").lower() in ("true", "1") else params
    return path + "?" + urllib.parse.urlencode(params)


@SETTINGS
@given(coll=collection, ns=namespace, name=name_text, method=st.sampled_from(["GET", "DELETE", "HEAD"]),
       params=query)
def test_reads_and_deletes_with_bad_names_and_queries(server: ServerThread, coll: tuple[str, bool], ns: str,
                                                      name: str, method: str, params: dict[str, str]) -> None:
    base = fill(coll[0], ns)
    check(server, method, with_query(f"{base}/{quote(name)}", params))
    check(server, "GET", with_query(base, params))


def _body_for(kind_info: tuple[str, str], meta: Any, extra: Any) -> bytes:
    api_version, kind = kind_info
    obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": meta}
    if isinstance(extra, dict):
        obj.update({k: v for k, v in extra.items() if k not in ("apiVersion", "kind", "metadata")})
    return json.dumps(obj).encode()


KINDS = {f"{t}": (s.info.group_version, s.info.kind) for (t, _), s in zip(COLLECTIONS, Catalog.builtin().strategies(),
                                                                           strict=True)}
CONTENT_TYPES = ["application/json", "application/yaml", "application/vnd.kubernetes.protobuf", "text/plain",
                 "application/json; charset=utf-8", "garbage", ""]


@SETTINGS
@given(coll=collection, ns=namespace, name=name_text, meta=json_value, extra=json_value,
       labels=st.dictionaries(text, json_value, max_size=3), ctype=st.sampled_from(CONTENT_TYPES),
       method=st.sampled_from(["POST", "PUT"]))
def test_writes_with_malformed_objects(server: ServerThread, coll: tuple[str, bool], ns: str, name: str, meta: Any,
                                       extra: Any, labels: dict[str, Any], ctype: str, method: str) -> None:
    template, _ = coll
    if isinstance(meta, dict):
        meta = {**meta, "labels": labels}
    body = _body_for(KINDS[template], meta, extra)
    headers = {"Content-Type": ctype} if ctype else {}
    base = fill(template, ns)
    path = base if method == "POST" else f"{base}/{quote(name)}"
    check(server, method, path, body=body, headers=headers)


@SETTINGS
@given(coll=collection, body=st.one_of(st.binary(max_size=300), json_value.map(lambda v: json.dumps(v).encode()),
                                       st.sampled_from([b"", b"{", b"[]", b"null", b"---\n- a\n", b"a: [", b"\xff\xfe",
                                                        b'{"kind":"Pod"}{"kind":"Pod"}', b"{" * 5000])),
       ctype=st.sampled_from(CONTENT_TYPES), method=st.sampled_from(["POST", "PUT", "PATCH", "DELETE"]))
def test_garbage_bodies(server: ServerThread, coll: tuple[str, bool], body: bytes, ctype: str, method: str) -> None:
    base = fill(coll[0], "default")
    path = base if method in ("POST", "DELETE") else f"{base}/some-name"
    headers = {"Content-Type": ctype} if ctype else {}
    check(server, method, path, body=body, headers=headers)


@SETTINGS
@given(accept=st.one_of(text, st.sampled_from([
    "application/vnd.kubernetes.protobuf", "application/json;as=Table;v=v9;g=meta.k8s.io", "text/html",
    "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io", "*/*;q=0", ",,,", ";;", "application/yaml"])),
    coll=listable)
def test_accept_headers(server: ServerThread, accept: str, coll: tuple[str, bool]) -> None:
    if not all(" " <= c <= "~" for c in accept):
        return  # not a valid header value: aiohttp's HTTP parser rejects it before any handler runs
    base = fill(coll[0], "default")
    status = check(server, "GET", base, headers={"Accept": accept})
    assert status in (200, 406)


def test_oversized_body_is_413_and_stores_nothing(server: ServerThread) -> None:
    body = b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"big"},"data":{"a":"' + b"x" * (4 << 20) + b'"}}'
    assert check(server, "POST", "/api/v1/namespaces/default/configmaps", body=body,
                 headers={"Content-Type": "application/json"}) == 413


def test_unknown_routes_are_status_404(server: ServerThread) -> None:
    for path in ("/api/v1/nopes", "/apis/nope/v1/things", "/api/v1/namespaces/default/nopes/x",
                 "/apis/apps/v9/deployments", "/nothing/here"):
        assert check(server, "GET", path) == 404
