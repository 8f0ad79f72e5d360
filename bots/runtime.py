"""Running bots: each bot is a bus, a pipeline, an engine chain and its adapters; they share stores and voice."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

from bots.adapters import build_adapters
from bots.config import AppConfig, BotConfig, StorageConfig
from bots.engines import build_chain, resolve
from bots.supervisor import AdapterSupervisor
from core.adapter import Adapter
from core.bus import Bus, InProcessBus
from core.engine import Persona
from core.engines.chain import EngineChain
from core.lifecycle import Resource
from core.pipeline.context import BotServices
from core.pipeline.pipeline import Pipeline
from core.pipeline.settings import AccessRules, FloodLimits, PipelineSettings
from core.speech import Speech
from core.stores.base import ConversationStore, DedupeStore, RateCounter, SettingsStore
from core.stores.memory import (
    MemoryConversationStore,
    MemoryDedupeStore,
    MemoryRateCounter,
    MemorySettingsStore,
)
from core.stores.sqlite import SqliteConversationStore, SqliteDatabase, SqliteDedupeStore, SqliteSettingsStore

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Stores:
    """The stores shared by every bot of one process."""

    conversations: ConversationStore
    settings: SettingsStore
    dedupe: DedupeStore
    counter: RateCounter
    resources: list[Resource] = field(default_factory=list)


def build_stores(config: StorageConfig, base: Path, max_turns: int) -> Stores:
    """SQLite (default: survives restarts) or in-memory stores."""
    if config.kind == "memory":
        return Stores(MemoryConversationStore(max_turns), MemorySettingsStore(), MemoryDedupeStore(), MemoryRateCounter())
    db = SqliteDatabase(resolve(config.path, base))
    conv, settings, dedupe = SqliteConversationStore(db, max_turns), SqliteSettingsStore(db), SqliteDedupeStore(db)
    return Stores(conv, settings, dedupe, MemoryRateCounter(), [conv, settings, dedupe])


def pipeline_settings(bot: BotConfig) -> PipelineSettings:
    """The frozen pipeline settings of a bot."""
    p = bot.pipeline
    a = p.access
    return PipelineSettings(
        history_turns=p.history_turns,
        max_input_chars=p.max_input_chars,
        engine_timeout_s=p.engine_timeout_s,
        first_piece_timeout_s=p.first_piece_timeout_s,
        voice_by_default=bot.voice.enabled_by_default,
        default_voice=bot.voice.voice,
        flood=FloodLimits(p.flood.per_user, p.flood.per_chat, p.flood.window_s),
        access=AccessRules(
            frozenset(a.allow_chats),
            frozenset(a.deny_chats),
            frozenset(a.allow_users),
            frozenset(a.deny_users),
            frozenset(a.admins),
            frozenset(c.lstrip("/") for c in a.admin_commands),
        ),
    )


class BotRuntime(Resource):
    """One running bot: its engine chain, bus, pipeline and supervised adapters."""

    def __init__(self, config: BotConfig, services: BotServices, bus: Bus, adapters: list[Adapter]) -> None:
        self.config = config
        self.services = services
        self.bus = bus
        self.adapters = adapters
        self.supervisors = [AdapterSupervisor(a) for a in adapters]
        self.pipeline = Pipeline(services, bus)
        self._started: list[Resource] = []

    @property
    def name(self) -> str:
        return self.config.name

    async def start(self) -> None:
        """Start the engines, bus and pipeline; then every adapter (an adapter that cannot connect is
        retried in the background and does not stop the others)."""
        for resource in (self.services.engine, self.bus, self.pipeline):
            await resource.start()
            self._started.append(resource)
        await asyncio.gather(*(s.start() for s in self.supervisors))
        self._started.extend(self.supervisors)

    async def stop(self) -> None:
        """Graceful: finish the messages in flight, deliver every reply already produced, then close."""
        if self.pipeline in self._started:
            await self.pipeline.stop()
            self._started.remove(self.pipeline)
        if self.bus in self._started:
            await self.bus.stop()
            self._started.remove(self.bus)
            for supervisor in self.supervisors:
                await supervisor.drain()
        while self._started:
            resource = self._started.pop()
            try:
                await resource.stop()
            except Exception:  # noqa: BLE001 - keep stopping the rest
                log.exception("bot %s: stopping %s failed", self.name, type(resource).__name__)


class App(Resource):
    """All bots of one config file, with their shared stores and voice."""

    def __init__(self, config: AppConfig, base: Path, *, console_only: str | None = None, with_voice: bool = True) -> None:
        self.config = config
        self.base = base
        max_turns = max(b.pipeline.history_turns for b in config.bots)
        self.stores = build_stores(config.storage, base, max_turns)
        self.speech: Speech | None = build_voice(config, base) if with_voice else None
        self.bots: list[BotRuntime] = []
        for bot in config.bots:
            if console_only and bot.name != console_only:
                continue
            self.bots.append(self._build_bot(bot, console=console_only is not None))
        self._started: list[Resource] = []

    def _build_bot(self, bot: BotConfig, console: bool) -> BotRuntime:
        bus = InProcessBus()
        engine: EngineChain = build_chain(bot, self.base)
        p = bot.persona
        services = BotServices(
            name=bot.name,
            persona=Persona(p.name, p.description, p.greeting, p.language),
            engine=engine,
            conversations=self.stores.conversations,
            settings=self.stores.settings,
            dedupe=self.stores.dedupe,
            counter=self.stores.counter,
            speech=self.speech,
            # the terminal chat is the operator alone: flood control would only drop pasted lines
            config=replace(pipeline_settings(bot), flood=FloodLimits(0, 0, 1)) if console else pipeline_settings(bot),
        )
        adapters = build_adapters(bot, bus, self.speech, console=console)
        return BotRuntime(bot, services, bus, adapters)

    async def start(self) -> None:
        for store in self.stores.resources:
            await store.start()
            self._started.append(store)
        if self.speech is not None:
            await self.speech.start()
            self._started.append(self.speech)
        results = await asyncio.gather(*(bot.start() for bot in self.bots), return_exceptions=True)
        self._started.extend(self.bots)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def stop(self) -> None:
        while self._started:
            resource = self._started.pop()
            try:
                await resource.stop()
            except Exception:
                log.exception("stopping %s failed", type(resource).__name__)


def build_voice(config: AppConfig, base: Path) -> Speech | None:
    """The shared speech service, or None when voice is disabled in config."""
    if not config.voice.enabled:
        return None
    from voice.service import build_speech

    configured = config.voice.cache.dir
    cache_dir = resolve(str(configured), base) if configured else base / "data" / "cache" / "voice"
    return build_speech(config.voice, cache_dir=cache_dir)
