"""Live updates as server-sent events: a stream that says `change` when what a page shows has changed.

The stream looks every `refresh_seconds` with the page's own reader (the listing, or the incident's query) and sends
only a version, never data: the page then fetches itself again (static.JS), so what it shows went through the same
session check and rendering as any page. A stream ends after MAX_SECONDS (the browser reconnects) or when the
browser goes, so an intake that stops is not held by open pages.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import Request
from fastapi.responses import StreamingResponse
from temporalio.service import RPCError

MAX_SECONDS = 300.0
HEARTBEAT_SECONDS = 15.0


def stream(request: Request, version: Callable[[], Awaitable[str]], every: float, since: str = "") -> StreamingResponse:
    """`since`: the version the page was rendered from, so a change between rendering and connecting is sent."""
    async def events() -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        end, beat = loop.time() + MAX_SECONDS, loop.time()
        seen: str | None = since or None
        yield f"retry: {int(every * 1000)}\n\n"
        while loop.time() < end:
            try:
                now = await version()
            except (RPCError, TimeoutError):
                now = seen or ""  # Temporal did not answer this time; look again next round
            if seen is not None and now != seen:
                yield f"event: change\ndata: {now[:16]}\n\n"
                beat = loop.time()
            seen = now
            if loop.time() - beat > HEARTBEAT_SECONDS:
                yield ": still here\n\n"
                beat = loop.time()
            if await request.is_disconnected():
                return
            await asyncio.sleep(every)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
