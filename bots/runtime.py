"""Running bots: each bot is a bus, a pipeline, an engine chain and its adapters; they share stores and voice."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError

from bots.adapters import build_adapters
from bots.config import AppConfig, BotConfig
from bots.engines import build_chain, resolve
from bots.errors import ConfigError, PluginError
from bots.plugin import TTS_ENGINE, BotHandle, BuildEnv, MessageHandlers, Plugin
from bots.registry import Registry, commands_of
from bots.stores import build_stores
from bots.supervisor import AdapterSupervisor
from core.adapter import Adapter
from core.bus import Bus, InProcessBus
from core.engine import Persona
from core.engines.chain import EngineChain
from core.lifecycle import Resource
from core.pipeline.commands import CommandRouter
from core.pipeline.context import BotServices
from core.pipeline.facts import RememberFacts
from core.pipeline.listen import Transcribe
from core.pipeline.middleware import Middleware
from core.pipeline.middlewares import AccessControl, AddressedOnly, Dedupe, FloodControl, Validate
from core.pipeline.pipeline import Pipeline
from core.pipeline.settings import FloodLimits, PipelineSettings
from core.speech import Speech
from core.stt import ListenSettings, SpeechToText

if TYPE_CHECKING:
    from bots.observability import ObservabilityServer

log = logging.getLogger(__name__)


def pipeline_settings(bot: BotConfig) -> PipelineSettings:
    """The frozen pipeline settings of a bot: its ``pipeline:`` section with its voice and listening settings."""
    return replace(
        bot.pipeline,
        voice_by_default=bot.voice.enabled_by_default,
        default_voice=bot.voice.voice,
        listen=listen_settings(bot),
    )


def listen_settings(bot: BotConfig) -> ListenSettings:
    """The frozen listening settings of a bot."""
    c = bot.listen
    return ListenSettings(
        enabled=c.enabled,
        show_transcript=c.show_transcript,
        voice_reply=c.voice_reply,
        max_duration_s=c.max_duration_s,
        max_bytes=int(c.max_mb * 1024 * 1024),
        download_timeout_s=c.download_timeout_s,
    )


def plugin_middlewares(plugins: list[Plugin]) -> list[Middleware]:
    """The pipeline of a bot using ``plugins``: addressing, dedupe, validation, flood control, access,
    transcription of speech, the plugins' middlewares (in load order), the command router (built-in and plugin commands), then
    the plugins' message handlers, when any plugin has some; the dialogue engine answers what none of them did."""
    middlewares: list[Middleware] = [AddressedOnly(), Dedupe(), Validate(), FloodControl(), AccessControl(), Transcribe()]
    for plugin in plugins:
        middlewares.extend(plugin.middlewares)
    middlewares.append(CommandRouter(commands_of(plugins)))
    middlewares.append(RememberFacts())
    rules = [rule for p in plugins for rule in p.message_rules]
    if rules:  # none: no step that would look at each message for nothing (a frame and a call per message)
        middlewares.append(MessageHandlers(rules))
    return middlewares


class _Hooks(Resource):
    """The plugins' ``on_start`` / ``on_stop`` hooks of one bot, as one resource."""

    def __init__(self, plugins: list[Plugin], bot: BotHandle) -> None:
        self.plugins = plugins
        self.bot = bot
        self._started: list[Plugin] = []

    async def start(self) -> None:
        for plugin in self.plugins:
            for hook in plugin.start_hooks:
                try:
                    await hook(self.bot)
                except Exception as exc:
                    raise PluginError(
                        f"plugin {plugin.name}: on_start hook {getattr(hook, '__name__', hook)} failed for bot "
                        f"{self.bot.name}: {type(exc).__name__}: {exc}"
                    ) from exc
            self._started.append(plugin)

    async def stop(self) -> None:
        while self._started:
            plugin = self._started.pop()
            for hook in plugin.stop_hooks:
                try:
                    await hook(self.bot)
                except Exception:  # stop the others too
                    log.exception("plugin %s: on_stop hook failed for bot %s", plugin.name, self.bot.name)


