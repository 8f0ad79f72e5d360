"""A chat that goes on under a new id: its conversation memory, chat settings and facts follow it."""

from __future__ import annotations

import logging

from core.model import ChatMoved
from core.pipeline.context import BotServices
from core.pipeline.voiceprefs import chat_scope_of

log = logging.getLogger(__name__)


async def move_chat(services: BotServices, moved: ChatMoved) -> None:
    """Move what ``services`` keep under ``moved.old_key`` to ``moved.new_key`` (idempotent)."""
    if moved.old_key == moved.new_key:
        return
    turns = await services.conversations.move(moved.old_key, moved.new_key)
    settings = await services.settings.move(
        chat_scope_of(services.name, moved.old_key), chat_scope_of(services.name, moved.new_key)
    )
    facts = await services.memory.move(moved.old_key, moved.new_key)
    if turns or settings or facts:
        log.info(
            "chat %s is now %s: moved %d turns, %d settings, %d facts",
            moved.old_key,
            moved.new_key,
            turns,
            settings,
            facts,
        )
