"""The schema of ``config.yaml`` (pydantic) and its loader.

A bad config fails fast with :class:`bots.errors.ConfigError` naming the file,
the key path and what is wrong. Secrets come from the environment with
``${VAR}`` or ``${VAR:-default}`` and are kept as ``SecretStr``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from adapters.console.config import ConsoleConfig
from adapters.discord.config import DiscordConfig
from adapters.telegram.config import TelegramConfig
from adapters.web.config import WebConfig
from bots.config_errors import explain
from bots.envsubst import references, substitute
from bots.errors import ConfigError, PluginError
from bots.registry import Registry
from core.engines.config import EchoEngineConfig, FaqEngineConfig, RetrievalEngineConfig
from core.engines.generative.config import GenerativeEngineConfig
from core.engines.kb.config import KnowledgeBaseEngineConfig
from core.engines.llm.config import OpenAIEngineConfig
from core.kinds import CONTEXT_KEY, KindRegistry, by_kind, unknown_message
from core.pipeline.settings import PipelineSettings
from voice.config import VoiceConfig
from voice.listening.config import ListeningConfig
from voice.stt.config import ListenConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PersonaConfig(_Strict):
    """Who the bot is."""

    name: str = "Bot"
    description: str = "A friendly, helpful chat bot."
    greeting: str = "Hello! How can I help?"
    language: str = "en"


class BotVoiceConfig(_Strict):
    """Voice defaults of one bot (chats change them with /voice)."""

    enabled_by_default: bool = False
    voice: str = ""


class VoiceChannelConfig(_Strict):
    """A bot in voice channels (Discord): ``listening`` is how it hears people there (``/listen``)."""

    listening: ListeningConfig = Field(default_factory=ListeningConfig)


BUILTIN_ADAPTERS = ("web", "console", "telegram", "discord")


class AdaptersConfig(BaseModel):
    """The platforms a bot listens on; a missing section means not used.

    Besides the built-in four, a key may name an adapter a plugin registers (``plugin.adapter``);
    its section is validated by that plugin's model (see :meth:`plugin_sections`).
    """

    model_config = ConfigDict(extra="allow")

    web: WebConfig | None = None
    console: ConsoleConfig | None = None
    telegram: TelegramConfig | None = None
    discord: DiscordConfig | None = None

    @model_validator(mode="after")
    def _plugin_adapters(self, info: ValidationInfo) -> AdaptersConfig:
        registry = (info.context or {}).get(CONTEXT_KEY)
        known = registry.known("adapter") if isinstance(registry, KindRegistry) else list(BUILTIN_ADAPTERS)
        extra = self.__pydantic_extra__ or {}
        for key, value in list(extra.items()):
            if key not in known or not isinstance(registry, KindRegistry):
                reason = unknown_message("adapter", key, known)
                raise PydanticCustomError("unknown_kind", "{reason}", {"reason": reason})
            if value is None or isinstance(value, BaseModel):
                continue
            model = registry.get("adapter", key).model
            try:
                extra[key] = model.model_validate({"kind": key, **value} if isinstance(value, dict) else value)
            except ValidationError as exc:
                errors = [((key, *e["loc"]), e["msg"]) for e in exc.errors()]
                summary = "; ".join(f"{'.'.join(map(str, loc))}: {msg}" for loc, msg in errors)
                raise PydanticCustomError("kind_config", "{summary}", {"summary": summary, "errors": errors}) from None
        return self

    def plugin_sections(self) -> dict[str, BaseModel]:
        """The sections of adapters that plugins register, by kind."""
        return {k: v for k, v in (self.__pydantic_extra__ or {}).items() if isinstance(v, BaseModel)}


if TYPE_CHECKING:
    EngineConfig = BaseModel
else:
    EngineConfig = by_kind(
        "engine", EchoEngineConfig, RetrievalEngineConfig, FaqEngineConfig, GenerativeEngineConfig, OpenAIEngineConfig,
        KnowledgeBaseEngineConfig,
    )
    """A dialogue engine's section: the model its ``kind`` names in the registry (built-in or a plugin's)."""


class BotConfig(_Strict):
    """One bot: persona + engine chain + voice + adapters."""

    name: str
    persona: PersonaConfig = Field(default_factory=PersonaConfig)
    engines: list[EngineConfig] = Field(min_length=1)
    voice: BotVoiceConfig = Field(default_factory=BotVoiceConfig)
    listen: ListenConfig = Field(default_factory=ListenConfig)
    voice_channel: VoiceChannelConfig = Field(default_factory=VoiceChannelConfig)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    adapters: AdaptersConfig = Field(default_factory=AdaptersConfig)
    plugins: list[str] | None = Field(default=None, description="the loaded plugins this bot uses; default: all")
    #: environment variables each adapter's token was read from (for "set VAR" hints)
    _token_vars: dict[str, list[str]] = PrivateAttr(default_factory=dict)

    def token_hint(self, adapter: str) -> str:
        """How to give ``adapter`` its token, for log lines."""
        names = self._token_vars.get(adapter)
        return f"set {' or '.join(names)}" if names else f"set bots[{self.name}].adapters.{adapter}.token"

    @field_validator("pipeline")
    @classmethod
    def _voice_elsewhere(cls, value: PipelineSettings) -> PipelineSettings:
        if value.voice_by_default or value.default_voice:
            raise ValueError("set voice.enabled_by_default and voice.voice in the bot's voice section, not here")
        return value

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,31}", value):
            raise ValueError("must be a short slug: lowercase letters, digits, '-' or '_' (max 32)")
        return value


class StorageConfig(_Strict):
    """Where memory, settings, flood counters and dedupe keys live.

    ``sqlite`` (the single-process default) survives restarts; ``redis`` is shared by every
    worker (required when several workers run); ``memory`` is lost on exit.
    """

    kind: Literal["sqlite", "memory", "redis"] = "sqlite"
    path: str = "data/bots.sqlite3"
    url: str | None = Field(default=None, description="redis URL; default: the bus's")
    namespace: str = "bots"


class BusConfig(_Strict):
    """The bus between adapters (gateways) and the pipeline (workers).

    ``inprocess``: one process does everything. ``redis``: Redis Streams, so gateways
    (``python run.py gateway``) and workers (``python run.py worker``) can run as separate
    processes on separate machines.
    """

    kind: Literal["inprocess", "redis"] = "inprocess"
    url: str = "redis://127.0.0.1:6379/0"
    namespace: str = Field(default="bots", pattern=r"^[A-Za-z0-9_.:-]+$")
    claim_idle_s: float = Field(default=30.0, gt=0, description="a message held this long by a silent worker is reclaimed")
    read_count: int = Field(default=16, ge=1, le=1000)
    max_held: int = Field(default=64, ge=1, le=10_000)
    worker_slots: Annotated[int, Field(ge=0)] | Literal["auto"] = Field(
        default="auto",
        description="workers of a bot reading at once on one machine: auto (one per core), 0 (no limit) or a number; "
        "the others stand by and take over when one stops",
    )
    outbox_limit: int = Field(default=10_000, ge=0, description="messages a gateway keeps while redis is down")
    max_attachment_mb: float = Field(default=20.0, gt=0)
    answered_ttl_s: float = Field(default=86_400.0, gt=0)


class ObservabilityConfig(_Strict):
    """Prometheus ``/metrics`` and ``/healthz`` on every process (``--metrics-port`` overrides the port)."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=9464, ge=0, le=65535)


