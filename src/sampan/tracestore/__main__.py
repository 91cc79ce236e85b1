"""``python -m sampan.tracestore [--port N]``: the embedded trace store on its own (for a bench, or to
collect spans from components started by hand with ``sampan --trace-store URL <component>``)."""

from __future__ import annotations

import argparse
import asyncio

from sampan.tracestore.server import TraceStoreServer


async def serve(port: int) -> None:
    server = TraceStoreServer(port=port)
    await server.start()
    print(server.url, flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m sampan.tracestore")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free one)")
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
