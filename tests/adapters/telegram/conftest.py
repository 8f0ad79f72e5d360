"""Fixtures: the fake Bot API server, a whole bot (bus, pipeline, Telegram adapter) on it, the real voice layer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from adapters.telegram.adapter import TelegramAdapter
from adapters.telegram.config import TelegramConfig
from core.bus import InProcessBus
from core.engine import Conversation, DialogueEngine, Persona
from core.engines.echo import EchoEngine
from core.pipeline.context import BotServices
from core.pipeline.pipeline import Pipeline
from core.pipeline.settings import FloodLimits, PipelineSettings
from core.speech import Speech
from core.stores.base import DedupeStore
from core.stores.memory import MemoryConversationStore, MemoryDedupeStore, MemoryRateCounter, MemorySettingsStore
from core.stt import SpeechToText
from tests.adapters.telegram.fake_bot_api import TOKEN, FakeBotApi

FAST_LIMITS = {"per_chat": 100, "per_group": 1000, "overall": 1000}
FAST_RETRY = {"backoff_base_s": 0.05, "backoff_max_s": 0.2}


def make_config(api: FakeBotApi, **overrides: Any) -> TelegramConfig:
    """A config pointed at the fake server, with relaxed limits unless overridden."""
    data: dict[str, Any] = {
        "token": TOKEN,
        "base_url": api.base_url,
        "base_file_url": api.base_file_url,
        "poll_timeout_s": 1,
        "rate_limits": FAST_LIMITS,
        "retry": FAST_RETRY,
        "request_timeout_s": 5.0,
        "drain_timeout_s": 5.0,
    }
    data.update(overrides)
    return TelegramConfig.model_validate(data)


class PacedEngine(DialogueEngine):
    """Streams the user's words (or ``script``) one by one, ``delay_s`` apart (for streaming tests)."""

    name = "paced"

    def __init__(self, delay_s: float = 0.05, script: str | None = None) -> None:
        self.delay_s = delay_s
        self.script = script

    async def reply(self, conversation: Conversation) -> AsyncIterator[str]:  # type: ignore[override]
        for i, word in enumerate((self.script or conversation.text).split()):
            if i:
                await asyncio.sleep(self.delay_s)
            yield ("" if i == 0 else " ") + word


@dataclass
class Harness:
    """A running bot against the fake server."""

    api: FakeBotApi
    bus: InProcessBus
    pipeline: Pipeline
    adapter: TelegramAdapter



@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as server:
        yield server


@pytest.fixture
def bot_factory(api: FakeBotApi) -> Callable[..., Any]:
    """``async with bot_factory(engine=..., **config) as h:`` runs a whole bot."""

    @asynccontextmanager
    async def factory(
        engine: DialogueEngine | None = None,
        speech: Speech | None = None,
        voice_by_default: bool = False,
        dedupe: DedupeStore | None = None,
        bus: InProcessBus | None = None,
        listener: SpeechToText | None = None,
        **config: Any,
    ) -> AsyncIterator[Harness]:
        bus = bus or InProcessBus()
        await bus.start()
        services = BotServices(
            "tg",
            Persona(),
            engine or EchoEngine(),
            MemoryConversationStore(),
            MemorySettingsStore(),
            dedupe or MemoryDedupeStore(),
            MemoryRateCounter(),
            speech=speech,
            listener=listener,
            config=PipelineSettings(voice_by_default=voice_by_default, flood=FloodLimits(per_user=0, per_chat=0)),
        )
        pipeline = Pipeline(services, bus)
        adapter = TelegramAdapter("tg-main", bus, make_config(api, **config))
        await pipeline.start()
        await adapter.start()
        try:
            yield Harness(api, bus, pipeline, adapter)
        finally:
            await pipeline.idle()
            await adapter.stop()
            await pipeline.stop()
            await bus.stop()

    return factory