class LoggingConfig(_Strict):
    """Logging."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_format: bool = Field(default=False, alias="json")


class AppConfig(_Strict):
    """The whole of config.yaml."""

    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    bus: BusConfig = Field(default_factory=BusConfig)
    observability: ObservabilityConfig = Field(default_factory=ObservabilityConfig)
    voice: VoiceConfig = Field(default_factory=VoiceConfig)
    plugins: list[str] = Field(default_factory=list, description="plugin modules or entry-point names to load")
    plugin_dirs: list[str] = Field(default_factory=list, description="folders of plugins, relative to this file")
    plugin_config: dict[str, dict[str, Any]] = Field(default_factory=dict, description="settings per plugin name")
    bots: list[BotConfig] = Field(min_length=1)
    #: the plugins and kinds this config was validated with (built-ins only when built in code)
    _registry: Registry | None = PrivateAttr(default=None)

    @property
    def registry(self) -> Registry:
        """The registry of this config's plugins (the built-ins when none were loaded)."""
        if self._registry is None:
            self._registry = Registry.with_builtins()
        return self._registry

    @model_validator(mode="after")
    def _unique(self) -> AppConfig:
        names = [b.name for b in self.bots]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"bot names must be unique; repeated: {', '.join(dupes)}")
        ports = [
            (b.adapters.web.host, b.adapters.web.port)
            for b in self.bots
            if b.adapters.web and b.adapters.web.enabled and b.adapters.web.port
        ]
        clash = sorted({p for p in ports if ports.count(p) > 1})
        if clash:
            raise ValueError(f"two web adapters listen on the same address: {clash[0][0]}:{clash[0][1]}")
        return self


