"""A fake OpenAI-compatible chat-completions server on 127.0.0.1 that streams server-sent events."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Scripted:
    """One canned answer: an error status, a streamed reply cut into pieces, or a raw body.

    ``body`` (with ``content_type``) is sent as is with ``status``; ``echo_auth`` puts the request's
    Authorization header into the error message, as some proxies do.
    """

    status: int = 200
    pieces: tuple[str, ...] = ()
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    content_type: str = "text/html"
    echo_auth: bool = False


class FakeOpenAI:
    """Answers ``POST /v1/chat/completions`` from a script (then a default reply); records requests."""

    def __init__(self, default: tuple[str, ...] = ("Hello", " there", "!")) -> None:
        self.script: list[Scripted] = []
        self.default = default
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.last_piece_at: dict[str, float] = {}
        """When the last piece of each streamed answer was written (``time.monotonic``), by the request's last message."""
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}/v1"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        step = self.script.pop(0) if self.script else Scripted(pieces=self.default)
        if step.body is not None:
            return web.Response(body=step.body, status=step.status, content_type=step.content_type, headers=step.headers)
        if step.status != 200:
            message = f"scripted {step.status}"
            if step.echo_auth:
                message = f"invalid credentials: {request.headers.get('Authorization', '')}"
            error = {"error": {"message": message, "type": "test", "code": step.status}}
            return web.json_response(error, status=step.status, headers=step.headers)
        if body.get("model") == "missing":
            return web.json_response({"error": {"message": "model 'missing' not found"}}, status=404)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        first = {
            "id": "c1",
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {"role": "assistant"}}],
        }
        await response.write(f"data: {json.dumps(first)}\n\n".encode())
        await response.write(b": keep-alive comment\n\n")
        for piece in step.pieces:
            await asyncio.sleep(step.delay_s)
            chunk = {
                "id": "c1",
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {"content": piece}}],
            }
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        messages = body.get("messages") or [{}]
        self.last_piece_at[str(messages[-1].get("content", ""))] = time.monotonic()
        done = {
            "id": "c1",
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        }
        await response.write(f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n".encode())
        await response.write_eof()
        return response
