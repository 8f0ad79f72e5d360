"""A running bot (bus + pipeline + DiscordAdapter) against the fake Discord, and the real voice layer."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.discord.adapter import DiscordAdapter
from adapters.discord.config import DiscordConfig
from core.bus import InProcessBus
from core.engine import Persona
from core.engines.echo import EchoEngine
from core.pipeline.context import BotServices
from core.pipeline.pipeline import Pipeline
from core.pipeline.settings import PipelineSettings
from core.speech import Speech
from core.stores.memory import MemoryConversationStore, MemoryDedupeStore, MemoryRateCounter, MemorySettingsStore
from core.stt import SpeechToText
from tests.adapters.discord.fake_dave import EXTRA_MEMBER_IDS, LISTENER_ID
from tests.adapters.discord.fake_discord import FakeDiscord, user
from tests.adapters.discord.fake_voice import FakeVoiceServer
from tests.adapters.discord.voice_world import running

GUILD = 111
GENERAL = 201
ANSWERS = 202
THREAD = 203
DM = 301
VOICE = 401
ALICE = user(500, "alice")
OTHER_BOT = user(501, "otherbot", bot=True)
SAM = user(LISTENER_ID, "sam")  # members the fake voice server controls (they speak in the channel)
KIM = user(EXTRA_MEMBER_IDS[0], "kim")
ROBOT = user(EXTRA_MEMBER_IDS[1], "robot", bot=True)


class Bot:
    """The pieces of a running bot, for tests."""

    def __init__(self, fake: FakeDiscord, adapter: DiscordAdapter, pipeline: Pipeline, bus: InProcessBus) -> None:
        self.fake, self.adapter, self.pipeline, self.bus = fake, adapter, pipeline, bus

    async def stop(self) -> None:
        await self.adapter.stop()
        await self.pipeline.stop()
        await self.bus.stop()


async def build_bot(fake: FakeDiscord, *, engine: Any = None, speech: Speech | None = None,
                    voice_by_default: bool = False, pipeline: PipelineSettings | None = None,
                    bus: InProcessBus | None = None, listener: SpeechToText | None = None, hearing: Any = None,
                    listening: Any = None, **config: Any) -> Bot:
    """Start bus and pipeline and build the adapter (not started); ``hearing`` and ``listening``: see
    :class:`~adapters.discord.adapter.DiscordAdapter`."""
    logging.getLogger("discord").setLevel(logging.WARNING)
    bus = bus or InProcessBus()
    await bus.start()
    services = BotServices("t", Persona(), engine or EchoEngine(), MemoryConversationStore(), MemorySettingsStore(),
                           MemoryDedupeStore(), MemoryRateCounter(), speech=speech,
                           config=pipeline or PipelineSettings(voice_by_default=voice_by_default), listener=listener)
    running = Pipeline(services, bus)
    await running.start()
    settings = {"token": "test-token", "api_base_url": fake.api_base, "gateway_url": fake.gateway_url,
                "guild_ready_timeout_s": 0.05, "answer_channels": [str(ANSWERS)], "dev_guild_ids": [str(GUILD)]}
    settings.update(config)
    adapter = DiscordAdapter("dc", bus, DiscordConfig(**settings), speech=speech, hearing=hearing, listening=listening)
    return Bot(fake, adapter, running, bus)


async def start_bot(fake: FakeDiscord, **options: Any) -> Bot:
    """Start bus, pipeline and adapter; returns once the adapter is READY (options: see :func:`build_bot`)."""
    bot = await build_bot(fake, **options)
    try:
        await bot.adapter.start()
    except BaseException:
        await bot.stop()
        raise
    return bot


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord()
    server.add_guild(GUILD, {GENERAL: "general", ANSWERS: "answers"}, threads={THREAD: GENERAL},
                     voice={VOICE: "lounge"}, members=[ALICE], voice_states=[(500, VOICE)])
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def room(request: pytest.FixtureRequest) -> AsyncIterator[tuple[FakeDiscord, FakeVoiceServer]]:
    """The fake Discord (Alice, Sam, Kim and a bot in the lounge) and its voice server (DAVE, 3 members)."""
    options: dict[str, Any] = {"members": 3, **getattr(request, "param", {})}
    fake = FakeDiscord()
    fake.add_guild(GUILD, {GENERAL: "general", ANSWERS: "answers"}, voice={VOICE: "lounge"},
                   members=[ALICE, SAM, KIM, ROBOT],
                   voice_states=[(int(m["id"]), VOICE) for m in (ALICE, SAM, KIM, ROBOT)])
    server = FakeVoiceServer(**options)
    async with running(fake, server) as both:
        yield both
