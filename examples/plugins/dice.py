"""Dice: the worked example of README's "Writing a plugin".

A command with a typed argument, a message handler, a middleware and a dialogue engine kind.
Enable it with ``plugin_dirs: [examples/plugins]`` (or copy it into your own ``plugins/`` folder).
"""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator

from pydantic import BaseModel, Field

from bots.plugin import Context, Handler, Plugin
from core.engine import Conversation, DialogueEngine

log = logging.getLogger(__name__)


class DiceSettings(BaseModel):
    """``plugin_config: {dice: {max_sides: 100}}``."""

    max_sides: int = Field(default=1000, ge=2)


plugin = Plugin("dice", description="Roll dice", config=DiceSettings)


@plugin.command("roll", "Roll a die with N sides (default 6)")
async def roll(ctx: Context, sides: int = 6) -> None:
    limit = plugin.settings.max_sides
    if not 2 <= sides <= limit:
        await ctx.reply(f"A die has 2 to {limit} sides.", notice=True)
        return
    await ctx.reply(f"You rolled {random.randint(1, sides)} (d{sides})")


@plugin.on_message(pattern=r"(?i)\bthank(s| you)\b")
async def thanks(ctx: Context) -> None:
    await ctx.reply("You're welcome!")


@plugin.middleware
async def audit(handler: Handler, ctx: Context) -> None:
    """Counts the messages each user sends (in ``ctx.state``, for later middlewares) and logs commands."""
    ctx.state["dice.seen"] = True
    if ctx.message.text.startswith("/"):
        log.info("dice: %s used %s", ctx.message.user_key, ctx.message.text.split()[0])
    await handler(ctx)


class ShoutConfig(BaseModel):
    """``engines: [{kind: shout, suffix: "!"}]``."""

    suffix: str = "!"


class ShoutEngine(DialogueEngine):
    """Answers with the user's words in capitals."""

    name = "shout"

    def __init__(self, suffix: str) -> None:
        self.suffix = suffix

    async def reply(self, conversation: Conversation) -> AsyncIterator[str]:  # type: ignore[override]
        yield conversation.text.upper() + self.suffix


@plugin.engine("shout", config=ShoutConfig)
def make_shout(config: ShoutConfig) -> DialogueEngine:
    return ShoutEngine(config.suffix)
