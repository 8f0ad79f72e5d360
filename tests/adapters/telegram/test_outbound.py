"""The per-chat outboxes: each event is sent under its own message's log id, never a stale one."""

from __future__ import annotations

import asyncio

from adapters.telegram.config import TelegramConfig
from adapters.telegram.outbound import Outboxes, Replier
from core import logcontext
from core.logcontext import message_context
from core.model import Chat, ChatKind, MessageRef, OutgoingEvent, ReplyDone, ReplyTarget


class RecordingReplier(Replier):
    """Sends nothing; records the log context's message key for each event."""

    def __init__(self) -> None:
        config = TelegramConfig.model_validate({"token": "123456:TEST-token"})
        super().__init__(None, None, config)  # type: ignore[arg-type]
        self.keys: list[str] = []

    async def handle(self, event: OutgoingEvent) -> None:
        await asyncio.sleep(0.01)  # the next event is queued while this one is "sent"
        self.keys.append(logcontext.current())


def reply(message_id: str | None) -> ReplyDone:
    ref = MessageRef("telegram", "42", message_id) if message_id else None
    return ReplyDone("r", ReplyTarget("bot.telegram", Chat("42", ChatKind.PRIVATE), ref), "text")


async def test_chat_worker_logs_under_each_events_message_not_the_one_that_started_it() -> None:
    replier = RecordingReplier()
    outboxes = Outboxes(replier)
    with message_context("telegram:42:1"):  # as Adapter._run_outgoing does around deliver()
        outboxes.put(reply("1"))
    with message_context("telegram:42:2"):
        outboxes.put(reply("2"))
    with message_context("telegram:42:9"):
        outboxes.put(reply(None))
    await outboxes.drain(2.0)
    assert replier.keys == ["telegram:42:1", "telegram:42:2", ""]
