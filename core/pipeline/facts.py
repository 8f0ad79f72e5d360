"""The middleware that remembers what users say about themselves and answers "do you remember my name?".

Facts found in a message (:func:`core.memory.extract_facts`) are stored per chat before the
engines answer; the chat's facts are put in ``ctx.state["facts"]`` for the dialogue handler,
which passes them to the engines as ``Conversation.facts``. A question about a stored fact is
answered here, from memory, so no engine has to guess.
"""

from __future__ import annotations

import logging

from core.language import guess_language
from core.memory import ChatMemory, asked_fact, extract_facts, recall_answer
from core.model import Turn
from core.pipeline.context import Context
from core.pipeline.middleware import Handler, Middleware

log = logging.getLogger(__name__)


class RememberFacts(Middleware):
    """Stores stated facts; answers questions about them."""

    sends_after_handler = False

    async def __call__(self, handler: Handler, ctx: Context) -> None:
        message = ctx.message
        memory: ChatMemory = ctx.services.memory
        stated = extract_facts(message.text)
        if stated:
            facts = await memory.remember(message.chat_key, **stated)
            log.info("remembered %s for %s", ", ".join(sorted(stated)), message.chat_key)
        else:
            facts = await ctx.facts()
        ctx.state["facts"] = facts
        key = asked_fact(message.text)
        if key is None:
            await handler(ctx)
            return
        language = message.language or guess_language(message.text, ctx.services.persona.language)
        text = recall_answer(key, facts, chinese=language.startswith("zh"))
        await ctx.reply(text)
        await ctx.services.conversations.append(
            message.chat_key,
            Turn("user", message.text, at=message.timestamp, author=message.author.display_name),
            Turn("bot", text, author=ctx.services.persona.name),
        )
