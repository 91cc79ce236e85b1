"""The WebSocket channel protocols of remote command (exec/attach) and port-forward.

Each binary message is ``channel byte + payload``; the ``base64.`` variants send text messages whose
first character is ``'0' + channel`` and whose rest is base64. Remote command channels: 0 stdin,
1 stdout, 2 stderr, 3 error (v4/v5: a JSON ``Status``; older: plain text), 4 resize (v3+: JSON
``{"Width":W,"Height":H}`` objects), and v5's 255 "close": ``[255, channel]`` half-closes that channel
(stdin EOF). Port-forward over WebSocket: for the i-th requested port, channel 2i is data and 2i+1
errors, and the server's first message on each is the port number, 2 bytes little-endian.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

STDIN, STDOUT, STDERR, ERROR, RESIZE = 0, 1, 2, 3, 4
CLOSE = 255

V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
V3 = "v3.channel.k8s.io"
V2 = "v2.channel.k8s.io"
V1 = "channel.k8s.io"
V1_BASE64 = "base64.channel.k8s.io"
V4_BASE64 = "v4.base64.channel.k8s.io"
REMOTE_COMMAND_WEBSOCKET = (V5, V4, V4_BASE64, V3, V2, V1, V1_BASE64)
"""WebSocket subprotocols the exec/attach server speaks, most preferred first."""
REMOTE_COMMAND_SPDY = (V4, V3, V2, V1)
"""``X-Stream-Protocol-Version`` values the exec/attach server speaks over SPDY."""

PORT_FORWARD = "portforward.k8s.io"
PORT_FORWARD_BASE64 = "base64.portforward.k8s.io"
PORT_FORWARD_SPDY_OVER_WEBSOCKET = "SPDY/3.1+portforward.k8s.io"


def negotiate(offered: list[str], supported: tuple[str, ...]) -> str | None:
    """The client's first offered protocol that the server supports (client order wins, as upstream)."""
    for p in offered:
        if p in supported:
            return p
    return None


def split_header(value: str | None) -> list[str]:
    return [p.strip() for p in (value or "").split(",") if p.strip()]


def is_base64(protocol: str | None) -> bool:
    return bool(protocol) and "base64" in str(protocol)


def has_status_errors(protocol: str | None) -> bool:
    """v4/v5 send a JSON Status on the error channel; older protocols send plain text."""
    return protocol in (V5, V4, V4_BASE64)


def has_resize(protocol: str | None) -> bool:
    return protocol in (V5, V4, V4_BASE64, V3)


def encode_message(channel: int, data: bytes, *, base64_text: bool) -> bytes | str:
    """One WebSocket message for ``data`` on ``channel`` (bytes for binary, str for base64)."""
    if base64_text:
        return chr(ord("0") + channel) + base64.b64encode(data).decode()
    return bytes((channel,)) + data


class ChannelError(ValueError):
    """A message that carries no channel (empty) or undecodable base64."""


def decode_message(message: bytes | str, *, base64_text: bool = False) -> tuple[int, bytes]:
    """(channel, payload) of one WebSocket message. A text message is ``'0'+channel`` and base64 under
    a base64 protocol, else ``chr(channel)`` and UTF-8 text (what the Python client sends by default)."""
    if isinstance(message, str):
        if not message:
            raise ChannelError("empty message")
        if not base64_text:
            return ord(message[0]), message[1:].encode()
        try:
            return ord(message[0]) - ord("0"), base64.b64decode(message[1:], validate=True)
        except ValueError as err:
            raise ChannelError(f"bad base64 payload: {err}") from None
    if not message:
        raise ChannelError("empty message")
    return message[0], bytes(message[1:])


@dataclass(frozen=True, slots=True)
class TerminalSize:
    width: int
    height: int


def parse_resize(buffer: bytes) -> tuple[list[TerminalSize], bytes]:
    """The complete resize objects at the start of ``buffer`` and the unparsed rest (a partial object).
    Malformed objects are skipped, as upstream logs and ignores them."""
    text = buffer.decode("utf-8", "replace")
    decoder = json.JSONDecoder()
    sizes: list[TerminalSize] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return sizes, b""
        try:
            obj, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            return sizes, text[pos:].encode()
        pos = end
        if isinstance(obj, dict):
            try:
                sizes.append(TerminalSize(int(obj.get("Width", 0)), int(obj.get("Height", 0))))
            except (TypeError, ValueError):
                continue


def success_status() -> dict[str, Any]:
    return {"metadata": {}, "status": "Success"}


def exit_status(code: int, command: list[str]) -> dict[str, Any]:
    """The error-channel Status of a command that exited ``code`` (Success for 0), as upstream."""
    if code == 0:
        return success_status()
    return {"metadata": {}, "status": "Failure",
            "message": f"command terminated with non-zero exit code: error executing command "
                       f"[{' '.join(command)}], exit code {code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def failure_status(message: str) -> dict[str, Any]:
    return {"metadata": {}, "status": "Failure", "message": message, "reason": "InternalError",
            "details": {"causes": [{"message": message}]}, "code": 500}


def error_payload(status: dict[str, Any], protocol: str | None) -> bytes:
    """What goes on the error channel: the Status (v4/v5) or its message (older; empty on success)."""
    if has_status_errors(protocol):
        return json.dumps(status, separators=(",", ":")).encode()
    return str(status.get("message", "")).encode() if status.get("status") != "Success" else b""


def port_prefix(port: int) -> bytes:
    return bytes((port & 0xFF, (port >> 8) & 0xFF))
