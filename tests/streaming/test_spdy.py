"""SPDY/3.1 framing: every frame kind round-trips through one encoder/decoder pair (shared zlib state
across frames, any split of the byte stream), header blocks round-trip, bad input is a ProtocolError."""

from __future__ import annotations

import struct
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sampan.streaming import spdy

stream_ids = st.integers(min_value=1, max_value=spdy.STREAM_ID_MASK)
names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12)
values = st.lists(st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)),
                          max_size=20), min_size=1, max_size=3)
headers = st.dictionaries(names, values, max_size=5)
flags = st.sampled_from([0, spdy.FLAG_FIN])

frames = st.one_of(
    st.builds(spdy.DataFrame, stream_ids, st.binary(max_size=2000), flags),
    st.builds(spdy.SynStream, stream_ids, headers, st.integers(0, spdy.STREAM_ID_MASK), st.integers(0, 7),
              st.sampled_from([0, spdy.FLAG_FIN, spdy.FLAG_UNIDIRECTIONAL])),
    st.builds(spdy.SynReply, stream_ids, headers, flags),
    st.builds(spdy.HeadersFrame, stream_ids, headers, flags),
    st.builds(spdy.RstStream, stream_ids, st.integers(1, 11)),
    st.builds(spdy.Settings, st.lists(st.tuples(st.integers(0, 255), st.integers(0, 0xFFFFFF),
                                                st.integers(0, 2**32 - 1)), max_size=4).map(tuple), st.integers(0, 1)),
    st.builds(spdy.Ping, st.integers(0, 2**32 - 1)),
    st.builds(spdy.GoAway, st.integers(0, spdy.STREAM_ID_MASK), st.integers(0, 2)),
    st.builds(spdy.WindowUpdate, stream_ids, st.integers(1, spdy.STREAM_ID_MASK)),
)


def test_dictionary_is_spdy3s() -> None:
    # length and Adler-32 (the DICTID a Go peer puts in its zlib header; kubectl 1.27 interop checks it too)
    assert len(spdy.DICTIONARY) == 1423
    assert zlib.adler32(spdy.DICTIONARY) == 0xE3C6A7C2
    assert spdy.DICTIONARY.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert spdy.DICTIONARY.endswith(b"enq=0.")


@given(st.lists(frames, max_size=12), st.integers(1, 64))
def test_frames_round_trip_in_any_split(sequence: list[spdy.Frame], step: int) -> None:
    encoder, decoder = spdy.FrameEncoder(), spdy.FrameDecoder()
    wire = b"".join(encoder.encode(f) for f in sequence)
    got: list[spdy.Frame] = []
    for i in range(0, len(wire), step):
        got += decoder.feed(wire[i : i + step])
    expected = [
        spdy.SynStream(f.stream_id, {k.lower(): v for k, v in f.headers.items()}, f.associated_id, f.priority, f.flags)
        if isinstance(f, spdy.SynStream) else f for f in sequence
    ]
    assert got == expected


@given(headers)
def test_header_block_round_trip(h: spdy.Headers) -> None:
    assert spdy.decode_header_block(spdy.encode_header_block(h)) == h


def test_truncated_and_duplicate_header_blocks() -> None:
    block = spdy.encode_header_block({"a": ["1"]})
    with pytest.raises(spdy.ProtocolError):
        spdy.decode_header_block(block[:-1])
    dup = struct.pack(">I", 2) + (struct.pack(">I", 1) + b"a" + struct.pack(">I", 1) + b"x") * 2
    with pytest.raises(spdy.ProtocolError):
        spdy.decode_header_block(dup)


def test_wrong_version_and_garbage_headers_are_protocol_errors() -> None:
    bad_version = struct.pack(">HHI", 0x8000 | 2, spdy.PING, 4) + b"\x00\x00\x00\x01"
    with pytest.raises(spdy.ProtocolError):
        spdy.FrameDecoder().feed(bad_version)
    garbage = struct.pack(">HHI", 0x8000 | 3, spdy.SYN_REPLY, 8) + b"\x00\x00\x00\x01nothing!"[:8]
    with pytest.raises(spdy.ProtocolError):
        spdy.FrameDecoder().feed(garbage)
    with pytest.raises(spdy.ProtocolError):
        spdy.FrameDecoder(max_frame=10).feed(struct.pack(">II", 1, 11))


def test_partial_frame_waits_and_unknown_control_types_are_skipped() -> None:
    decoder = spdy.FrameDecoder()
    wire = spdy.FrameEncoder().encode(spdy.DataFrame(1, b"hello", spdy.FLAG_FIN))
    assert decoder.feed(wire[:7]) == []
    unknown = struct.pack(">HHI", 0x8000 | 3, 0x42, 2) + b"??"
    assert decoder.feed(wire[7:] + unknown) == [spdy.DataFrame(1, b"hello", spdy.FLAG_FIN)]
