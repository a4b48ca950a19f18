"""A TCP relay for the netns relay-attack test: listen on LISTEN_PORT and forward each
connection to TARGET_HOST:TARGET_PORT (what a smuggler runs at the declared facility so
that a chip elsewhere can answer the landmarks' challenges).

Usage: python tcprelay.py LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


async def main() -> None:
    lhost, lport, thost, tport = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])

    async def handle(r1: asyncio.StreamReader, w1: asyncio.StreamWriter) -> None:
        r2, w2 = await asyncio.open_connection(thost, tport)
        for w in (w1, w2):
            sock = w.get_extra_info("socket")
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with contextlib.suppress(Exception):
            await asyncio.gather(pipe(r1, w2), pipe(r2, w1))

    server = await asyncio.start_server(handle, lhost, lport, reuse_address=True)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
