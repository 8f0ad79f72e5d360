"""Running bots: each bot is a bus, a pipeline, an engine chain and its adapters; they share stores and voice."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Literal

from pydantic import ValidationError

from bots.adapters import build_adapters
from bots.config import AppConfig, BotConfig, BusConfig, StorageConfig
from bots.engines import build_chain, resolve
from bots.errors import ConfigError
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

if TYPE_CHECKING:
    from bots.observability import ObservabilityServer

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Stores:
    """The stores shared by every bot of one process."""

    conversations: ConversationStore
    settings: SettingsStore
    dedupe: DedupeStore
    counter: RateCounter
    resources: list[Resource] = field(default_factory=list)


def build_stores(config: StorageConfig, base: Path, max_turns: int, bus: BusConfig | None = None) -> Stores:
    """SQLite (default: survives restarts), Redis (shared by every worker) or in-memory stores."""
    if config.kind == "redis":
        from core.distributed.redis_stores import (
            RedisConnection,
            RedisConversationStore,
            RedisDedupeStore,
            RedisRateCounter,
            RedisSettingsStore,
        )

        connection = RedisConnection(config.url or (bus.url if bus else "redis://127.0.0.1:6379/0"), config.namespace)
        redis_stores = (
            RedisConversationStore(connection, max_turns),
            RedisSettingsStore(connection),
            RedisDedupeStore(connection),
            RedisRateCounter(connection),
        )
        return Stores(*redis_stores, resources=list(redis_stores))
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
        stream_interval_s=p.stream_interval_s,
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
    """One running bot: its bus, and its pipeline (with the engine chain) and/or its supervised adapters.

    All-in-one runs both halves; a gateway process runs only the adapters (``services`` is None),
    a worker process only the pipeline (no adapters).
    """

    def __init__(self, config: BotConfig, services: BotServices | None, bus: Bus, adapters: list[Adapter]) -> None:
        self.config = config
        self.services = services
        self.bus = bus
        self.adapters = adapters
        self.supervisors = [AdapterSupervisor(a) for a in adapters]
        self.pipeline = Pipeline(services, bus) if services is not None else None
        self._started: list[Resource] = []

    @property
    def name(self) -> str:
        return self.config.name

    async def start(self) -> None:
        """Start the engines, bus and pipeline; then every adapter (an adapter that cannot connect is
        retried in the background and does not stop the others)."""
        halves: tuple[Resource, ...] = (self.bus,)
        if self.services is not None and self.pipeline is not None:
            halves = (self.services.engine, self.bus, self.pipeline)
        for resource in halves:
            await resource.start()
            self._started.append(resource)
        await asyncio.gather(*(s.start() for s in self.supervisors))
        self._started.extend(self.supervisors)

    async def stop(self) -> None:
        """Graceful: finish the messages in flight, deliver every reply already produced, then close."""
        if self.pipeline is not None and self.pipeline in self._started:
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


Role = Literal["all", "gateway", "worker"]


class App(Resource):
    """All bots of one config file, with their shared stores and voice, in one process role.

    Args:
        role: ``all`` (adapters and pipeline in this process, the default), ``gateway`` (adapters
            only) or ``worker`` (pipeline, engines and voice only); the last two need a redis bus.
        instance: this process's name: a worker's consumer name (default ``host:pid``), or a
            gateway's, which then suffixes its adapters' ids so replies come back to it.
        shard_ids: the Discord shards this gateway runs (with ``shard_count`` from the config).
    """

    def __init__(
        self,
        config: AppConfig,
        base: Path,
        *,
        console_only: str | None = None,
        with_voice: bool = True,
        role: Role = "all",
        instance: str = "",
        shard_ids: list[int] | None = None,
    ) -> None:
        if role != "all" and config.bus.kind != "redis":
            raise ConfigError(
                f"python run.py {role} needs a shared bus: set `bus: {{kind: redis, url: redis://HOST:6379/0}}` in the config"
            )
        if role == "worker" and config.storage.kind != "redis":
            log.warning(
                "storage kind %r is private to this worker: several workers will not share memory, settings "
                "or dedupe keys; set `storage: {kind: redis}`",
                config.storage.kind,
            )
        self.config = config
        self.base = base
        self.role = role
        self.instance = instance
        max_turns = max(b.pipeline.history_turns for b in config.bots)
        self.stores = build_stores(config.storage, base, max_turns, config.bus) if role != "gateway" else None
        wants_voice = with_voice and (role != "gateway" or any(_speaks_in_voice_channels(b) for b in config.bots))
        self.speech: Speech | None = build_voice(config, base) if wants_voice else None
        self.bots: list[BotRuntime] = []
        for bot in config.bots:
            if console_only and bot.name != console_only:
                continue
            if shard_ids is not None:
                _set_shards(bot, shard_ids)
            self.bots.append(self._build_bot(bot, console=console_only is not None))
        self.observability: ObservabilityServer | None = None
        obs = config.observability
        if obs.enabled and console_only is None:
            from bots.observability import ObservabilityServer

            self.observability = ObservabilityServer(obs.host, obs.port, role, self._health_checks())
        self._started: list[Resource] = []

    @property
    def instance_name(self) -> str:
        """This process's name: the worker's consumer name in the redis group."""
        for bot in self.bots:
            consumer = getattr(bot.bus, "consumer", None)
            if consumer:
                return str(consumer)
        return self.instance or "all-in-one"

    def _health_checks(self) -> dict[str, Callable[[], Awaitable[bool]]]:
        """What ``/healthz`` checks: each bus answers, each pipeline runs, each adapter is connected."""
        checks: dict[str, Callable[[], Awaitable[bool]]] = {}
        for bot in self.bots:
            ping = getattr(bot.bus, "ping", None)
            if ping is not None:
                checks[f"{bot.name}.bus"] = ping
            if bot.pipeline is not None:
                checks[f"{bot.name}.pipeline"] = _now(bot.pipeline.running)
            for supervisor in bot.supervisors:
                checks[supervisor.adapter.adapter_id] = _now(lambda s=supervisor: s.running)
        return checks

    def _build_bus(self, bot: BotConfig) -> Bus:
        b = self.config.bus
        if b.kind == "inprocess":
            return InProcessBus(bot.name)
        from core.distributed.redis_bus import RedisBus, RedisBusSettings

        settings = RedisBusSettings(
            url=b.url,
            namespace=f"{b.namespace}:{bot.name}",
            consumer=self.instance if self.role == "worker" else "",
            claim_idle_s=b.claim_idle_s,
            read_count=b.read_count,
            max_held=b.max_held,
            outbox_limit=b.outbox_limit,
            answered_ttl_s=b.answered_ttl_s,
            max_attachment_bytes=int(b.max_attachment_mb * 1024 * 1024),
        )
        return RedisBus(settings, bot=bot.name)

    def _build_bot(self, bot: BotConfig, console: bool) -> BotRuntime:
        bus = self._build_bus(bot)
        services: BotServices | None = None
        if self.role != "gateway":
            assert self.stores is not None
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
        adapters: list[Adapter] = []
        if self.role != "worker":
            suffix = self.instance if self.role == "gateway" else ""
            adapters = build_adapters(bot, bus, self.speech, console=console, instance=suffix,
                                      settings=self.stores.settings if self.stores is not None else None)
        return BotRuntime(bot, services, bus, adapters)

    async def start(self) -> None:
        if self.observability is not None:
            await self.observability.start()
            self._started.append(self.observability)
        for store in self.stores.resources if self.stores else ():
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


def _now(probe: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return probe()

    return check


def _speaks_in_voice_channels(bot: BotConfig) -> bool:
    d = bot.adapters.discord
    return d is not None and d.voice.enabled


def _set_shards(bot: BotConfig, shard_ids: list[int]) -> None:
    """Give this gateway's Discord adapter its share of the shards (validated like the config)."""
    from adapters.discord.config import DiscordConfig

    d = bot.adapters.discord
    if d is None:
        return
    try:
        bot.adapters.discord = DiscordConfig.model_validate({**d.model_dump(), "shard_ids": shard_ids})
    except ValidationError as exc:
        raise ConfigError(f"--shards for bot {bot.name}: {exc.errors()[0]['msg']}") from None


def build_voice(config: AppConfig, base: Path) -> Speech | None:
    """The shared speech service, or None when voice is disabled in config."""
    if not config.voice.enabled:
        return None
    from voice.service import build_speech

    configured = config.voice.cache.dir
    cache_dir = resolve(str(configured), base) if configured else base / "data" / "cache" / "voice"
    return build_speech(config.voice, cache_dir=cache_dir)
