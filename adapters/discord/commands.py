"""Slash commands: the tree, and its sync at start (per dev guild, else global)."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from typing import Any, Protocol

import discord
from discord import app_commands

from core.commands import CommandOption, CommandSpec

log = logging.getLogger(__name__)

OWN_COMMANDS = ("ask", "join", "leave", "say", "skip", "listen")
"""Slash commands of Discord's own (voice channels; ``/ask``); the pipeline's commands come as specs."""

DEFAULT_PIPELINE_COMMANDS = (
    CommandSpec("voice", "Voice replies: on, off, a voice name, or rate 0.5-2.0",
                (CommandOption("setting", "on, off, a voice name, or rate 1.2"),)),
    CommandSpec("voices", "List the voices I can speak with"),
    CommandSpec("reset", "Forget this channel's conversation"),
)
"""What an adapter given no command specs offers besides its own."""

MAX_COMMANDS = 100
"""Discord allows 100 global chat-input commands per application."""

_OPTION_TYPES: dict[str, type] = {"str": str, "int": int, "float": float, "bool": bool}


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

    async def listen_command(self, interaction: discord.Interaction, setting: str) -> None:
        """Listening in the voice channel: on, off, always, wake, optout, optin, status."""


def _option_text(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def pipeline_slash_command(spec: CommandSpec, h: CommandHandlers) -> app_commands.Command[Any, ..., None]:
    """A slash command that writes ``/name value1 value2`` to the pipeline, its options typed from ``spec``."""
    options = sorted(spec.options, key=lambda o: not o.required)  # Discord lists required options first
    params = [inspect.Parameter("interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=discord.Interaction)]
    for option in options:
        default = inspect.Parameter.empty if option.required else None
        annotation: Any = _OPTION_TYPES[option.type] if option.required else _OPTION_TYPES[option.type] | None
        params.append(inspect.Parameter(option.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation))

    async def callback(interaction: discord.Interaction, **values: Any) -> None:
        words = [_option_text(values[o.name]) for o in spec.options if values.get(o.name) is not None]
        await h.pipeline_command(interaction, " ".join([f"/{spec.name}", *words]))

    callback.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    callback.__discord_app_commands_param_description__ = {  # type: ignore[attr-defined]
        o.name: (o.description or o.name)[:100] for o in options
    }
    callback.__qualname__ = f"pipeline_slash_command.<locals>.{spec.name}"
    return app_commands.Command(name=spec.name, description=(spec.description or spec.name)[:100], callback=callback)


def build_tree(
    client: discord.Client, h: CommandHandlers, commands: Sequence[CommandSpec] | None = None, listening: bool = False
) -> app_commands.CommandTree:
    """The bot's slash commands bound to ``h``: Discord's own, then one per pipeline command in
    ``commands`` (default: voice, voices, reset), as the registry declares them; ``/listen`` when the
    bot can listen in voice channels (``listening``)."""
    tree = app_commands.CommandTree(client)
    for spec in commands if commands is not None else DEFAULT_PIPELINE_COMMANDS:
        if spec.name in OWN_COMMANDS:
            log.warning("discord: command /%s is taken by the adapter's own; not added as a slash command", spec.name)
            continue
        if len(tree.get_commands()) >= MAX_COMMANDS - len(OWN_COMMANDS):
            log.warning("discord: more than %d commands; /%s and later are not slash commands", MAX_COMMANDS, spec.name)
            break
        try:
            tree.add_command(pipeline_slash_command(spec, h))
        except (TypeError, ValueError, app_commands.AppCommandError) as exc:
            log.warning("discord: command /%s cannot be a slash command: %s", spec.name, exc)

    @tree.command(name="ask", description="Ask me something")
    @app_commands.describe(question="what you want to ask")
    async def ask(interaction: discord.Interaction, question: str) -> None:
        await h.pipeline_command(interaction, question)

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

    if listening:
        @tree.command(name="listen", description="Listen in the voice channel: on, off, always, wake, optout, optin")
        @app_commands.describe(setting="on, off, always, wake, optout, optin or status")
        async def listen(interaction: discord.Interaction, setting: str = "status") -> None:
            await h.listen_command(interaction, setting)

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
