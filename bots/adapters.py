"""Builds a bot's adapters from config, each by the factory its kind is registered with (built-in or a
plugin's); an adapter without a token is disabled with one log line."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, SecretStr

from bots.config import BUILTIN_ADAPTERS, BotConfig
from bots.plugin import ADAPTER, BuildEnv
from bots.registry import Registry
from core.adapter import Adapter
from core.bus import Bus
from core.commands import CommandSpec
from core.speech import Speech
from core.stores.base import SettingsStore
from core.stt import SpeechToText

log = logging.getLogger(__name__)


def _has_token(token: SecretStr | None) -> bool:
    return bool(token and token.get_secret_value().strip())


def sections(bot: BotConfig) -> dict[str, BaseModel]:
    """The bot's configured adapter sections by kind: the built-ins, then plugins' adapters."""
    cfg = bot.adapters
    found: dict[str, BaseModel] = {}
    for name in BUILTIN_ADAPTERS:
        section = getattr(cfg, name)
        if section is not None:
            found[name] = section
    found.update(cfg.plugin_sections())
    return found


def build_adapters(
    bot: BotConfig,
    bus: Bus,
    speech: Speech | None,
    *,
    console: bool = False,
    instance: str = "",
    clips_dir: Path | None = None,
    registry: Registry | None = None,
    commands: Sequence[CommandSpec] = (),
    base: Path | None = None,
    journal_dir: Path | None = None,
    settings: SettingsStore | None = None,
    listener: SpeechToText | None = None,
) -> list[Adapter]:
    """The adapters of ``bot``. With ``console=True`` only a console adapter is built.

    ``clips_dir`` is where the web chat keeps voice replies (a folder per bot is made in it).
    ``journal_dir`` (None: no journal) holds ``telegram-journal.sqlite3``, where the Telegram adapter
    keeps unanswered messages across crashes (see :mod:`adapters.telegram.journal`). ``settings`` (the
    pipeline's settings store) lets Discord voice channels speak with each user's ``/voice`` choice.
    ``listener`` (the speech-to-text service) lets Discord listen in voice channels
    (``bots[].voice_channel.listening``).

    ``instance`` (a gateway process's name) suffixes every adapter id (``companion.discord@g1``),
    so the replies to what this process received come back to this process. ``commands`` are the
    bot's commands, for the platforms' menus.
    """
    registry = registry or Registry.with_builtins()
    at = f"@{instance}" if instance else ""

    def env(kind: str) -> BuildEnv:
        return BuildEnv(
            base=base or Path.cwd(),
            bot=bot.name,
            bus=bus,
            speech=speech,
            adapter_id=f"{bot.name}.{kind}{at}",
            persona_name=bot.persona.name,
            commands=tuple(commands),
            token_hint=bot.token_hint(kind),
            greeting=bot.persona.greeting,
            max_input_chars=bot.pipeline.max_input_chars,
            clips_dir=clips_dir / f"{bot.name}{at}" if clips_dir is not None else None,
            journal_dir=journal_dir,
            settings=settings,
            listener=listener,
            listening=bot.voice_channel.listening,
        )

    if console:
        from adapters.console.config import ConsoleConfig

        console_section = (bot.adapters.console or ConsoleConfig()).model_copy(update={"enabled": True})
        return [registry.build(ADAPTER, console_section, env("console"), "console")]
    adapters: list[Adapter] = []
    # the key in ``adapters:`` is the kind (the built-ins' sections have no ``kind`` field)
    for kind, section in sections(bot).items():
        adapter = registry.build(ADAPTER, section, env(kind), kind)
        if adapter is not None:
            adapters.append(adapter)
    if not adapters:
        log.warning("bot %s has no enabled adapter; it will not receive messages", bot.name)
    return adapters


def adapter_plan(bot: BotConfig) -> list[tuple[str, bool, str]]:
    """For ``run.py check``: (adapter, will start, why) for every configured adapter."""
    cfg = bot.adapters
    plan: list[tuple[str, bool, str]] = []
    if cfg.web is not None:
        plan.append(("web", cfg.web.enabled, f"http://{cfg.web.host}:{cfg.web.port}/" if cfg.web.enabled else "disabled"))
    if cfg.console is not None:
        plan.append(("console", cfg.console.enabled, "terminal" if cfg.console.enabled else "disabled"))
    for name, section in (("telegram", cfg.telegram), ("discord", cfg.discord)):
        if section is not None:
            ok = _has_token(section.token)
            plan.append((name, ok, "token present" if ok else f"no token: disabled ({bot.token_hint(name)})"))
    for name in cfg.plugin_sections():
        plan.append((name, True, "plugin adapter"))
    return plan
