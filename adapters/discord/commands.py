"""Slash commands: the tree, and its sync at start (per dev guild, else global)."""

from __future__ import annotations

import logging
from typing import Protocol

import discord
from discord import app_commands

log = logging.getLogger(__name__)


class CommandHandlers(Protocol):
    """What the adapter provides to the slash commands."""

    async def pipeline_command(self, interaction: discord.Interaction, text: str) -> None:
        """Defer, then hand ``text`` to the pipeline; the reply comes back as a follow-up."""

    async def voice_join(self, interaction: discord.Interaction) -> None:
        """Join the caller's voice channel."""

    async def voice_leave(self, interaction: discord.Interaction) -> None:
        """Leave the voice channel."""

    async def voice_say(self, interaction: discord.Interaction, text: str) -> None:
        """Speak ``text`` in the voice channel."""

    async def voice_skip(self, interaction: discord.Interaction) -> None:
        """Skip the clip being spoken."""


def build_tree(client: discord.Client, h: CommandHandlers) -> app_commands.CommandTree:
    """The bot's slash commands bound to ``h``."""
    tree = app_commands.CommandTree(client)

    @tree.command(name="ask", description="Ask me something")
    @app_commands.describe(question="what you want to ask")
    async def ask(interaction: discord.Interaction, question: str) -> None:
        await h.pipeline_command(interaction, question)

    @tree.command(name="voice", description="Voice replies: on, off, a voice name, or rate 0.5-2.0")
    @app_commands.describe(setting="on, off, a voice name, or rate 1.2")
    async def voice(interaction: discord.Interaction, setting: str = "") -> None:
        await h.pipeline_command(interaction, f"/voice {setting}".strip())

    @tree.command(name="voices", description="List the voices I can speak with")
    async def voices(interaction: discord.Interaction) -> None:
        await h.pipeline_command(interaction, "/voices")

    @tree.command(name="reset", description="Forget this channel's conversation")
    async def reset(interaction: discord.Interaction) -> None:
        await h.pipeline_command(interaction, "/reset")

    @tree.command(name="join", description="Join your voice channel and speak my replies there")
    async def join(interaction: discord.Interaction) -> None:
        await h.voice_join(interaction)

    @tree.command(name="leave", description="Leave the voice channel")
    async def leave(interaction: discord.Interaction) -> None:
        await h.voice_leave(interaction)

    @tree.command(name="say", description="Say something in the voice channel")
    @app_commands.describe(text="what to say")
    async def say(interaction: discord.Interaction, text: str) -> None:
        await h.voice_say(interaction, text)

    @tree.command(name="skip", description="Skip what I'm saying in the voice channel")
    async def skip(interaction: discord.Interaction) -> None:
        await h.voice_skip(interaction)

    return tree


async def sync_commands(tree: app_commands.CommandTree, dev_guild_ids: list[str]) -> None:
    """Sync to each development guild (instant), or globally when none is configured."""
    if dev_guild_ids:
        for guild_id in dev_guild_ids:
            guild = discord.Object(id=int(guild_id))
            tree.copy_global_to(guild=guild)
            synced = await tree.sync(guild=guild)
            log.info("discord: %d slash commands synced to guild %s", len(synced), guild_id)
    else:
        synced = await tree.sync()
        log.info("discord: %d slash commands synced globally", len(synced))
