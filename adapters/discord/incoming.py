"""The Discord adapter's incoming messages: gateway MESSAGE_CREATE to the bus (and read aloud in voice)."""

from __future__ import annotations

import logging

import discord

from adapters.discord.base import UNAVAILABLE, DiscordAdapterBase
from adapters.discord.errors import DiscordAdapterError
from adapters.discord.inbound import translate
from adapters.discord.outbound import NO_MENTIONS
from core.errors import BusError
from core.model import IncomingMessage

log = logging.getLogger(__name__)


class Incoming(DiscordAdapterBase):
    """Publishes the messages addressed to the bot; reads others aloud in a voice channel when configured."""

    async def on_message(self, message: discord.Message) -> None:
        """Gateway MESSAGE_CREATE: publish it when addressed; read it aloud when configured."""
        assert self.client is not None and self.client.user is not None
        incoming = translate(
            message,
            me_id=self.client.user.id,
            origin=self.adapter_id,
            answer_channels=self.config.answer_channels,
            ignore_bots=self.config.ignore_bots,
        )
        if incoming is None:
            return
        if message.guild is not None and incoming.text.lower().split()[:1] == ["/listen"]:
            member = message.author if isinstance(message.author, discord.Member) else None
            answer = await self.listen(message.guild, member, incoming.text[len("/listen"):], message.channel.id)
            await message.channel.send(answer, allowed_mentions=NO_MENTIONS)
            return
        if message.guild is not None:
            self._chat_guild[incoming.chat.id] = message.guild.id
            self._read_aloud(message, incoming)
        if incoming.is_addressed:
            try:
                await self.bus.publish(incoming)
            except BusError as exc:
                # Discord does not deliver a gateway event twice: say so in the channel rather than drop it.
                log.error("discord: message %s not accepted (%s); told the user to resend", incoming.key, exc)
                try:
                    await message.channel.send(UNAVAILABLE, allowed_mentions=NO_MENTIONS)
                except discord.HTTPException as send_exc:
                    log.warning("discord: could not send the unavailable notice: %s", send_exc)
                return
            self.published += 1

    def _read_aloud(self, message: discord.Message, incoming: IncomingMessage) -> None:
        session = self.voice.active(message.guild.id if message.guild else None)
        if not self.config.voice.read_aloud or session is None or incoming.is_addressed:
            return
        if session.text_channel_id == message.channel.id and message.clean_content.strip():
            try:
                self.voice.say(session.guild_id, message.clean_content)
            except DiscordAdapterError as exc:
                log.info("discord: not read aloud: %s", exc)
