"""Exceptions of the Discord adapter.

The tree::

    DiscordAdapterError
    ├── LoginRefused       Discord answered 401 to the token at start (also a ``discord.LoginFailure``)
    ├── DiscordUnreachable the REST API (or its proxy) could not be reached at start
    ├── VoiceUnavailable   voice cannot run: davey/PyNaCl missing, or Discord closed the voice link with 4017
    ├── VoiceConnectFailed a voice connection failed for another reason (other close code, timeout): retryable
    ├── NotInVoice         a voice control (/say, /skip, /leave) without a voice connection in the guild
    └── QueueFull          the guild's speech queue is full
"""

from __future__ import annotations

import discord

DAVE_HELP = (
    "Discord requires DAVE end-to-end encryption in voice channels (since March 2026) and closes "
    "older clients with code 4017. Install discord.py[voice]>=2.7.1, which brings PyNaCl and davey: "
    "pip install 'discord.py[voice]>=2.7.1'"
)


class DiscordAdapterError(Exception):
    """Base of every error raised by ``adapters.discord``."""


class LoginRefused(DiscordAdapterError, discord.LoginFailure):
    """Discord refused the bot token (HTTP 401). The message never contains the token."""


class DiscordUnreachable(DiscordAdapterError):
    """The REST API (or the configured proxy) did not answer at start."""


class VoiceUnavailable(DiscordAdapterError):
    """Voice cannot work in this installation or was refused by Discord."""


class VoiceConnectFailed(DiscordAdapterError):
    """A voice connection attempt failed in a way worth retrying (a close other than 4017, a timeout)."""


class NotInVoice(DiscordAdapterError):
    """The bot is not connected to a voice channel in that guild."""


class QueueFull(DiscordAdapterError):
    """Too many clips are waiting in the guild's queue."""
