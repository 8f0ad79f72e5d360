"""Assembling bots from config: adapters disabled without tokens, a console chat end to end."""

from __future__ import annotations

import asyncio
import io
import logging
from pathlib import Path

import pytest

from adapters.console.adapter import ConsoleAdapter
from bots.adapters import adapter_plan, build_adapters
from bots.config import parse_config
from bots.runtime import App
from core.bus import InProcessBus


def _config(tmp_path: Path, **bot: object) -> dict[str, object]:
    base = {"name": "b", "engines": [{"kind": "echo", "prefix": "echo: "}]}
    base.update(bot)
    return {"storage": {"kind": "sqlite", "path": str(tmp_path / "db.sqlite3")}, "voice": {"enabled": False}, "bots": [base]}


def test_adapter_without_token_is_disabled_with_one_clear_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    raw = _config(tmp_path, adapters={"telegram": {"token": "${TG}"}, "discord": {"token": ""}})
    config = parse_config(raw, env={})
    with caplog.at_level(logging.INFO):
        adapters = build_adapters(config.bots[0], InProcessBus(), None)
    assert adapters == []
    lines = [r.getMessage() for r in caplog.records if "disabled" in r.getMessage()]
    assert len(lines) == 2 and "telegram adapter disabled: no token (set TG)" in lines[0]
    assert "discord adapter disabled: no token (set bots[b].adapters.discord.token)" in lines[1]
    assert ("telegram", False, "no token: disabled (set TG)") in adapter_plan(config.bots[0])


async def test_console_chat_end_to_end_and_history_survives_restart(tmp_path: Path) -> None:
    config = parse_config(_config(tmp_path))
    for round_ in ("first", "second"):
        out = io.StringIO()
        app = App(config, tmp_path, console_only="b", with_voice=False)
        console = app.bots[0].adapters[0]
        assert isinstance(console, ConsoleAdapter)
        console.stdin = io.StringIO(f"hello {round_}\n/quit\n")
        console.stdout = out
        await app.start()
        await asyncio.wait_for(console.closed.wait(), 10)
        await app.bots[0].pipeline.idle()
        history = await app.stores.conversations.recent("console:console")
        await app.stop()
        assert f"Bot> echo: hello {round_}\n" in out.getvalue()
    assert [t.text for t in history] == ["hello first", "echo: hello first", "hello second", "echo: hello second"]


async def test_discord_voice_channels_read_users_voice_choice_from_the_settings_store(tmp_path: Path) -> None:
    from adapters.discord.adapter import DiscordAdapter
    from core.stores.memory import MemorySettingsStore

    config = parse_config(_config(tmp_path, adapters={"discord": {"token": "t"}}), env={})
    store = MemorySettingsStore()
    await store.update("b:user:discord:42", {"voice_name": "amy", "voice_rate": 1.3})  # what /voice stores
    (without,) = build_adapters(config.bots[0], InProcessBus(), None)
    (adapter,) = build_adapters(config.bots[0], InProcessBus(), None, settings=store)
    assert isinstance(adapter, DiscordAdapter) and isinstance(without, DiscordAdapter)
    chosen = await adapter.voice.settings_for("discord:42")
    assert (chosen.voice, chosen.rate) == ("amy", 1.3)
    assert await adapter.voice.settings_for("discord:7") == adapter.voice.settings  # no choice: the config's
    assert await without.voice.settings_for("discord:42") == without.voice.settings
