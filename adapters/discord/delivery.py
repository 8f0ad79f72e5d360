"""The Discord adapter's delivery: outgoing events to messages, edits, follow-ups and voice messages, per channel in order."""

from __future__ import annotations

import io
import logging

import discord

from adapters.discord.base import DiscordAdapterBase
from adapters.discord.outbound import NO_MENTIONS, Send, StreamedMessage
from adapters.discord.text import neutralize, split_text
from adapters.discord.voice_message import FILE_NAME, send_voice_message
from core.model import (
    ChatAction,
    MessageRef,
    OutgoingEvent,
    ReplyDelta,
    ReplyDone,
    ReplySkipped,
    ReplyVoice,
    SkipReason,
)

log = logging.getLogger(__name__)

SKIP_NOTES = {
    SkipReason.DUPLICATE: "I've already handled this request.",
    SkipReason.FLOOD: "You're sending messages too fast — please wait a few seconds.",
    SkipReason.DENIED: "I can't answer you here.",
    SkipReason.NOT_FOR_US: "That command is meant for another bot.",
}
SKIP_NOTE_DEFAULT = "Sorry, I have no answer for that."


class Delivery(DiscordAdapterBase):
    """Each outgoing event on its channel's lane: a channel's replies in order, channels concurrently."""

    async def deliver(self, event: OutgoingEvent) -> None:
        """Queue ``event`` on its channel's lane (ordered per channel, never dropped)."""
        self._lanes.put(event.target.chat.id, event)

    async def _send(self, event: OutgoingEvent) -> None:
        self._speak(event)
        interaction = self._interaction_for(event.target.in_reply_to)
        if isinstance(event, ChatAction):
            if interaction is None and event.action in ("typing", "record_voice"):
                assert self.client is not None
                await self.client.http.send_typing(int(event.target.chat.id))
        elif isinstance(event, ReplyDelta):
            if interaction is None:
                stream = self._streams.get(event.reply_id)
                if stream is None:
                    stream = self._streams[event.reply_id] = StreamedMessage(
                        self._first_sender(event.target.chat.id, event.target.in_reply_to),
                        self.config.stream_edit_interval_s,
                        answers=event.target.in_reply_to,
                    )
                stream.add(event.text)
        elif isinstance(event, ReplyDone):
            await self._send_done(event, interaction)
        elif isinstance(event, ReplyVoice):
            await self._send_voice(event, interaction)
        elif isinstance(event, ReplySkipped):
            await self._send_skipped(event, interaction)

    def _first_sender(self, chat_id: str, ref: MessageRef | None) -> Send:
        channel = self._channel(chat_id)
        reference = self._reference(ref)

        async def send(text: str) -> discord.Message:
            return await channel.send(text, reference=reference, allowed_mentions=NO_MENTIONS)  # type: ignore[arg-type]

        return send

    async def _send_done(self, event: ReplyDone, interaction: discord.Interaction | None) -> None:
        chunks = split_text(neutralize(event.text)) or ["…"]
        stream = self._streams.pop(event.reply_id, None)
        if interaction is not None:
            for chunk in chunks:
                await interaction.followup.send(chunk, allowed_mentions=NO_MENTIONS)
            return
        if stream is not None:
            await stream.finish(chunks[0])
            chunks = chunks[1:]
            send = self._first_sender(event.target.chat.id, None)
        else:
            send = self._first_sender(event.target.chat.id, event.target.in_reply_to)
        for i, chunk in enumerate(chunks):
            await send(chunk)
            if i == 0:
                send = self._first_sender(event.target.chat.id, None)  # only the first carries the reference

    async def _send_skipped(self, event: ReplySkipped, interaction: discord.Interaction | None) -> None:
        """End what was started for a message that gets no reply.

        A deferred slash command shows "thinking…" until answered (up to 15 minutes), and the first
        follow-up after a public defer cannot be ephemeral (it replaces the loading message with
        the defer's visibility). So the loading message is deleted and a short ephemeral note is sent.
        An ordinary message gets nothing; a stream started for it is closed with what it showed.
        """
        self.skipped += 1
        ref = event.target.in_reply_to
        if interaction is not None:
            assert ref is not None
            self._interactions.pop(ref.message_id, None)
            await self._end_deferred(interaction, SKIP_NOTES.get(event.reason, SKIP_NOTE_DEFAULT))
            return
        for reply_id in [r for r, s in self._streams.items() if ref is not None and s.answers == ref]:
            stream = self._streams.pop(reply_id)
            shown = split_text(neutralize(stream.text))
            await stream.finish(shown[0] if shown else "")

    async def _send_voice(self, event: ReplyVoice, interaction: discord.Interaction | None) -> None:
        clip = event.clip
        if interaction is not None:
            await interaction.followup.send(file=discord.File(io.BytesIO(clip.data), FILE_NAME))
            return
        assert self.client is not None
        ref = self._reference(event.target.in_reply_to)
        try:
            await send_voice_message(
                self.client.http, int(event.target.chat.id), clip, ref.to_dict() if ref is not None else None
            )
            return
        except (discord.HTTPException, ValueError) as exc:
            log.warning("discord: voice message refused (%s); sending an audio file instead", exc)
        channel = self._channel(event.target.chat.id)
        await channel.send(
            file=discord.File(io.BytesIO(clip.data), "reply.ogg"), reference=ref, allowed_mentions=NO_MENTIONS  # type: ignore[arg-type]
        )
