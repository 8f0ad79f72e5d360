"""The voice state of each guild and its lifecycle: attach, removal by Discord, leave."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import discord

from adapters.discord.audio import FRAME_MS, SpeechQueue
from adapters.discord.config import DiscordVoiceConfig
from adapters.discord.errors import NotInVoice
from adapters.discord.voice_client import Connector, drop

log = logging.getLogger("adapters.discord.voice")  # the voice channel code's one logger, as before it was split


@dataclass(slots=True)
class GuildVoice:
    """The voice state of one guild."""

    guild_id: int
    vc: Any
    text_channel_id: int | None
    connector: Connector | None
    queue: SpeechQueue
    last_activity: float
    empty_since: float | None = None
    down_since: float | None = None
    user_key: str | None = None  # who used /join: replies are spoken with their /voice choice
    leaving: bool = False
    rejoining: bool = False
    probed_at: float = 0.0
    udp_failures: int = 0
    probe: asyncio.Task[None] | None = None
    streams: dict[str, asyncio.Queue[str | None]] = field(default_factory=dict)


class VoiceSessions:
    """The guilds' voice sessions (a part of :class:`adapters.discord.voice.VoiceManager`, which sets these)."""

    config: DiscordVoiceConfig
    sessions: dict[int, GuildVoice]
    on_connected: Callable[[GuildVoice], None] | None  # a guild's voice client (re)connected
    on_leaving: Callable[[GuildVoice], None] | None  # a guild's session ends

    def active(self, guild_id: int | None) -> GuildVoice | None:
        """The guild's voice session, if connected."""
        return self.sessions.get(guild_id) if guild_id is not None else None

    def _connected(self, session: GuildVoice) -> None:
        if self.on_connected is not None:
            self.on_connected(session)

    def attach(self, guild_id: int, vc: Any, text_channel_id: int | None, connector: Connector | None = None) -> GuildVoice:
        """Register an open voice connection for ``guild_id`` (join uses this; so do tests)."""
        lead = self.config.lead_in_ms // FRAME_MS
        session = GuildVoice(
            guild_id=guild_id,
            vc=vc,
            text_channel_id=text_channel_id,
            connector=connector,
            queue=SpeechQueue(lead, self.config.gap_frames, self.config.max_queue),
            last_activity=asyncio.get_running_loop().time(),
        )
        self.sessions[guild_id] = session
        return session

    async def removed(self, guild_id: int) -> None:
        """The bot's voice state in ``guild_id`` lost its channel (Discord's ``VOICE_STATE_UPDATE``).

        A removal discord.py did not ask for (kicked, channel deleted) ends the session; the echo of
        a disconnect discord.py made itself after a dropped link leaves the session to the watchdog,
        which rejoins. Our own :meth:`leave` has already ended the session.
        """
        session = self.sessions.get(guild_id)
        if session is None or session.leaving or session.rejoining:
            return
        if getattr(session.vc, "removed_externally", True):
            log.info("discord: removed from voice in guild %s", guild_id)
            await self.leave(guild_id)
            await explain(session, "I was disconnected from the voice channel. Use /join to bring me back.")
        else:
            log.info("discord: voice link in guild %s dropped; rejoining", guild_id)

    async def leave(self, guild_id: int) -> bool:
        """Stop speaking and leave the guild's voice channel; False when not connected."""
        session = self.sessions.pop(guild_id, None)
        if session is None:
            return False
        session.leaving = True
        if self.on_leaving is not None:
            self.on_leaving(session)
        if session.probe is not None:
            session.probe.cancel()
        session.queue.clear()
        for stream in session.streams.values():
            stream.put_nowait(None)
        # a client discord.py already dropped (kicked, given up) is not disconnected again: its
        # disconnect would wait out its timeout for a voice state Discord never routes to it
        await drop(session.vc)
        return True

    def _session(self, guild_id: int) -> GuildVoice:
        session = self.sessions.get(guild_id)
        if session is None:
            raise NotInVoice("I'm not in a voice channel here. Use /join first.")
        return session


async def explain(session: GuildVoice, text: str) -> None:
    """Tell the guild's /join channel why the bot left voice (needs discord.py's client behind the connection)."""
    client = getattr(session.vc, "client", None)
    if session.text_channel_id is None or not isinstance(client, discord.Client):
        return
    try:
        channel = client.get_partial_messageable(session.text_channel_id)
        await channel.send(text, allowed_mentions=discord.AllowedMentions.none())
    except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
        log.info("could not explain the voice leave in guild %s: %s", session.guild_id, exc)

