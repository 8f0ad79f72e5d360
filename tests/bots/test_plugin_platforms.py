"""The issue's "done when": the dice plugin (a command, a message handler, an engine kind) listed in the
config and used in the web chat, on (fake) Telegram and on (fake) Discord, whose command menus
(setMyCommands, slash commands) list the plugin's commands with their options."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import discord
import pytest
from discord.http import Route

from tests.adapters.discord.conftest import ALICE, ANSWERS, GENERAL, GUILD
from tests.adapters.discord.fake_discord import FakeDiscord
from tests.adapters.telegram.conftest import FAST_LIMITS, FAST_RETRY
from tests.adapters.telegram.fake_bot_api import TOKEN, FakeBotApi
from tests.bots.plugin_app import EXAMPLES, app_config, load, running, web_chat

USER_CHAT = 501


@pytest.fixture
async def discord_api() -> AsyncIterator[FakeDiscord]:
    base, gateway = Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    server = FakeDiscord()
    server.add_guild(GUILD, {GENERAL: "general", ANSWERS: "answers"}, members=[ALICE])
    await server.start()
    yield server
    await server.stop()
    Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = base, gateway


@pytest.fixture
async def telegram_api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as server:
        yield server


def _config(tmp_path: Path, tg: FakeBotApi, dc: FakeDiscord) -> dict[str, Any]:
    bot = {
        "name": "dicebot",
        "engines": [{"kind": "shout", "suffix": "!!"}],
        "pipeline": {"flood": {"per_user": 0, "per_chat": 0}},
        "adapters": {
            "web": {"port": 0},
            "telegram": {"token": TOKEN, "base_url": tg.base_url, "base_file_url": tg.base_file_url, "poll_timeout_s": 1,
                         "rate_limits": FAST_LIMITS, "retry": FAST_RETRY},
            "discord": {"token": "test-token", "api_base_url": dc.api_base, "gateway_url": dc.gateway_url,
                        "guild_ready_timeout_s": 0.05, "answer_channels": [str(ANSWERS)], "dev_guild_ids": [str(GUILD)]},
        },
    }
    # the folder as a user would write it: relative to the config file
    return app_config(tmp_path, bots=[bot], plugin_dirs=["plugins"], plugin_config={"dice": {"max_sides": 50}})


async def test_dice_plugin_on_web_telegram_and_discord(
    tmp_path: Path, telegram_api: FakeBotApi, discord_api: FakeDiscord
) -> None:
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "dice.py").write_text((EXAMPLES / "dice.py").read_text())
    config = load(_config(tmp_path, telegram_api, discord_api), tmp_path)
    tg, dc = telegram_api, discord_api
    async with running(config, tmp_path) as app:
        # the menus come from the registry: built-ins and the plugin's /roll with its option
        menu = {c["command"]: c["description"] for c in tg.answered("setMyCommands")[0].params["commands"]}
        assert {"start", "help", "reset", "voice", "voices", "roll"} <= menu.keys()
        assert menu["roll"] == "Roll a die with N sides (default 6) [sides]"
        (sync,) = [s for s in dc.sent if s.method == "PUT" and s.path.endswith("/commands")]
        slash = {c["name"]: c for c in sync.json}
        assert {"ask", "join", "roll", "help", "voice", "reset"} <= slash.keys()
        (sides,) = slash["roll"]["options"]
        assert sides["name"] == "sides" and sides["type"] == 4 and not sides.get("required", False)  # 4: integer
        (setting,) = slash["voice"]["options"]  # an explicit option spec (the handler takes the raw text)
        assert setting["name"] == "setting" and setting["description"] == "on, off, a voice name, or rate 1.2"

        async with web_chat(app) as chat:
            assert (await chat.ask("/roll 20"))["text"].endswith("(d20)")
            assert (await chat.ask("/roll 99"))["text"] == "A die has 2 to 50 sides."
            assert (await chat.ask("thank you!"))["text"] == "You're welcome!"
            assert (await chat.ask("hello"))["text"] == "HELLO!!"

        for text, want in (("/roll 12", "(d12)"), ("thanks", "You're welcome!"), ("hi there", "HI THERE!!")):
            before = len(tg.answered("sendMessage", USER_CHAT))
            tg.inject_message(USER_CHAT, text)
            await tg.wait_for(lambda b=before: len(tg.answered("sendMessage", USER_CHAT)) > b)
            assert tg.answered("sendMessage", USER_CHAT)[-1].params["text"].endswith(want)

        await dc.message(ANSWERS, ALICE, "thanks a lot", guild_id=GUILD)
        await dc.message(ANSWERS, ALICE, "good morning", guild_id=GUILD)
        await dc.wait_for(lambda: len(dc.messages(ANSWERS)) >= 2)
        assert [s.json["content"] for s in dc.messages(ANSWERS)] == ["You're welcome!", "GOOD MORNING!!"]
        await dc.interaction("roll", {"sides": "8"}, guild_id=GUILD, channel_id=GENERAL, member=ALICE)
        hooks = await dc.wait_for(lambda: [s for s in dc.sent if s.path.startswith("/webhooks/") and s.json])
        assert hooks[0].json["content"].endswith("(d8)")
