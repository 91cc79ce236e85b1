"""Large LIST responses written in slices, so that no LIST holds the API server's event loop.

Why: the API server is one asyncio loop. A LIST of 5,000 pods is an 8 MB body; built as one bytes object
and returned to aiohttp, it costs (1) long loop turns (joining the items, copying the body into the
transport's buffer) during which nothing else — a kubelet's Lease renewal, a binding, ``/readyz`` — is
served, and (2) it escapes flow control: APF (and the max-in-flight limiter) frees a request's seats when
its handler returns, *before* aiohttp writes the body, so the number of 8 MB bodies being copied and
sent at once was bounded by nothing (``bench/apf.py``: lease renewal p99 of 10 s with APF on).

How (:func:`send_list`):

* **JSON** (compact; what kubectl, client-go in JSON mode and the Python client get): the body is the
  list's head, then each item's memoized bytes (the watch cache keeps every object encoded once; nothing
  is re-encoded), comma-separated. It is written as a ``StreamResponse`` with its exact
  ``Content-Length`` (computed from the items' lengths, so the bytes and headers equal those of
  :func:`~sampan.apiserver.responses.list_response`), in pieces of about :data:`PIECE_BYTES`, each
  joined just before it is written. After every piece the handler awaits the write (which waits while
  the client reads slower than the server writes) and yields to the loop, so one loop turn does one
  piece's work (a ~0.1 ms copy), never the whole list.
* **protobuf**: the same with :func:`~sampan.apiserver.protobuf_bodies.list_prefix` /
  ``list_items`` / ``LIST_SUFFIX`` (byte-identical to ``list_body``).
* **Table, PartialObjectMetadata, YAML, pretty JSON** (need rendering): rendered on a worker thread when
  the list is large (the loop keeps turning while the thread runs: the interpreter hands the GIL over
  every 5 ms), then written in pieces as above.
* Lists under :data:`STREAM_MIN_ITEMS` items are answered as before, in one ``Response``.

Invariant: the handler returns only after the last piece went to the transport, so a LIST keeps its
flow-control seats while its body is sent (as upstream's handler does while it writes), and the bytes
on the wire equal ``list_response``'s for the same items. The items are a snapshot taken before the first
await (cached objects are immutable), so later writes cannot tear the list.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator, Sequence

import orjson
from aiohttp import web

from sampan.api.protobuf import wire
from sampan.apiserver import negotiation, protobuf_bodies
from sampan.apiserver.cacher.objects import CachedObject
from sampan.apiserver.context import Scope
from sampan.apiserver.responses import JSON_CT, list_head, list_response, representation

log = logging.getLogger(__name__)

STREAM_MIN_ITEMS = 500
"""Lists shorter than this are built whole (a few hundred KB at most: one short loop turn)."""
PIECE_BYTES = 128 * 1024
"""About how much of the body one loop turn copies and hands to the transport."""


async def send_list(
    request: web.Request,
    scope: Scope,
    items: Sequence[CachedObject],
    *,
    resource_version: int,
    continue_token: str = "",
    remaining: int | None = None,
    now: float,
) -> web.StreamResponse:
    """``items`` as a ``<Kind>List`` in the negotiated representation, written in slices when large."""
    if len(items) < STREAM_MIN_ITEMS:
        return list_response(request, scope, items, resource_version=resource_version,
                             continue_token=continue_token, remaining=remaining, now=now)
    rep = representation(request)
    head = list_head(scope, resource_version=resource_version, continue_token=continue_token, remaining=remaining)
    if rep.is_protobuf:
        framed = _protobuf_parts(head, items)
        if framed is not None:
            return await _stream_protobuf(request, *framed)
        rep = negotiation.DEFAULT
    if rep.target is negotiation.Target.OBJECT and rep.media_type == negotiation.JSON and not rep.pretty:
        return await _stream_json(request, head, items)
    # needs rendering: off the loop, then written in pieces
    rendered = await asyncio.to_thread(list_response, request, scope, items, resource_version=resource_version,
                                       continue_token=continue_token, remaining=remaining, now=now)
    return await _write_in_pieces(request, rendered)


def _protobuf_parts(head: dict[str, object], items: Sequence[CachedObject]) -> tuple[bytes, list[bytes]] | None:
    """The list's protobuf prefix and item messages; None (answer in JSON, as ``list_response`` does)
    when the kind has no protobuf schema or an item or the head does not encode."""
    if not protobuf_bodies.supported(head):
        return None
    try:
        messages = [o.message for o in items]
        return protobuf_bodies.list_prefix(head, messages), messages
    except protobuf_bodies.ProtobufError as exc:
        log.warning("cannot answer a %s in protobuf, sending JSON: %s", head.get("kind"), exc)
        return None


def _pieces(sizes: Iterable[int], *, budget: int) -> Iterator[tuple[int, int]]:
    """``[start, end)`` index ranges of consecutive items whose sizes add up to about ``budget`` (lazy:
    the sizes are read as the pieces are written)."""
    start = 0
    total = 0
    end = 0
    for end, size in enumerate(sizes, 1):
        total += size
        if total >= budget:
            yield start, end
            start, total = end, 0
    if start < end:
        yield start, end


async def _start(request: web.Request, *, content_type: str, length: int) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": content_type})
    response.content_length = length
    await response.prepare(request)
    return response


async def _send(response: web.StreamResponse, piece: bytes) -> None:
    """Write one piece and let the loop serve others before the next (the write itself suspends only
    when the transport's buffer is full)."""
    await response.write(piece)
    await asyncio.sleep(0)


async def _stream_json(request: web.Request, head: dict[str, object],
                       items: Sequence[CachedObject]) -> web.StreamResponse:
    raws = [o.raw for o in items]
    opening = orjson.dumps(head)[:-1] + b',"items":['
    closing = b"]}\n"
    length = len(opening) + sum(map(len, raws)) + len(raws) - 1 + len(closing)  # items and commas
    response = await _start(request, content_type=JSON_CT, length=length)
    await _send(response, opening)
    for start, end in _pieces((len(r) + 1 for r in raws), budget=PIECE_BYTES):
        piece = b",".join(raws[start:end])
        await _send(response, piece if start == 0 else b"," + piece)
    await response.write(closing)
    await response.write_eof()
    return response


async def _stream_protobuf(request: web.Request, prefix: bytes, messages: list[bytes]) -> web.StreamResponse:
    fields = [1 + len(wire.varint_bytes(len(m))) + len(m) for m in messages]  # tag, length, message
    length = len(prefix) + sum(fields) + len(protobuf_bodies.LIST_SUFFIX)
    response = await _start(request, content_type=protobuf_bodies.CONTENT_TYPE, length=length)
    await _send(response, prefix)
    for start, end in _pieces(fields, budget=PIECE_BYTES):
        await _send(response, protobuf_bodies.list_items(messages[start:end]))
    await response.write(protobuf_bodies.LIST_SUFFIX)
    await response.write_eof()
    return response


async def _write_in_pieces(request: web.Request, rendered: web.Response) -> web.StreamResponse:
    body = rendered.body
    if not isinstance(body, bytes | bytearray):
        return rendered
    response = web.StreamResponse(status=rendered.status, headers=rendered.headers)
    response.content_length = len(body)
    await response.prepare(request)
    view = memoryview(body)
    for start in range(0, len(body), PIECE_BYTES):
        await _send(response, bytes(view[start:start + PIECE_BYTES]))
    await response.write_eof()
    return response
