"""Test harness: a running web chat bot (bus, pipeline, web adapter) and a WebSocket client for the tests."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from adapters.web.adapter import WebAdapter
from adapters.web.config import WebConfig
from core.bus import InProcessBus
from core.engine import Conversation, DialogueEngine, Persona
from core.pipeline.context import BotServices
from core.pipeline.pipeline import Pipeline
from core.pipeline.settings import FloodLimits, PipelineSettings
from core.speech import Speech
from core.stores.memory import MemoryConversationStore, MemoryDedupeStore, MemoryRateCounter, MemorySettingsStore
from core.stores.sqlite import SqliteConversationStore, SqliteDatabase, SqliteDedupeStore, SqliteSettingsStore
from core.stt import SpeechToText

FAST = PipelineSettings(engine_timeout_s=0.5, flood=FloodLimits(per_user=1000, per_chat=1000))


class MemoryEngine(DialogueEngine):
    """Says what it heard and the previous user turn it remembers, so tests can see memory."""

    name = "memory"

    async def reply(self, conversation: Conversation) -> AsyncIterator[str]:  # type: ignore[override]
        before = [t.text for t in conversation.turns if t.role == "user"]
        yield f"heard {conversation.text}; "
        yield f"before: {before[-1] if before else '-'}"


@dataclass
class Bot:
    """A started bus, pipeline and web adapter."""

    adapter: WebAdapter
    pipeline: Pipeline
    bus: InProcessBus
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.adapter.url

    @property
    def ws_url(self) -> str:
        return self.adapter.url.replace("http://", "ws://") + "ws"


@asynccontextmanager
async def running_bot(
    engine: DialogueEngine,
    *,
    db_path: Path | None = None,
    settings: PipelineSettings = FAST,
    config: WebConfig | None = None,
    speech: Speech | None = None,
    listener: SpeechToText | None = None,
    **adapter_args: Any,
) -> AsyncIterator[Bot]:
    """Start a bot with ``engine`` behind a web adapter on a free port; stop everything afterwards.

    ``adapter_args`` go to :class:`WebAdapter` (``greeting``, ``max_input_chars``, ``clips_dir``).
    """
    closers: list[Callable[[], Awaitable[None]]] = []
    if db_path is not None:
        db = SqliteDatabase(db_path)
        stores = (SqliteConversationStore(db), SqliteSettingsStore(db), SqliteDedupeStore(db))
        for store in stores:
            await store.start()
            closers.append(store.stop)
    else:
        stores = (MemoryConversationStore(), MemorySettingsStore(), MemoryDedupeStore())
    await engine.start()
    closers.append(engine.stop)
    services = BotServices(
        "webtest", Persona(name="Tester"), engine, *stores, MemoryRateCounter(), speech, settings, listener=listener
    )
    bus = InProcessBus()
    await bus.start()
    pipeline = Pipeline(services, bus)
    await pipeline.start()
    adapter = WebAdapter("web-test", bus, config or WebConfig(port=0), title="Test Bot", **adapter_args)
    await adapter.start()
    try:
        yield Bot(adapter, pipeline, bus, closers)
    finally:
        await adapter.stop()
        await pipeline.stop(drain_timeout_s=2.0)
        await bus.stop()
        for close in reversed(closers):
            await close()


class Client:
    """A WebSocket client speaking the web chat protocol."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.welcome: dict[str, Any] = {}

    async def send(self, text: str, msg_id: str | None = None) -> str:
        msg_id = msg_id or uuid.uuid4().hex
        await self.ws.send_str(json.dumps({"type": "message", "id": msg_id, "text": text}))
        return msg_id

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        msg = await self.ws.receive(timeout)
        assert msg.type == aiohttp.WSMsgType.TEXT, f"expected a text frame, got {msg.type} {msg.data!r}"
        return json.loads(msg.data)

    async def until(self, kind: str, timeout: float = 5.0) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Frames up to and including the first of type ``kind``: (that frame, everything before it)."""
        seen: list[dict[str, Any]] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            frame = await self.recv(max(0.01, deadline - loop.time()))
            if frame["type"] == kind:
                return frame, seen
            seen.append(frame)

    async def ask(self, text: str) -> dict[str, Any]:
        """Send ``text`` and return the ``done`` frame that answers it."""
        msg_id = await self.send(text)
        while True:
            done, _ = await self.until("done")
            if done["in_reply_to"] == msg_id:
                return done

    async def silent(self, seconds: float) -> list[dict[str, Any]]:
        """Frames that arrive within ``seconds`` (expected to be none in most tests)."""
        frames = []
        try:
            while True:
                frames.append(await self.recv(seconds))
        except TimeoutError:
            return frames


@asynccontextmanager
async def client(http: aiohttp.ClientSession, bot: Bot, session: str | None = None) -> AsyncIterator[Client]:
    """Open a WebSocket to ``bot`` for ``session`` and read its welcome frame."""
    url = bot.ws_url + (f"?session={session}" if session else "")
    async with http.ws_connect(url) as ws:
        c = Client(ws)
        c.welcome = await c.recv()
        assert c.welcome["type"] == "welcome"
        yield c