class BotRuntime(Resource):
    """One running bot: its bus, and its pipeline (with the engine chain) and/or its supervised adapters.

    All-in-one runs both halves; a gateway process runs only the adapters (``services`` is None),
    a worker process only the pipeline (no adapters).
    """

    def __init__(
        self,
        config: BotConfig,
        services: BotServices | None,
        bus: Bus,
        adapters: list[Adapter],
        plugins: list[Plugin] | None = None,
    ) -> None:
        self.config = config
        self.services = services
        self.bus = bus
        self.adapters = adapters
        self.plugins = plugins if plugins is not None else Registry.with_builtins().plugins
        self.supervisors = [AdapterSupervisor(a) for a in adapters]
        self.pipeline = (
            Pipeline(services, bus, plugin_middlewares(self.plugins)) if services is not None else None
        )
        self.hooks = _Hooks(self.plugins, BotHandle(config.name, services, bus)) if services is not None else None
        self._started: list[Resource] = []

    @property
    def name(self) -> str:
        return self.config.name

    async def start(self) -> None:
        """Start the engines, bus and pipeline; then every adapter (an adapter that cannot connect is
        retried in the background and does not stop the others)."""
        halves: tuple[Resource, ...] = (self.bus,)
        if self.services is not None and self.pipeline is not None and self.hooks is not None:
            halves = (self.services.engine, self.bus, self.pipeline, self.hooks)
        for resource in halves:
            await resource.start()
            self._started.append(resource)
        await asyncio.gather(*(s.start() for s in self.supervisors))
        self._started.extend(self.supervisors)

    async def stop(self) -> None:
        """Graceful: finish the messages in flight, deliver every reply already produced, then close."""
        if self.hooks is not None and self.hooks in self._started:
            self._started.remove(self.hooks)
            await self.hooks.stop()
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
        self.registry: Registry = config.registry
        self.speech: Speech | None = build_voice(config, base, self.registry) if wants_voice else None
        # voice-channel listening runs where the adapters are (a gateway in a split setup)
        wants_listener = with_voice and any(
            (b.listen.enabled and role != "gateway") or (b.voice_channel.listening.enabled and role != "worker")
            for b in config.bots)
        self.listener: SpeechToText | None = build_listener(config) if wants_listener else None
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
            if bot.bus.consumer:
                return bot.bus.consumer
        return self.instance or "all-in-one"

    def _health_checks(self) -> dict[str, Callable[[], Awaitable[bool]]]:
        """What ``/healthz`` checks: each bus answers, each pipeline runs, each adapter is connected."""
        checks: dict[str, Callable[[], Awaitable[bool]]] = {}
        for bot in self.bots:
            checks[f"{bot.name}.bus"] = bot.bus.ping
            if bot.pipeline is not None:
                checks[f"{bot.name}.pipeline"] = _now(bot.pipeline.running)
            for supervisor in bot.supervisors:
                checks[supervisor.adapter.adapter_id] = _running(supervisor)
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
            worker_slots=None if b.worker_slots == "auto" else b.worker_slots,
            outbox_limit=b.outbox_limit,
            answered_ttl_s=b.answered_ttl_s,
            max_attachment_bytes=int(b.max_attachment_mb * 1024 * 1024),
        )
        return RedisBus(settings, bot=bot.name)

    def _build_bot(self, bot: BotConfig, console: bool) -> BotRuntime:
        bus = self._build_bus(bot)
        plugins = self.registry.for_bot(bot.plugins)
        specs = tuple(c.spec for c in commands_of(plugins))
        services: BotServices | None = None
        if self.role != "gateway":
            assert self.stores is not None
            engine: EngineChain = build_chain(bot, self.base, registry=self.registry)
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
                listener=self.listener,
                # the terminal chat is the operator alone: flood control would only drop pasted lines
                config=replace(pipeline_settings(bot), flood=FloodLimits(0, 0, 1)) if console else pipeline_settings(bot),
                commands=specs,
            )
        adapters: list[Adapter] = []
        if self.role != "worker":
            suffix = self.instance if self.role == "gateway" else ""
            # The Telegram journal in the default single process with SQLite storage (a gateway's
            # messages wait in the redis bus instead; memory storage keeps nothing by design).
            journal_dir = None
            if self.role == "all" and self.config.storage.kind == "sqlite":
                journal_dir = resolve(self.config.storage.path, self.base).parent
            clips = voice_cache_dir(self.config, self.base) / "web" if self.config.voice.enabled else None
            adapters = build_adapters(
                bot,
                bus,
                self.speech,
                console=console,
                instance=suffix,
                clips_dir=clips,
                registry=self.registry,
                commands=specs,
                base=self.base,
                journal_dir=journal_dir,
                settings=self.stores.settings if self.stores is not None else None,
                listener=self.listener,
            )
        return BotRuntime(bot, services, bus, adapters, plugins)

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
        if self.listener is not None:
            await self.listener.start()
            self._started.append(self.listener)
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


def _running(supervisor: AdapterSupervisor) -> Callable[[], Awaitable[bool]]:
    return _now(lambda: supervisor.running)


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


def build_voice(config: AppConfig, base: Path, registry: Registry | None = None) -> Speech | None:
    """The shared speech service, or None when voice is disabled in config; TTS engines are built by
    the factories their kinds are registered with."""
    if not config.voice.enabled:
        return None
    from voice.service import build_speech

    kinds = registry or config.registry

    def build_engine(section: Any, ffmpeg: str) -> Any:
        return kinds.build(TTS_ENGINE, section, BuildEnv(base=base, ffmpeg=ffmpeg))

    return build_speech(config.voice, cache_dir=voice_cache_dir(config, base), factory=build_engine)


def voice_cache_dir(config: AppConfig, base: Path) -> Path:
    """The voice cache's folder (the web chat keeps its voice replies in its ``web/`` subfolder)."""
    configured = config.voice.cache.dir
    return resolve(str(configured), base) if configured else base / "data" / "cache" / "voice"


def build_listener(config: AppConfig) -> SpeechToText | None:
    """The shared speech-to-text service, or None when it is disabled in config."""
    if not config.voice.stt.enabled:
        return None
    from voice.stt.service import build_listener as build

    ffmpeg = config.voice.stt.ffmpeg or config.voice.audio.ffmpeg
    return build(config.voice.stt, str(ffmpeg) if ffmpeg else None)