def _loc(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def _error_lines(source: str, exc: ValidationError, raw: Any, env: Mapping[str, str] | None) -> list[str]:
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        nested = (err.get("ctx") or {}).get("errors") if err["type"] == "kind_config" else None
        if nested:  # a section validated by the model its kind names: name each nested key
            lines += [f"{source}: {_loc(loc + tuple(inner))}: {msg}" for inner, msg in nested]
        else:
            lines.append(f"{source}: {_loc(loc)}: {explain(err, loc, raw, AppConfig, env)}")
    return lines


def parse_config(
    raw: Any, source: str = "config.yaml", env: dict[str, str] | None = None, base: Path | None = None
) -> AppConfig:
    """Validate an already-loaded YAML document.

    The plugins it names are loaded first (``plugin_dirs`` relative to ``base``, default: the folder
    of ``source``), so their engine, TTS and adapter kinds validate like the built-ins.

    Raises:
        ConfigError: the document does not validate; :class:`bots.errors.PluginError` (a ConfigError)
            when a plugin cannot be loaded or its settings do not validate.
    """
    from bots.loader import load_plugins

    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping with a 'bots' list")
    try:
        data = substitute(raw, env)
    except RecursionError:  # a YAML alias that contains itself (a: &x [*x]), or absurd nesting
        raise ConfigError(f"{source}: a value refers to itself or is nested too deeply") from None
    folder = base if base is not None else Path(source).resolve().parent
    registry = load_plugins(data, source, folder)
    try:
        config = AppConfig.model_validate(data, context={CONTEXT_KEY: registry.kinds})
    except RecursionError:  # a YAML alias that contains itself (a: &x [*x]), or absurd nesting
        raise ConfigError(f"{source}: a value refers to itself or is nested too deeply") from None
    except ValidationError as exc:
        raise ConfigError("\n".join(_error_lines(source, exc, raw, env))) from None
    config._registry = registry
    for i, bot in enumerate(config.bots):
        try:
            registry.for_bot(bot.plugins)
        except PluginError as exc:
            raise PluginError(f"{source}: bots.{i}.plugins: {exc}") from None
    refs = references(raw)
    for i, bot in enumerate(config.bots):
        bot._token_vars = {name: refs.get(f"bots.{i}.adapters.{name}.token", []) for name in ("telegram", "discord")}
    return config


def load_config(path: str | Path, env: dict[str, str] | None = None) -> AppConfig:
    """Read, substitute and validate ``path``.

    Raises:
        ConfigError: the file is missing, is not YAML, or does not validate.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{file}: not UTF-8 text (byte {exc.start})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError(f"{file}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    return parse_config(raw, str(file), env)
