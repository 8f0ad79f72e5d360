"""examples/plugins/reminders.py: set in the web chat, delivered later, and not lost across a restart."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.bots.plugin_app import EXAMPLES, app_config, load, running, web_chat


def _raw(tmp_path: Path) -> dict[str, object]:
    return app_config(tmp_path, plugin_dirs=[str(EXAMPLES)], plugin_config={"reminders": {"tick_s": 0.05}})


async def test_a_reminder_is_delivered_when_due(tmp_path: Path) -> None:
    config = load(_raw(tmp_path), tmp_path)
    async with running(config, tmp_path) as app, web_chat(app) as chat:
        started = time.monotonic()
        assert (await chat.ask("/remind 1s stretch"))["text"] == "OK, I'll remind you in 1s: stretch"
        done, _ = await chat.until("done", timeout=10)
        assert done["text"] == "⏰ Reminder for Web user: stretch"
        assert time.monotonic() - started >= 0.9
        assert (await chat.ask("/reminders"))["text"] == "No reminders pending in this chat."


async def test_bad_delay_gets_the_usage(tmp_path: Path) -> None:
    config = load(_raw(tmp_path), tmp_path)
    async with running(config, tmp_path) as app, web_chat(app) as chat:
        for text in ("/remind soon call mum", "/remind 5m", "/remind"):
            done = await chat.ask(text)
            assert done["notice"] and "/remind" in done["text"], text


async def test_pending_reminders_survive_a_restart(tmp_path: Path) -> None:
    config = load(_raw(tmp_path), tmp_path)
    async with running(config, tmp_path) as app, web_chat(app, session="session-remind01") as chat:
        await chat.ask("/remind 2s water the plants")
        await chat.ask("/remind 1d renew the domain")
        listed = (await chat.ask("/reminders"))["text"]
        assert "water the plants" in listed and "renew the domain" in listed
    # down before the first was due; the SQLite settings store kept both
    await asyncio.sleep(2.2)
    config = load(_raw(tmp_path), tmp_path)
    async with running(config, tmp_path) as app, web_chat(app, session="session-remind01") as chat:
        done, _ = await chat.until("done", timeout=10)
        assert done["text"].startswith("⏰ Reminder for Web user: water the plants")
        listed = (await chat.ask("/reminders"))["text"]
        assert "renew the domain" in listed and "water" not in listed
