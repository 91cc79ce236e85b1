from __future__ import annotations

import asyncio
from pathlib import Path

from sampan._lib.clock import FakeClock
from sampan.kubelet.logs import follow, parse, render

LOG = (
    b"2026-01-01T00:00:01.000000001Z stdout F one\n"
    b"2026-01-01T00:00:02.000000000Z stderr P tw\n"
    b"2026-01-01T00:00:02.100000000Z stdout F three\n"
    b"2026-01-01T00:00:02.200000000Z stderr F o\n"
    b"garbage\n"
    b"2026-01-01T00:00:03.000000000Z stdout F \n"
    b"2026-01-01T00:00:04.000000000Z stdout F par"
)


def test_parse_joins_partial_lines_and_keeps_the_unterminated_rest() -> None:
    lines, rest = parse(LOG)
    assert [(ln.stream, ln.content) for ln in lines] == [
        ("stdout", b"one"), ("stdout", b"three"), ("stderr", b"two"), ("stdout", b"")]
    assert rest.endswith(b"F par")


def test_render_tail_since_timestamps_limit(tmp_path: Path) -> None:
    f = tmp_path / "0.log"
    f.write_bytes(LOG)
    assert render(f) == b"one\nthree\ntwo\n\n"
    assert render(f, tail=2) == b"two\n\n"
    assert render(f, tail=0) == b""
    assert render(f, since=1767225602.1) == b"three\ntwo\n\n"
    assert render(f, tail=1, timestamps=True) == b"2026-01-01T00:00:03.000000000Z \n"
    assert render(f, limit_bytes=5) == b"one\nt"


async def test_follow_yields_appended_lines(tmp_path: Path) -> None:
    f = tmp_path / "0.log"
    f.write_bytes(b"2026-01-01T00:00:01Z stdout F old\n")
    clock = FakeClock()
    got: list[bytes] = []

    async def consume() -> None:
        async for chunk in follow(f, clock=clock, poll=1):
            got.append(chunk)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0)
    with f.open("ab") as fh:
        fh.write(b"2026-01-01T00:00:02Z stdout F new\n2026-01-01T00:00:03Z stdout F hal")
    await clock.advance(1)
    await asyncio.sleep(0)
    with f.open("ab") as fh:
        fh.write(b"f\n2026-01-01T00:00:04Z stdout P split ")
    await clock.advance(1)
    await asyncio.sleep(0)
    with f.open("ab") as fh:
        fh.write(b"\n2026-01-01T00:00:05Z stdout F line\n")
    await clock.advance(1)
    await asyncio.sleep(0)
    task.cancel()
    assert got == [b"new\n", b"half\n", b"split line\n"]
