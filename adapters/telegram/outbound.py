"""Sends the core's outgoing events to Telegram, in order per chat.

Each chat has its own queue and worker task, so a slow or rate-limited chat never
holds up another while the events of one chat keep their order.

Streamed replies are coalesced: a delta only grows its stream's text. A preview (a
draft in private chats, one edited message in groups) is sent only when the chat's
queue is empty, so it always carries everything that has arrived and is never sent
while the final text or anything else is waiting; it goes at most once per interval
and only when the rate limiter has room to spare (a preview never waits for a slot).
The final text (``ReplyDone``) is ordinary, high-priority traffic: it takes the first
send slot after it arrives.
"""

from __future__ import annotations

import logging

from adapters.telegram.errors import ChatMigrated, TelegramAdapterError
from adapters.telegram.outboxes import Outboxes
from adapters.telegram.previews import StreamPreviews
from adapters.telegram.replies import FinalReplies
from adapters.telegram.reply_state import ChatMovedHook
from core.model import ChatAction, OutgoingEvent, ReplyDelta, ReplyDone, ReplySkipped, ReplyVoice

__all__ = ["ChatMovedHook", "Outboxes", "Replier"]

log = logging.getLogger(__name__)


class Replier(StreamPreviews, FinalReplies):
    """Turns one outgoing event into Bot API calls (called by the chat's worker, in order).

    Modules: :mod:`~adapters.telegram.reply_state` (streams, chat moves), :mod:`~adapters.telegram.previews`
    (streamed previews), :mod:`~adapters.telegram.replies` (final text, voice, chat actions),
    :mod:`~adapters.telegram.outboxes` (the per-chat workers).

    ``on_moved`` is told the first time a send learns (``ChatMigrated``) that a group became a
    supergroup, so the adapter can tell the pipeline to move the group's stored state.
    """

    async def handle(self, event: OutgoingEvent) -> None:
        """Send ``event``; failures are logged, never raised. A group that became a supergroup gets it there."""
        event = self._follow(event)
        try:
            try:
                await self._handle(event)
            except ChatMigrated as exc:
                await self._migrated(int(event.target.chat.id), exc.new_chat_id, event.target.chat.title)
                await self._handle(self._follow(event))
        except TelegramAdapterError as exc:
            log.error("telegram: %s for chat %s not delivered: %s", type(event).__name__, event.target.chat.id, exc)

    async def _handle(self, event: OutgoingEvent) -> None:
        if isinstance(event, ReplyDelta):
            await self._delta(event)
        elif isinstance(event, ReplyDone):
            await self._done(event)
        elif isinstance(event, ReplyVoice):
            await self._voice(event)
        elif isinstance(event, ChatAction):
            await self._action(event)
        elif isinstance(event, ReplySkipped):
            self._skipped(event)

    def visible(self, event: OutgoingEvent) -> bool:
        """Whether sending ``event`` shows something in the chat (and so ends a chat action)."""
        if isinstance(event, ReplyDelta):
            return self.config.stream.enabled
        return isinstance(event, ReplyDone | ReplyVoice)
