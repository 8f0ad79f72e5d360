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

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from telegram import Bot, InputFile, ReplyParameters

from adapters.telegram.config import TelegramConfig
from adapters.telegram.errors import (
    BadRequest,
    ChatMigrated,
    FormattingRejected,
    NotModified,
    TelegramAdapterError,
    VoiceForbidden,
)
from adapters.telegram.formatting import preview, split_text, to_html
from adapters.telegram.sender import Sender
from core.lanes import Lanes
from core.logcontext import key_of, message_context
from core.model import (
    ChatAction,
    ChatKind,
    OutgoingEvent,
    ReplyDelta,
    ReplyDone,
    ReplySkipped,
    ReplyTarget,
    ReplyVoice,
)

log = logging.getLogger(__name__)

_draft_ids = itertools.count(1)
_STREAM_TTL_S = 600.0
_RECHECK_S = 0.01
"""How soon a worker looks again when a due preview found no room (another chat took the slot)."""


@dataclass(slots=True)
class _Stream:
    """A reply being streamed into one chat."""

    chat_id: int
    private: bool
    target: ReplyTarget
    text: str = ""
    shown: str = ""
    message_id: int | None = None
    draft_id: int = field(default_factory=lambda: next(_draft_ids))
    last_push: float = float("-inf")
    touched: float = field(default_factory=time.monotonic)

    @property
    def dirty(self) -> bool:
        return preview(self.text) != self.shown


def _reply_parameters(target: ReplyTarget) -> ReplyParameters | None:
    ref = target.in_reply_to
    if target.chat.kind is ChatKind.PRIVATE or ref is None or ref.platform != "telegram":
        return None
    try:
        return ReplyParameters(message_id=int(ref.message_id), allow_sending_without_reply=True)
    except ValueError:
        return None


def _same_message(a: ReplyTarget, b: ReplyTarget) -> bool:
    """Whether two targets answer the same incoming message."""
    return a.chat.id == b.chat.id and a.in_reply_to is not None and a.in_reply_to == b.in_reply_to


ChatMovedHook = Callable[[int, int, str], Awaitable[None]]
"""Called once per group that became a supergroup: ``(old chat id, new chat id, title)``."""


