"""Reading CRI-format container logs the way ``kubectl logs`` shows them (for the future log server).

A CRI log line is ``<RFC3339Nano> <stream> <tag> <content>``; tag ``P`` marks a partial line continued
by the next one, ``F`` ends it. :func:`render` reassembles whole lines and applies ``tailLines``,
``sinceTime`` (epoch seconds), ``timestamps`` and ``limitBytes`` as the kubelet does; :func:`follow`
then yields what is appended, polling on an injected clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from sampan._lib.clock import Clock
from sampan.api.humanize import parse_rfc3339


@dataclass(frozen=True, slots=True)
class LogLine:
    timestamp: str
    stream: str
    content: bytes


def parse(data: bytes) -> tuple[list[LogLine], bytes]:
    """Whole log lines in ``data``, and the unterminated rest (a line still being written)."""
    out: list[LogLine] = []
    pending: dict[str, list[bytes]] = {}
    *lines, rest = data.split(b"\n")
    for raw in lines:
        parts = raw.split(b" ", 3)
        if len(parts) < 4:
            continue  # not CRI format: skip, as upstream does
        ts, stream, tag, content = parts[0].decode(errors="replace"), parts[1].decode(errors="replace"), *parts[2:]
        if tag == b"P":
            pending.setdefault(stream, []).append(raw)
            continue
        head = b"".join(r.split(b" ", 3)[3] for r in pending.pop(stream, []))
        out.append(LogLine(ts, stream, head + content))
    unfinished = [r for raws in pending.values() for r in raws]  # partial lines wait for their end
    if unfinished:
        rest = b"\n".join(unfinished) + b"\n" + rest
    return out, rest


def format_lines(lines: list[LogLine], *, timestamps: bool) -> bytes:
    return b"".join((f"{ln.timestamp} ".encode() if timestamps else b"") + ln.content + b"\n" for ln in lines)


def render(
    path: str | Path, *, tail: int | None = None, since: float | None = None, timestamps: bool = False,
    limit_bytes: int | None = None,
) -> bytes:
    """The log as ``kubectl logs`` prints it. Raises FileNotFoundError when there is no log."""
    lines, _ = parse(Path(path).read_bytes())
    if since is not None:
        lines = [ln for ln in lines if (parse_rfc3339(ln.timestamp) or 0) >= since]
    if tail is not None:
        lines = lines[-tail:] if tail > 0 else []
    out = format_lines(lines, timestamps=timestamps)
    return out[:limit_bytes] if limit_bytes is not None else out


async def follow(path: str | Path, *, clock: Clock, poll: float = 0.1, timestamps: bool = False,
                 offset: int | None = None) -> AsyncIterator[bytes]:
    """Yield whole lines appended to the log from ``offset`` (default: the current end) until cancelled."""
    pos = _size(path) if offset is None else offset
    rest = b""
    while True:
        chunk = _read_from(path, pos)
        if chunk is None:
            return
        pos += len(chunk)
        lines, rest = parse(rest + chunk)
        if lines:
            yield format_lines(lines, timestamps=timestamps)
        await clock.sleep(poll)


def _size(path: str | Path) -> int:
    return Path(path).stat().st_size


def _read_from(path: str | Path, pos: int) -> bytes | None:
    """Bytes from ``pos`` to the end; None once the file is gone (the container was removed)."""
    try:
        with Path(path).open("rb") as fh:
            fh.seek(pos)
            return fh.read()
    except FileNotFoundError:
        return None
