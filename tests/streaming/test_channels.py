"""The WebSocket channel codecs: binary and base64 messages round-trip, resize streams parse in pieces,
exit statuses carry upstream's reason and message, negotiation follows the client's order."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sampan.streaming import channels


@given(st.integers(0, 255), st.binary(max_size=500))
def test_binary_messages_round_trip(channel: int, data: bytes) -> None:
    message = channels.encode_message(channel, data, base64_text=False)
    assert channels.decode_message(message) == (channel, data)


@given(st.integers(0, 9), st.binary(max_size=500))
def test_base64_messages_round_trip(channel: int, data: bytes) -> None:
    message = channels.encode_message(channel, data, base64_text=True)
    assert isinstance(message, str)
    assert channels.decode_message(message, base64_text=True) == (channel, data)


def test_text_messages_of_the_python_client() -> None:
    assert channels.decode_message("\x00ping\n") == (0, b"ping\n")


def test_empty_and_bad_messages() -> None:
    for bad in (b"", ""):
        with pytest.raises(channels.ChannelError):
            channels.decode_message(bad)
    with pytest.raises(channels.ChannelError):
        channels.decode_message("0***", base64_text=True)


@given(st.lists(st.tuples(st.integers(0, 500), st.integers(0, 500)), max_size=6), st.integers(1, 30))
def test_resize_stream_parses_across_chunks(sizes: list[tuple[int, int]], step: int) -> None:
    wire = b"".join(json.dumps({"Width": w, "Height": h}).encode() for w, h in sizes)
    found: list[channels.TerminalSize] = []
    pending = b""
    for i in range(0, len(wire), step):
        got, pending = channels.parse_resize(pending + wire[i : i + step])
        found += got
    assert found == [channels.TerminalSize(w, h) for w, h in sizes]
    assert pending == b""


def test_exit_status_as_upstream() -> None:
    status = channels.exit_status(3, ["sh", "-c", "exit 3"])
    assert status["reason"] == "NonZeroExitCode"
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
    assert channels.exit_status(0, ["true"])["status"] == "Success"
    assert json.loads(channels.error_payload(status, channels.V4))["status"] == "Failure"
    assert channels.error_payload(channels.success_status(), channels.V1) == b""
    assert channels.error_payload(channels.failure_status("boom"), channels.V2) == b"boom"


def test_negotiation_prefers_the_clients_order() -> None:
    assert channels.negotiate([channels.V4, channels.V5], channels.REMOTE_COMMAND_WEBSOCKET) == channels.V4
    assert channels.negotiate(["nope"], channels.REMOTE_COMMAND_SPDY) is None
    assert channels.port_prefix(8080) == bytes((0x90, 0x1F))