class Replier:
    """Turns one outgoing event into Bot API calls (called by the chat's worker, in order).

    ``on_moved`` is told the first time a send learns (``ChatMigrated``) that a group became a
    supergroup, so the adapter can tell the pipeline to move the group's stored state.
    """

    def __init__(self, bot: Bot, sender: Sender, config: TelegramConfig, on_moved: ChatMovedHook | None = None) -> None:
        self.bot = bot
        self.sender = sender
        self.config = config
        self.on_moved = on_moved
        self.streams: dict[str, _Stream] = {}
        #: groups that became supergroups: old chat id -> new chat id (replies follow the chat)
        self.moved: dict[int, int] = {}

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

    def _follow(self, event: OutgoingEvent) -> OutgoingEvent:
        """``event`` addressed to the supergroup its group became, if it did."""
        new_id = self.moved.get(int(event.target.chat.id))
        if new_id is None:
            return event
        target = replace(event.target, chat=replace(event.target.chat, id=str(new_id)))
        return replace(event, target=target)

    async def _migrated(self, old_id: int, new_id: int, title: str) -> None:
        """A send learned of the migration: follow it, and report it the first time."""
        first = self.moved.get(old_id) != new_id
        self.follow(old_id, new_id)
        if first and self.on_moved is not None:
            try:
                await self.on_moved(old_id, new_id, title)
            except Exception:  # the replies still follow the chat; only its memory stays behind
                log.exception("telegram: could not report that group %s became supergroup %s", old_id, new_id)

    def follow(self, old_id: int, new_id: int) -> None:
        """Remember the migration; streams into the old group start over in the supergroup."""
        if self.moved.get(old_id) != new_id:
            log.info("telegram: group %s became supergroup %s; replies follow it", old_id, new_id)
        self.moved[old_id] = new_id
        for stream in self.streams.values():
            if stream.chat_id == old_id:
                stream.chat_id = new_id
                stream.target = replace(stream.target, chat=replace(stream.target.chat, id=str(new_id)))
                stream.message_id, stream.shown = None, ""

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

    def _interval(self, stream: _Stream) -> float:
        return self.config.stream.draft_interval_s if stream.private else self.config.stream.edit_interval_s

    # --- text ---------------------------------------------------------------

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
            stream = self.streams[event.reply_id] = _Stream(int(target.chat.id), target.chat.kind is ChatKind.PRIVATE, target)
        stream.text += event.text
        stream.touched = time.monotonic()

    async def _push(self, stream: _Stream) -> bool:
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
                    lambda: self.bot.send_message(chat_id, text, reply_parameters=_reply_parameters(stream.target)),
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

    async def _done(self, event: ReplyDone) -> None:
        stream = self.streams.pop(event.reply_id, None)
        chunks = split_text(event.text)
        if not chunks:
            return
        chat_id = int(event.target.chat.id)
        if stream is not None and stream.message_id is not None:
            await self._edit(chat_id, stream.message_id, chunks[0])
            rest = chunks[1:]
            reply_to = None
        else:
            rest = chunks
            reply_to = _reply_parameters(event.target)
        for chunk in rest:
            await self.send_text(chat_id, chunk, reply_to)
            reply_to = None

    async def send_text(self, chat_id: int, text: str, reply_to: ReplyParameters | None = None) -> Any:
        """``sendMessage`` with safe HTML; plain text when Telegram rejects the formatting."""
        if self.config.parse_mode == "HTML":
            html = to_html(text)
            try:
                return await self.sender.call(
                    "sendMessage",
                    chat_id,
                    lambda: self.bot.send_message(chat_id, html, parse_mode="HTML", reply_parameters=reply_to),
                )
            except FormattingRejected as exc:
                log.info("telegram: formatting refused in chat %s (%s); sending plain text", chat_id, exc.description)
        return await self.sender.call(
            "sendMessage", chat_id, lambda: self.bot.send_message(chat_id, text, reply_parameters=reply_to)
        )

    async def _edit(self, chat_id: int, message_id: int, text: str) -> None:
        async def edit(body: str, parse_mode: str | None) -> None:
            await self.sender.call(
                "editMessageText",
                chat_id,
                lambda: self.bot.edit_message_text(body, chat_id, message_id, parse_mode=parse_mode),
            )

        try:
            if self.config.parse_mode == "HTML":
                try:
                    await edit(to_html(text), "HTML")
                    return
                except FormattingRejected as exc:
                    log.info("telegram: formatting refused in chat %s (%s); editing as plain text", chat_id, exc.description)
            await edit(text, None)
        except NotModified:
            pass

    # --- voice and actions -----------------------------------------------------

    async def _voice(self, event: ReplyVoice) -> None:
        clip = event.clip
        chat_id = int(event.target.chat.id)
        reply_to = _reply_parameters(event.target)
        duration = max(1, round(clip.duration_s))
        is_ogg = clip.mime_type.split(";")[0].strip() in {"audio/ogg", "audio/opus"}
        name = "reply.ogg" if is_ogg else "reply.mp3"

        def file() -> InputFile:
            return InputFile(clip.data, filename=name)

        if is_ogg and len(clip.data) <= self.config.voice_note_max_bytes:
            try:
                await self.sender.call(
                    "sendVoice",
                    chat_id,
                    lambda: self.bot.send_voice(chat_id, file(), duration=duration, reply_parameters=reply_to),
                )
                return
            except VoiceForbidden:
                log.info("telegram: chat %s refuses voice notes (privacy settings); text only", chat_id)
                return
            except BadRequest as exc:
                log.warning("telegram: sendVoice refused in chat %s (%s); sending as audio", chat_id, exc.description)
        try:
            await self.sender.call(
                "sendAudio",
                chat_id,
                lambda: self.bot.send_audio(chat_id, file(), duration=duration, title="Voice reply", reply_parameters=reply_to),
            )
        except BadRequest as exc:
            log.warning("telegram: sendAudio refused in chat %s (%s); sending as document", chat_id, exc.description)
            await self.sender.call(
                "sendDocument", chat_id, lambda: self.bot.send_document(chat_id, file(), reply_parameters=reply_to)
            )

    async def _action(self, event: ChatAction) -> None:
        """A chat action is cosmetic: sent only when the limits have room to spare, so it never delays text."""
        chat_id = int(event.target.chat.id)
        try:
            sent = await self.sender.call_spare(
                "sendChatAction", chat_id, lambda: self.bot.send_chat_action(chat_id, event.action), per_chat=False
            )
        except TelegramAdapterError as exc:  # not retried: the reply itself ends the indicator anyway
            log.info("telegram: %s in chat %s not shown: %s", event.action, chat_id, exc)
            return
        if sent is None:
            log.debug("telegram: %s in chat %s skipped (no send budget to spare)", event.action, chat_id)

    def _skipped(self, event: ReplySkipped) -> None:
        """No reply is coming for this message: send nothing, forget any stream started for it."""
        target = event.target
        for reply_id in [r for r, s in self.streams.items() if _same_message(s.target, target)]:
            del self.streams[reply_id]
        log.debug("telegram: no reply to %s in chat %s (%s)", target.in_reply_to, target.chat.id, event.reason)

    def _forget_stale(self) -> None:
        cutoff = time.monotonic() - _STREAM_TTL_S
        for reply_id in [r for r, s in self.streams.items() if s.touched < cutoff]:
            del self.streams[reply_id]


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
                    if isinstance(pending, ReplySkipped) and _same_message(event.target, pending.target):
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
