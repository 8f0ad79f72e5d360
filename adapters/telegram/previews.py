"""Streamed replies: deltas grow a stream's text; a preview of it goes when the chat's worker finds it due.

A preview is a draft in private chats and one edited message in groups. It goes at most once per
interval and only when the rate limiter has room to spare (a preview never waits for a slot, never
retries: the next preview or the final text carries its text anyway).
"""

from __future__ import annotations

import logging
import time

from adapters.telegram.errors import ChatMigrated, NotModified, TelegramAdapterError
from adapters.telegram.formatting import preview
from adapters.telegram.reply_state import ReplierState, Stream, reply_parameters, same_message
from core.model import ChatKind, ReplyDelta, ReplySkipped

log = logging.getLogger(__name__)

_STREAM_TTL_S = 600.0


class StreamPreviews(ReplierState):
    """The streaming part of the replier: absorbing deltas, sending due previews, forgetting streams."""

    def next_flush(self, chat_id: int, now: float) -> float | None:
        """Seconds until a preview of a stream of ``chat_id`` may go (None: no preview pending).

        ``now`` is on the :func:`time.monotonic` clock (the limiter's clock).
        """
        chat_id = self.moved.get(chat_id, chat_id)
        dirty = [s for s in self.streams.values() if s.chat_id == chat_id and s.dirty]
        if not dirty:
            return None
        spare = self.sender.limiter.spare_delay(chat_id, preview=True)
        return max(0.0, spare, min(s.last_push + self._interval(s) - now for s in dirty))

    async def flush(self, chat_id: int) -> bool:
        """Send a preview of the stream of ``chat_id`` that has waited longest, if one is due; whether one went."""
        chat_id = self.moved.get(chat_id, chat_id)
        now = time.monotonic()
        due = [s for s in self.streams.values() if s.chat_id == chat_id and s.dirty and now - s.last_push >= self._interval(s)]
        if not due:
            return False
        return await self._push(min(due, key=lambda s: s.last_push))

    def _interval(self, stream: Stream) -> float:
        return self.config.stream.draft_interval_s if stream.private else self.config.stream.edit_interval_s

    async def _delta(self, event: ReplyDelta) -> None:
        self.absorb(event)

    def absorb(self, event: ReplyDelta) -> None:
        """Add a delta to its stream's text; sends nothing (the chat's worker sends previews when due)."""
        if not self.config.stream.enabled:
            return
        stream = self.streams.get(event.reply_id)
        if stream is None:
            self._forget_stale()
            target = event.target
            stream = self.streams[event.reply_id] = Stream(int(target.chat.id), target.chat.kind is ChatKind.PRIVATE, target)
        stream.text += event.text
        stream.touched = time.monotonic()

    async def _push(self, stream: Stream) -> bool:
        """Send one preview if the limiter has room to spare (never waits, never retries); whether it went."""
        text = preview(stream.text)
        chat_id = stream.chat_id
        sent: object | None
        try:
            if stream.private:
                sent = await self.sender.call_spare(
                    "sendMessageDraft",
                    chat_id,
                    lambda: self.bot.send_message_draft(chat_id, stream.draft_id, text),
                    preview=True,
                )
            elif stream.message_id is None:
                message = await self.sender.call_spare(
                    "sendMessage",
                    chat_id,
                    lambda: self.bot.send_message(chat_id, text, reply_parameters=reply_parameters(stream.target)),
                    preview=True,
                )
                if message is not None:
                    stream.message_id = message.message_id
                sent = message
            else:
                message_id = stream.message_id
                sent = await self.sender.call_spare(
                    "editMessageText",
                    chat_id,
                    lambda: self.bot.edit_message_text(text, chat_id, message_id),
                    preview=True,
                )
        except NotModified:
            sent = True
        except ChatMigrated as exc:
            await self._migrated(chat_id, exc.new_chat_id, stream.target.chat.title)  # the next preview goes there
            return True
        except TelegramAdapterError as exc:
            # Not retried: the next preview or the final text carries this text anyway.
            log.warning("telegram: streamed preview for chat %s failed: %s", chat_id, exc)
            stream.last_push = time.monotonic()
            return True
        if sent is None:
            return False
        stream.last_push = time.monotonic()
        stream.shown = text
        return True
    def _skipped(self, event: ReplySkipped) -> None:
        """No reply is coming for this message: send nothing, forget any stream started for it."""
        target = event.target
        for reply_id in [r for r, s in self.streams.items() if same_message(s.target, target)]:
            del self.streams[reply_id]
        log.debug("telegram: no reply to %s in chat %s (%s)", target.in_reply_to, target.chat.id, event.reason)

    def _forget_stale(self) -> None:
        cutoff = time.monotonic() - _STREAM_TTL_S
        for reply_id in [r for r, s in self.streams.items() if s.touched < cutoff]:
            del self.streams[reply_id]

