"""The Discord adapter's ``/listen`` command: on, off, always, wake, optout, optin, status.

Switching listening on or off (and its mode) needs Manage Server or Administrator (the guild owner may
too); opting out and in is each user's own choice. ``/listen on`` answers with the announcement that the
bot is listening, in the channel where it was used; ``off`` deafens the bot in the guild's voice channel
(a voice state update, so members see it does not hear them) and ``on`` undeafens it (answers to ``optout``, ``optin`` and ``status`` are
ephemeral for the slash command). Typed, ``/listen ...`` works in any guild channel the bot reads.
"""

from __future__ import annotations

import discord

from adapters.discord.base import DiscordAdapterBase
from adapters.discord.outbound import NO_MENTIONS
from adapters.discord.voice import GuildVoice


class ListenCommand(DiscordAdapterBase):
    """``/listen``, on the listening state of :mod:`adapters.discord.listening`."""

    async def listen_command(self, interaction: discord.Interaction, setting: str) -> None:
        """``/listen on|off|always|wake|optout|optin|status`` as a slash command."""
        member = interaction.user if isinstance(interaction.user, discord.Member) else None
        manages = interaction.permissions.manage_guild or interaction.permissions.administrator  # as Discord resolved them
        answer = await self.listen(interaction.guild, member, setting, interaction.channel_id, manages)
        await interaction.response.send_message(answer, allowed_mentions=NO_MENTIONS,
                                                ephemeral=setting.strip().lower() in ("optout", "optin", "status"))

    async def listen(self, guild: discord.Guild | None, member: discord.Member | None, setting: str,
                     channel_id: int | None, manages: bool = False) -> str:
        """Carry out ``/listen SETTING`` for ``member``; returns what to answer (the announcement for ``on``).

        ``manages``: the member can manage the server (else their roles in the guild decide).
        """
        setting = setting.strip().lower()
        if guild is None or member is None:
            return "Listening works in a server's voice channel."
        if self.hearing is None:
            return "I can't listen in voice channels: speech recognition is not set up for this bot."
        if setting in ("optout", "optin"):
            await self.listen_store.set_opted_out(member.id, setting == "optout")
            self._refresh(guild.id)
            return ("I won't listen to you in voice channels any more (/listen optin to undo)."
                    if setting == "optout" else "I'll listen to you again when listening is on.")
        on, mode = await self.listen_store.guild(guild.id, self.listen_policy)
        if setting in ("", "status"):
            return f"Listening is {'on' if on else 'off'} here (mode: {mode.replace('_', ' ')})."
        if setting not in ("on", "off", "always", "wake", "wake_word"):
            return "Use /listen on, off, always, wake, optout, optin or status."
        if not (manages or self._may_switch(guild, member)):
            return "Only members who can manage this server can turn listening on or off."
        if setting == "off":
            await self.listen_store.set_guild(guild.id, False)
            self._stop_receiver(guild.id)
            await self.voice.set_deaf(guild.id, True)
            return "I've stopped listening in voice channels here."
        mode = {"always": "always", "wake": "wake_word", "wake_word": "wake_word"}.get(setting, mode)
        await self.listen_store.set_guild(guild.id, True, mode)
        self._modes[guild.id] = mode
        await self.voice.set_deaf(guild.id, False)
        session = self.voice.active(guild.id)
        if session is None:
            return "Listening is on: I'll listen once I'm in a voice channel (/join)."
        if channel_id is not None:
            self._listen_channel[guild.id] = channel_id
        self._start_receiver(session)
        return self._announcement(session, mode)

    def _may_switch(self, guild: discord.Guild, member: discord.Member) -> bool:
        if guild.owner_id == member.id:
            return True
        permissions = member.guild_permissions
        return bool(permissions.manage_guild or permissions.administrator)

    def _announcement(self, session: GuildVoice, mode: str) -> str:
        channel = getattr(session.vc.channel, "name", "the voice channel")
        if mode == "always":
            how = "everything said there is answered"
        else:
            words = self.listen_policy.wake_words
            how = f"start with “{words[0]}” to talk to me" if words else "start with my name to talk to me"
        return f"🎙 I'm listening in {channel}: {how}. Use /listen optout if you'd rather I didn't hear you."
