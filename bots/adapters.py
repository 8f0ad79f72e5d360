"""Builds a bot's adapters from config; an adapter without a token is disabled with one log line."""

from __future__ import annotations

import logging

from pydantic import SecretStr

from bots.config import BotConfig
from core.adapter import Adapter
from core.bus import Bus
from core.speech import Speech
from core.stores.base import SettingsStore

log = logging.getLogger(__name__)


def _has_token(token: SecretStr | None) -> bool:
    return bool(token and token.get_secret_value().strip())


def build_adapters(
    bot: BotConfig, bus: Bus, speech: Speech | None, *, console: bool = False, instance: str = "",
    settings: SettingsStore | None = None,
) -> list[Adapter]:
    """The adapters of ``bot``. With ``console=True`` only a console adapter is built.

    ``instance`` (a gateway process's name) suffixes every adapter id (``companion.discord@g1``),
    so the replies to what this process received come back to this process. ``settings`` (the
    pipeline's settings store) lets Discord voice channels speak with each user's ``/voice`` choice.
    """
    cfg = bot.adapters
    at = f"@{instance}" if instance else ""
    adapters: list[Adapter] = []
    if console:
        from adapters.console.adapter import ConsoleAdapter
        from adapters.console.config import ConsoleConfig

        return [ConsoleAdapter(f"{bot.name}.console{at}", bus, cfg.console or ConsoleConfig(enabled=True), bot.persona.name)]
    if cfg.web is not None and cfg.web.enabled:
        from adapters.web.adapter import WebAdapter

        adapters.append(WebAdapter(f"{bot.name}.web{at}", bus, cfg.web, title=cfg.web.title or bot.persona.name))
    if cfg.console is not None and cfg.console.enabled:
        from adapters.console.adapter import ConsoleAdapter

        adapters.append(ConsoleAdapter(f"{bot.name}.console{at}", bus, cfg.console, bot.persona.name))
    if cfg.telegram is not None:
        if _has_token(cfg.telegram.token):
            from adapters.telegram.adapter import TelegramAdapter

            adapters.append(TelegramAdapter(f"{bot.name}.telegram{at}", bus, cfg.telegram))
        else:
            log.info("bot %s: telegram adapter disabled: no token (%s)", bot.name, bot.token_hint("telegram"))
    if cfg.discord is not None:
        if _has_token(cfg.discord.token):
            from adapters.discord.adapter import DiscordAdapter
            from adapters.discord.voice import voice_of_store

            voice_of = voice_of_store(settings, bot.name) if settings is not None else None
            adapters.append(DiscordAdapter(f"{bot.name}.discord{at}", bus, cfg.discord, speech, voice_of=voice_of))
        else:
            log.info("bot %s: discord adapter disabled: no token (%s)", bot.name, bot.token_hint("discord"))
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
    return plan
