"""Reminders that survive restarts: ``/remind 10m stretch your legs``.

Pending reminders live in the bot's settings store (SQLite by default, Redis when scaled out), so a
restart loses none: the ``on_start`` hook loads them and fires those that came due while the bot was
down. Each reminder is claimed in the dedupe store before it is sent, so several workers sharing a
Redis store send it once. (The pending list is one settings entry per bot, updated under a lock that is
per process: with several workers, two reminders added at the same instant on different workers can
overwrite each other. Run one worker, or keep reminders in a store with atomic updates, if that matters.)

Settings (``plugin_config: {reminders: {...}}``): ``max_per_chat``, ``max_delay_days``, ``tick_s``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from typing import Any

from pydantic import BaseModel, Field

from bots.plugin import BotHandle, Context, Plugin
from core.model import Chat, ChatKind, ReplyTarget

log = logging.getLogger(__name__)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DELAY = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")


class RemindersSettings(BaseModel):
    """``plugin_config: {reminders: {max_per_chat: 20}}``."""

    max_per_chat: int = Field(default=20, ge=1, le=1000)
    max_delay_days: float = Field(default=365, gt=0)
    tick_s: float = Field(default=1.0, gt=0, le=60, description="how often due reminders are looked for")


plugin = Plugin("reminders", description="Reminders", config=RemindersSettings)

# per bot: the scheduler task and a lock around the stored list
_tasks: dict[str, asyncio.Task[None]] = {}
_locks: dict[str, asyncio.Lock] = {}


def _scope(bot: str) -> str:
    return f"{bot}:plugin:reminders"


def parse_delay(word: str) -> float | None:
    """``90s``, ``10m``, ``1.5h``, ``2d`` in seconds, or None."""
    match = _DELAY.match(word.strip().lower())
    return float(match.group(1)) * _UNITS[match.group(2)] if match else None


def _target(ctx: Context) -> dict[str, Any]:
    t = ctx.target
    return {"destination": t.destination, "chat": t.chat.id, "kind": t.chat.kind.value, "title": t.chat.title}


def _restore(saved: dict[str, Any]) -> ReplyTarget:
    chat = Chat(str(saved["chat"]), ChatKind(saved["kind"]), str(saved.get("title", "")))
    return ReplyTarget(destination=str(saved["destination"]), chat=chat)


@plugin.command("remind", "Remind you later: /remind 10m stretch your legs")
async def remind(ctx: Context, when: str, text: str = "") -> None:
    settings: RemindersSettings = plugin.settings
    delay = parse_delay(when)
    if delay is None or not text.strip():
        await ctx.reply("Usage: /remind <delay> <text>, with a delay like 90s, 10m, 2h or 1d.", notice=True)
        return
    if delay > settings.max_delay_days * 86400:
        await ctx.reply(f"I can remind you at most {settings.max_delay_days:g} days ahead.", notice=True)
        return
    bot = ctx.services.name
    async with _locks.setdefault(bot, asyncio.Lock()):
        pending = list((await ctx.settings.get(_scope(bot))).get("pending", []))
        mine = [r for r in pending if r["chat_key"] == ctx.message.chat_key]
        if len(mine) >= settings.max_per_chat:
            await ctx.reply(f"This chat has {len(mine)} reminders pending already; that is the limit.", notice=True)
            return
        pending.append(
            {
                "id": uuid.uuid4().hex,
                "due": time.time() + delay,
                "text": text.strip(),
                "user": ctx.message.author.display_name,
                "chat_key": ctx.message.chat_key,
                "target": _target(ctx),
            }
        )
        await ctx.settings.update(_scope(bot), {"pending": pending})
    await ctx.reply(f"OK, I'll remind you in {when.strip()}: {text.strip()}")


@plugin.command("reminders", "List this chat's pending reminders")
async def reminders(ctx: Context) -> None:
    pending = (await ctx.settings.get(_scope(ctx.services.name))).get("pending", [])
    mine = sorted((r for r in pending if r["chat_key"] == ctx.message.chat_key), key=lambda r: r["due"])
    if not mine:
        await ctx.reply("No reminders pending in this chat.")
        return
    now = time.time()
    lines = [f"- in {max(0, int(r['due'] - now))} s: {r['text']}" for r in mine]
    await ctx.reply("Pending reminders:\n" + "\n".join(lines))


async def fire_due(bot: BotHandle, now: float | None = None) -> int:
    """Send every reminder that is due; returns how many were sent."""
    now = time.time() if now is None else now
    store = bot.services.settings
    async with _locks.setdefault(bot.name, asyncio.Lock()):
        pending = list((await store.get(_scope(bot.name))).get("pending", []))
        due = [r for r in pending if r["due"] <= now]
        if not due:
            return 0
        await store.update(_scope(bot.name), {"pending": [r for r in pending if r["due"] > now]})
    sent = 0
    for reminder in due:
        # one sender per reminder even when several workers share the stores
        if not await bot.services.dedupe.claim(f"{bot.name}:reminder:{reminder['id']}", 7 * 86400):
            continue
        late = now - reminder["due"]
        note = f" (late by {int(late)} s: I was offline)" if late > 60 else ""
        try:
            await bot.send(_restore(reminder["target"]), f"⏰ Reminder for {reminder['user']}: {reminder['text']}{note}")
            sent += 1
        except Exception:  # one undeliverable reminder must not stop the rest
            log.exception("reminders: could not deliver reminder %s", reminder["id"])
    return sent


async def _run(bot: BotHandle) -> None:
    while True:
        try:
            await fire_due(bot)
        except Exception:  # keep the scheduler alive
            log.exception("reminders: checking bot %s failed", bot.name)
        await asyncio.sleep(plugin.settings.tick_s)


@plugin.on_start
async def start(bot: BotHandle) -> None:
    _tasks[bot.name] = asyncio.create_task(_run(bot), name=f"reminders-{bot.name}")


@plugin.on_stop
async def stop(bot: BotHandle) -> None:
    task = _tasks.pop(bot.name, None)
    if task is not None:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
