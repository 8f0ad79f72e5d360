"""The schema of ``config.yaml`` (pydantic) and its loader.

A bad config fails fast with :class:`bots.errors.ConfigError` naming the file,
the key path and what is wrong. Secrets come from the environment with
``${VAR}`` or ``${VAR:-default}`` and are kept as ``SecretStr``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from adapters.console.config import ConsoleConfig
from adapters.discord.config import DiscordConfig
from adapters.telegram.config import TelegramConfig
from adapters.web.config import WebConfig
from bots.envsubst import references, substitute
from bots.errors import ConfigError
from core.engines.config import EchoEngineConfig, FaqEngineConfig, RetrievalEngineConfig
from core.engines.generative.config import GenerativeEngineConfig
from core.engines.kb.config import KnowledgeBaseEngineConfig
from core.engines.llm.config import OpenAIEngineConfig
from voice.config import VoiceConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PersonaConfig(_Strict):
    """Who the bot is."""

    name: str = "Bot"
    description: str = "A friendly, helpful chat bot."
    greeting: str = "Hello! How can I help?"
    language: str = "en"


class FloodConfig(_Strict):
    """Flood control: messages allowed per user and per chat in a window (0 disables a limit)."""

    per_user: int = Field(default=8, ge=0)
    per_chat: int = Field(default=20, ge=0)
    window_s: float = Field(default=10.0, gt=0)


class AccessConfig(_Strict):
    """Allow/deny lists of ``platform:id`` keys, admins, and commands only admins may use."""

    allow_chats: list[str] = Field(default_factory=list)
    deny_chats: list[str] = Field(default_factory=list)
    allow_users: list[str] = Field(default_factory=list)
    deny_users: list[str] = Field(default_factory=list)
    admins: list[str] = Field(default_factory=list)
    admin_commands: list[str] = Field(default_factory=list)


class PipelineConfig(_Strict):
    """Pipeline knobs."""

    history_turns: int = Field(default=20, ge=1, le=1000)
    max_input_chars: int = Field(default=4000, ge=1)
    engine_timeout_s: float = Field(default=20.0, gt=0)
    first_piece_timeout_s: float = Field(default=10.0, gt=0)
    stream_interval_s: float = Field(default=0.05, ge=0, le=5)
    flood: FloodConfig = Field(default_factory=FloodConfig)
    access: AccessConfig = Field(default_factory=AccessConfig)


class BotVoiceConfig(_Strict):
    """Voice defaults of one bot (chats change them with /voice)."""

    enabled_by_default: bool = False
    voice: str = ""


class AdaptersConfig(_Strict):
    """The platforms a bot listens on; a missing section means not used."""

    web: WebConfig | None = None
    console: ConsoleConfig | None = None
    telegram: TelegramConfig | None = None
    discord: DiscordConfig | None = None


EngineConfig = Annotated[
    EchoEngineConfig | RetrievalEngineConfig | FaqEngineConfig | GenerativeEngineConfig | OpenAIEngineConfig
    | KnowledgeBaseEngineConfig,
    Field(discriminator="kind"),
]


class BotConfig(_Strict):
    """One bot: persona + engine chain + voice + adapters."""

    name: str
    persona: PersonaConfig = Field(default_factory=PersonaConfig)
    engines: list[EngineConfig] = Field(min_length=1)
    voice: BotVoiceConfig = Field(default_factory=BotVoiceConfig)
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig)
    adapters: AdaptersConfig = Field(default_factory=AdaptersConfig)
    #: environment variables each adapter's token was read from (for "set VAR" hints)
    _token_vars: dict[str, list[str]] = PrivateAttr(default_factory=dict)

    def token_hint(self, adapter: str) -> str:
        """How to give ``adapter`` its token, for log lines."""
        names = self._token_vars.get(adapter)
        return f"set {' or '.join(names)}" if names else f"set bots[{self.name}].adapters.{adapter}.token"

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
    bots: list[BotConfig] = Field(min_length=1)

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


def parse_config(raw: Any, source: str = "config.yaml", env: dict[str, str] | None = None) -> AppConfig:
    """Validate an already-loaded YAML document."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping with a 'bots' list")
    try:
        config = AppConfig.model_validate(substitute(raw, env))
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p in _UNION_TAGS))
            lines.append(f"{source}: {_loc(loc)}: {err['msg']}")
        raise ConfigError("\n".join(lines)) from None
    refs = references(raw)
    for i, bot in enumerate(config.bots):
        bot._token_vars = {name: refs.get(f"bots.{i}.adapters.{name}.token", []) for name in ("telegram", "discord")}
    return config


_UNION_TAGS = {"echo", "retrieval", "faq", "generative", "openai", "kb"}


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
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError(f"{file}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    return parse_config(raw, str(file), env)
