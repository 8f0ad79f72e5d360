"""Reading server-sent events (``text/event-stream``) from an aiohttp response."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp


async def sse_data(response: aiohttp.ClientResponse) -> AsyncIterator[str]:
    """The ``data`` of each event, multi-line data joined with newlines; comments skipped."""
    data: list[str] = []
    async for raw in response.content:
        line = raw.decode("utf-8").rstrip("\r\n")
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value.removeprefix(" "))
    if data:
        yield "\n".join(data)
