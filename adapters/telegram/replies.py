"""Final replies: the complete text (split, safe HTML, the streamed preview edited into it), voice notes
and chat actions."""

from __future__ import annotations

import logging
from typing import Any

from telegram import InputFile, ReplyParameters

from adapters.telegram.errors import BadRequest, FormattingRejected, NotModified, TelegramAdapterError, VoiceForbidden
from adapters.telegram.formatting import split_text, to_html
from adapters.telegram.reply_state import ReplierState, reply_parameters
from core.model import ChatAction, ReplyDone, ReplyVoice

log = logging.getLogger(__name__)


class FinalReplies(ReplierState):
    """The part of the replier that sends what stays in the chat: text, voice, and chat actions."""

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
            reply_to = reply_parameters(event.target)
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

    async def _voice(self, event: ReplyVoice) -> None:
        clip = event.clip
        chat_id = int(event.target.chat.id)
        reply_to = reply_parameters(event.target)
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
