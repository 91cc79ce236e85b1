"""Big responses are decoded with the cyclic GC paused (sampan.client.rest.decode_json, issue 21): the
result is exactly orjson's, and the GC's state is what it was before."""

from __future__ import annotations

import gc

import orjson
import pytest

from sampan.client.rest import BULK_DECODE_BYTES, decode_json


def page(items: int) -> bytes:
    return orjson.dumps({"kind": "PodList", "metadata": {"continue": "x"},
                         "items": [{"metadata": {"name": f"p{i}", "labels": {"a": str(i)}}, "n": [i, 1.5, None]}
                                   for i in range(items)]})


@pytest.mark.parametrize("items", [1, 2000])
def test_decoding_is_orjsons_and_the_gc_stays_on(items: int) -> None:
    body = page(items)
    assert (len(body) >= BULK_DECODE_BYTES) == (items > 1)
    assert gc.isenabled()
    assert decode_json(body) == orjson.loads(body)
    assert gc.isenabled()


def test_a_caller_that_turned_the_gc_off_keeps_it_off() -> None:
    gc.disable()
    try:
        assert decode_json(page(2000))["items"][1999]["metadata"]["name"] == "p1999"
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_decode_error_still_turns_the_gc_back_on() -> None:
    with pytest.raises(orjson.JSONDecodeError):
        decode_json(b"[" * BULK_DECODE_BYTES)
    assert gc.isenabled()


def test_a_delta_fifo_replace_of_many_objects_leaves_the_gc_on() -> None:
    from sampan.client.cache.delta_fifo import DeltaFIFO

    fifo = DeltaFIFO()
    objs = orjson.loads(page(2000))["items"]
    for obj in objs:
        obj["metadata"]["namespace"] = "d"
    fifo.replace(objs, "7")
    assert gc.isenabled()
    assert len(fifo.list_keys()) == 2000
