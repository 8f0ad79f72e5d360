"""The standard middlewares, in pipeline order: addressing, dedupe, validation, flood, access."""

from __future__ import annotations

import asyncio
import logging
import time

from core.model import SkipReason
from core.pipeline.commands import parse_command
from core.pipeline.context import Context
from core.pipeline.middleware import Handler, Middleware
from core.stores.base import DedupeStore

log = logging.getLogger(__name__)


async def _release(dedupe: DedupeStore, key: str) -> None:
    try:
        await asyncio.shield(dedupe.release(key))
    except Exception:  # noqa: BLE001 - the original error matters more
        log.exception("could not release dedupe key %s", key)


class AddressedOnly(Middleware):
    """Drops messages that are not for the bot (group chatter, other bots' commands)."""

    sends_after_handler = False

    async def __call__(self, handler: Handler, ctx: Context) -> None:
        if ctx.message.is_addressed:
            await handler(ctx)


class Dedupe(Middleware):
    """Handles each platform message id once, even after a restart or a redelivery."""

    sends_after_handler = False

    async def __call__(self, handler: Handler, ctx: Context) -> None:
        services = ctx.services
        key = f"{services.name}:{ctx.message.key}"
        claimed = await services.dedupe.claim(key, services.config.dedupe_ttl_s)
        if not claimed and ctx.redelivered:
            # The worker that claimed it died before answering (the bus checked that no reply
            # went out), so this delivery takes the claim over.
            log.info("message %s redelivered unanswered; answering it", ctx.message.key)
            claimed = True
        if not claimed:
            log.info("duplicate message %s ignored", ctx.message.key)
            ctx.skipped = SkipReason.DUPLICATE
            return
        try:
            await handler(ctx)
        except BaseException:
            # Not answered after all (a crash, or cancelled at shutdown): forget the claim so a
            # redelivery of the same message (a restart, another worker) is answered.
            if not ctx.answered:
                await _release(services.dedupe, key)
            raise


class Validate(Middleware):
    """Answers empty and oversized messages with a clear notice instead of passing them on."""

    sends_after_handler = False

    async def __call__(self, handler: Handler, ctx: Context) -> None:
        text = ctx.message.text
        limit = ctx.services.config.max_input_chars
        if len(text) > limit:
            log.info("message %s too long (%d chars > %d)", ctx.message.key, len(text), limit)
            await ctx.reply(
                f"That message is too long for me ({len(text):,} characters; the limit is {limit:,}). "
                "Could you shorten it?",
                notice=True,
            )
            return
        if not text.strip() and not ctx.message.attachments:
            await ctx.reply("Yes? Send me a message and I'll answer.", notice=True)
            return
        await handler(ctx)


class FloodControl(Middleware):
    """Per-user and per-chat message limits; the first excess message gets one polite notice."""

    sends_after_handler = False

    async def __call__(self, handler: Handler, ctx: Context) -> None:
        limits = ctx.services.config.flood
        counter = ctx.services.counter
        m = ctx.message
        bot = ctx.services.name
        checks = ((f"{bot}:flood:user:{m.user_key}", limits.per_user), (f"{bot}:flood:chat:{m.chat_key}", limits.per_chat))
        for key, limit in checks:
            if limit <= 0:
                continue
            count = await counter.hit(key, limits.window_s)
            if count > limit:
                window = int(time.time() // limits.window_s)  # wall clock: shared by every worker
                first_excess = await ctx.services.dedupe.claim(f"{key}:notice:{window}", limits.window_s * 2)
                log.info("flood control: %s over %d messages per %.0fs", key, limit, limits.window_s)
                ctx.skipped = SkipReason.FLOOD
                if first_excess:
                    await ctx.reply(
                        f"You're sending messages faster than I can keep up with. "
                        f"Please wait a few seconds (limit: {limit} per {limits.window_s:.0f} s).",
                        notice=True,
                    )
                return
        await handler(ctx)


class AccessControl(Middleware):
    """Allow and deny lists of chats and users, and admin-only commands."""

    sends_after_handler = False

    async def __call__(self, handler: Handler, ctx: Context) -> None:
        rules = ctx.services.config.access
        m = ctx.message
        if m.chat_key in rules.deny_chats or m.user_key in rules.deny_users:
            log.info("access denied for %s in %s (deny list)", m.user_key, m.chat_key)
            ctx.skipped = SkipReason.DENIED
            return
        if rules.allow_chats and m.chat_key not in rules.allow_chats and m.user_key not in rules.admins:
            log.info("access denied: chat %s not in allow list", m.chat_key)
            ctx.skipped = SkipReason.DENIED
            return
        if rules.allow_users and m.user_key not in rules.allow_users and m.user_key not in rules.admins:
            log.info("access denied: user %s not in allow list", m.user_key)
            ctx.skipped = SkipReason.DENIED
            return
        command = parse_command(m.text)
        if command and command.name in rules.admin_commands and m.user_key not in rules.admins:
            await ctx.reply(f"/{command.name} is for admins only.", notice=True)
            return
        await handler(ctx)
