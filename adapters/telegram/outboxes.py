"""One FIFO queue and worker per Telegram chat: the events of one chat in order, chats independent.

Streamed replies are coalesced: a delta only grows its stream's text. A preview is sent only when
the chat's queue is empty, so it always carries everything that has arrived and is never sent while
the final text or anything else is waiting.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from adapters.telegram.reply_state import same_message
from core.lanes import Lanes
from core.logcontext import key_of, message_context
from core.model import ChatAction, OutgoingEvent, ReplyDelta, ReplySkipped

if TYPE_CHECKING:
    from adapters.telegram.outbound import Replier

log = logging.getLogger(__name__)

_RECHECK_S = 0.01
"""How soon a worker looks again when a due preview found no room (another chat took the slot)."""


class Outboxes:
    """One FIFO queue and worker per chat (a :class:`~core.lanes.Lanes`) around a :class:`Replier`."""

    def __init__(self, replier: Replier) -> None:
        self.replier = replier
        self._lanes: Lanes[OutgoingEvent] = Lanes(work=self._work, name="telegram-chat")

    def put(self, event: OutgoingEvent) -> None:
        """Queue ``event`` behind the chat's earlier events (never blocks, never drops)."""
        self._lanes.put(event.target.chat.id, event)

    @property
    def pending(self) -> int:
        """Events queued or being sent."""
        return self._lanes.pending

    def _take(self, queue: asyncio.Queue[OutgoingEvent], pending: OutgoingEvent | None) -> OutgoingEvent | None:
        """Fold every delta that has arrived into its stream; the first other event, or None when none is queued."""
        while True:
            if pending is None:
                if queue.empty():
                    return None
                pending = queue.get_nowait()
            if not isinstance(pending, ReplyDelta):
                return pending
            self.replier.absorb(pending)
            pending = None

    async def _work(self, key: str, queue: asyncio.Queue[OutgoingEvent]) -> None:
        chat_id = int(key)
        replier = self.replier
        delay = replier.config.chat_action_delay_s
        pending: OutgoingEvent | None = None
        while True:
            pending = self._take(queue, pending)
            if pending is not None:
                event, pending = pending, None
                if isinstance(event, ChatAction) and delay > 0:
                    # "typing" is only worth a request when the reply is not right behind it:
                    # the next event (the reply itself) supersedes it.
                    try:
                        pending = await asyncio.wait_for(queue.get(), timeout=delay)
                    except TimeoutError:
                        pass
                    if pending is not None and replier.visible(pending):
                        continue
                    if isinstance(pending, ReplySkipped) and same_message(event.target, pending.target):
                        continue  # no reply is coming: don't show "typing" for it
                with message_context(key_of(event.target.in_reply_to)):
                    await replier.handle(event)
                continue
            # Nothing queued: a preview may be due. Whatever arrives first is taken in first
            # (a final text is sent before any preview; deltas join the preview).
            due = replier.next_flush(chat_id, time.monotonic())
            if due is None:
                return
            if due <= 0 and await replier.flush(chat_id):
                continue
            try:
                pending = await asyncio.wait_for(queue.get(), timeout=max(due, _RECHECK_S))
            except TimeoutError:
                pass

    async def drain(self, timeout_s: float) -> None:
        """Wait (bounded) for every queued event to be sent, then cancel what is left."""
        left = await self._lanes.drain(timeout_s)
        if left:
            log.warning("telegram: %d chats still had replies queued at shutdown", left)
