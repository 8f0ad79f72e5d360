"""The Discord adapter's slash commands for the pipeline: deferred, published, answered with follow-ups."""

from __future__ import annotations

import logging

import discord

from adapters.discord.base import UNAVAILABLE, DiscordAdapterBase
from adapters.discord.inbound import PLATFORM
from core.errors import BusError
from core.model import Addressed, Author, Chat, ChatKind, IncomingMessage

log = logging.getLogger(__name__)


class SlashCommands(DiscordAdapterBase):
    """``/ask``, ``/voice``, ``/voices``, ``/reset``: handed to the pipeline as commands."""

    async def pipeline_command(self, interaction: discord.Interaction, text: str) -> None:
        """Defer, then publish ``text`` as a command; :meth:`_send` answers with follow-ups."""
        await interaction.response.defer(thinking=True)
        self._remember(interaction)
        channel_id = str(interaction.channel_id)
        if interaction.guild_id is not None:
            self._chat_guild[channel_id] = interaction.guild_id
        kind = ChatKind.PRIVATE if interaction.guild_id is None else ChatKind.GROUP
        user = interaction.user
        publish = self.bus.publish(
            IncomingMessage(
                platform=PLATFORM,
                origin=self.adapter_id,
                chat=Chat(channel_id, kind, getattr(interaction.channel, "name", "") or ""),
                author=Author(str(user.id), user.display_name, bool(user.bot)),
                message_id=str(interaction.id),
                text=text,
                addressed=Addressed.COMMAND,
                raw={"interaction_id": str(interaction.id), "guild_id": str(interaction.guild_id or "")},
            )
        )
        try:
            await publish
        except BusError as exc:
            log.error("discord: slash command %s not accepted (%s); told the user to retry", interaction.id, exc)
            self._interactions.pop(str(interaction.id), None)
            await self._end_deferred(interaction, UNAVAILABLE)
            return
        self.published += 1
