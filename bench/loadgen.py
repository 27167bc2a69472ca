"""A minimal HTTP/1.1 keep-alive client for load generation.

httpx spends ~10 ms of CPU per request with a 128-connection pool on a 2-core box, which would measure the load
generator rather than the intake. This speaks just enough HTTP/1.1 (one request at a time per connection,
Content-Length bodies) to keep the sender cheap; the intake side is the real uvicorn server.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class Connection:
    def __init__(self, host: str, port: int, headers: dict[str, str] | None = None) -> None:
        self.host, self.port = host, port
        self.extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items()).encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.reader is None or self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self.reader, self.writer

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        reader, writer = await self._open()
        writer.write(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: " + self.host.encode()
                     + b"\r\nContent-Type: application/json\r\nContent-Length: " + str(len(body)).encode()
                     + b"\r\n" + self.extra + b"\r\n" + body)
        status_line = await reader.readline()
        if not status_line:
            self.writer = None
            raise ConnectionError("the server closed the connection")
        status = int(status_line.split()[1])
        length, close = 0, False
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        data = await reader.readexactly(length)
        if close:
            self.close()
        return status, data

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def run_concurrently(n: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> float:
    """Seconds to run one(0..n-1) with at most `concurrency` in flight."""
    counter = iter(range(n))

    async def lane() -> None:
        for i in counter:
            await one(i)

    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return time.perf_counter() - started
