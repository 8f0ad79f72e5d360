"""Exceptions of the Discord adapter.

The tree::

    DiscordAdapterError
    ├── VoiceUnavailable   voice cannot run: davey/PyNaCl missing, or Discord closed the voice link with 4017
    ├── NotInVoice         a voice control (/say, /skip, /leave) without a voice connection in the guild
    └── QueueFull          the guild's speech queue is full
"""

from __future__ import annotations

DAVE_HELP = (
    "Discord requires DAVE end-to-end encryption in voice channels (since March 2026) and closes "
    "older clients with code 4017. Install discord.py[voice]>=2.7.1, which brings PyNaCl and davey: "
    "pip install 'discord.py[voice]>=2.7.1'"
)


class DiscordAdapterError(Exception):
    """Base of every error raised by ``adapters.discord``."""


class VoiceUnavailable(DiscordAdapterError):
    """Voice cannot work in this installation or was refused by Discord."""


class NotInVoice(DiscordAdapterError):
    """The bot is not connected to a voice channel in that guild."""


class QueueFull(DiscordAdapterError):
    """Too many clips are waiting in the guild's queue."""
