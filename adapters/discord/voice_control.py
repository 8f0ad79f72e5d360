"""The Discord adapter's voice control: /join, /leave, /say, /skip, and replies spoken in the voice channel."""

from __future__ import annotations

import logging

import discord

from adapters.discord.base import DiscordAdapterBase
from adapters.discord.errors import DiscordAdapterError
from adapters.discord.inbound import PLATFORM
from adapters.discord.outbound import NO_MENTIONS
from core.model import OutgoingEvent, ReplyDelta, ReplyDone

log = logging.getLogger(__name__)


class VoiceControl(DiscordAdapterBase):
    """The voice-channel commands and events, on the adapter's :class:`~adapters.discord.voice.VoiceManager`."""

    async def on_voice_state_update(
        self, member: discord.Member, before: discord.VoiceState, after: discord.VoiceState
    ) -> None:
        """Notice when the bot itself was removed from voice: a kick ends the session, a dropped link rejoins;
        another member's change (muted, deafened, gone) goes to listening."""
        if self.client is None or self.client.user is None:
            return
        if member.id != self.client.user.id:
            self.listener_voice_state(member)
            return
        if after.channel is None:  # Discord echoes our own disconnects too; voice.removed tells them apart
            await self.voice.removed(member.guild.id)

    async def voice_join(self, interaction: discord.Interaction) -> None:
        """``/join``: join the caller's voice channel."""
        state = getattr(interaction.user, "voice", None)
        if state is None or state.channel is None or interaction.guild_id is None:
            await interaction.response.send_message("Join a voice channel first, then use /join.", ephemeral=True)
            return
        await interaction.response.defer(thinking=True)
        try:
            await self.voice.join(state.channel, interaction.channel_id, f"{PLATFORM}:{interaction.user.id}")
        except DiscordAdapterError as exc:
            await interaction.followup.send(f"I can't join: {exc}", allowed_mentions=NO_MENTIONS)
            return
        self._chat_guild[str(interaction.channel_id)] = interaction.guild_id
        await interaction.followup.send(f"Joined {state.channel.name}: I'll speak my replies there.")

    async def voice_leave(self, interaction: discord.Interaction) -> None:
        """``/leave``."""
        left = await self.voice.leave(interaction.guild_id or 0)
        await interaction.response.send_message("Bye!" if left else "I'm not in a voice channel.", ephemeral=not left)

    async def voice_say(self, interaction: discord.Interaction, text: str) -> None:
        """``/say TEXT``."""
        try:
            self.voice.say(interaction.guild_id or 0, text, f"{PLATFORM}:{interaction.user.id}")
        except DiscordAdapterError as exc:
            await interaction.response.send_message(str(exc), ephemeral=True)
            return
        await interaction.response.send_message("🔊 queued", ephemeral=True)

    async def voice_skip(self, interaction: discord.Interaction) -> None:
        """``/skip``."""
        try:
            skipped = self.voice.skip(interaction.guild_id or 0)
        except DiscordAdapterError as exc:
            await interaction.response.send_message(str(exc), ephemeral=True)
            return
        await interaction.response.send_message("Skipped." if skipped else "Nothing to skip.", ephemeral=True)

    def _speak(self, event: OutgoingEvent) -> None:
        """Feed replies of a guild whose voice channel the bot is in to the guild's speech queue."""
        if not self.config.voice.speak_replies or not isinstance(event, (ReplyDelta, ReplyDone)):
            return
        guild_id = self._chat_guild.get(event.target.chat.id)
        if self.voice.active(guild_id) is None:
            return
        assert guild_id is not None
        try:
            if isinstance(event, ReplyDelta):
                self.voice.stream_piece(guild_id, event.reply_id, event.text)
            elif not event.notice or event.streamed:
                self.voice.finish(guild_id, event.reply_id, event.text)
        except DiscordAdapterError as exc:
            log.info("discord: not spoken in guild %s: %s", guild_id, exc)
