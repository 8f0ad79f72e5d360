"""Speech in a guild's voice channel: the voice it is spoken in, queueing text (whole or streamed) as clips,
playback, skip and barge-in (a part of :class:`adapters.discord.voice.VoiceManager`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from adapters.discord.audio import Clip
from adapters.discord.errors import QueueFull
from adapters.discord.voice_session import GuildVoice, VoiceSessions
from core.pipeline.voiceprefs import user_voice
from core.speech import Speech, VoiceSettings
from core.stores.base import SettingsStore

log = logging.getLogger("adapters.discord.voice")  # the voice channel code's one logger, as before it was split

VoiceOf = Callable[[str], Awaitable[tuple[str, float | None]]]  # user key -> (/voice name, rate) they chose


def voice_of_store(store: SettingsStore, bot: str) -> VoiceOf:
    """A :data:`VoiceOf` reading users' ``/voice`` choices from the pipeline's settings store."""

    async def voice_of(user_key: str) -> tuple[str, float | None]:
        return await user_voice(store, bot, user_key)

    return voice_of


async def _pieces(source: asyncio.Queue[str | None]) -> AsyncIterator[str]:
    while (piece := await source.get()) is not None:
        yield piece


class VoicePlayback(VoiceSessions):
    """Speech queues of the guilds' voice sessions (:class:`adapters.discord.voice.VoiceManager` sets these)."""

    speech: Speech | None
    voice_of: VoiceOf | None

    @property
    def settings(self) -> VoiceSettings:
        """Voice settings for voice-channel speech."""
        c = self.config
        return VoiceSettings(enabled=True, voice=c.voice, rate=c.rate, language=c.language)

    async def settings_for(self, user_key: str | None) -> VoiceSettings:
        """The voice settings for speech on behalf of ``user_key``: their ``/voice`` choice over the config's."""
        base = self.settings
        if user_key is None or self.voice_of is None:
            return base
        try:
            name, rate = await self.voice_of(user_key)
        except Exception:  # the store is down: speak with the config's voice
            log.warning("voice choice of %s unavailable; using the configured voice", user_key, exc_info=True)
            return base
        return VoiceSettings(enabled=True, voice=name or base.voice, rate=rate or base.rate, language=base.language)

    def skip(self, guild_id: int) -> bool:
        """Skip the clip playing now in the guild."""
        session = self._session(guild_id)
        skipped = session.queue.skip() is not None
        self._kick(session)  # a clip waiting behind a skipped one that never got ready starts now
        return skipped

    def speaking(self, guild_id: int) -> bool:
        """Whether the bot is speaking (or about to) in the guild's voice channel."""
        session = self.sessions.get(guild_id)
        return session is not None and (session.vc.is_playing() or len(session.queue) > 0)

    def interrupt(self, guild_id: int) -> bool:
        """Barge-in: stop speaking at once and drop what was queued (the rest of a streamed reply is not
        spoken either); False when nothing was playing."""
        session = self.sessions.get(guild_id)
        if session is None or not self.speaking(guild_id):
            return False
        session.queue.clear()
        if session.vc.is_playing():
            session.vc.stop()  # discord.py's player ends before its next 20 ms frame
        return True

    def duck(self, guild_id: int, volume: float) -> None:
        """Barge-in by lowering the bot's speech to ``volume`` (1.0: restore)."""
        session = self.sessions.get(guild_id)
        if session is not None:
            session.queue.volume = volume

    def say(self, guild_id: int, text: str, user_key: str | None = None) -> Clip:
        """Queue ``text`` as one clip in the guild, in ``user_key``'s voice (default: the /join user's)."""
        stream: asyncio.Queue[str | None] = asyncio.Queue()
        stream.put_nowait(text)
        stream.put_nowait(None)
        return self._enqueue(self._session(guild_id), stream, text, user_key)

    def stream_piece(self, guild_id: int, reply_id: str, piece: str) -> None:
        """Feed one streamed piece of reply ``reply_id``; the first piece queues its clip."""
        session = self._session(guild_id)
        stream = session.streams.get(reply_id)
        if stream is None:
            stream = asyncio.Queue()
            session.streams[reply_id] = stream
            self._enqueue(session, stream, f"reply {reply_id}")
        stream.put_nowait(piece)

    def finish(self, guild_id: int, reply_id: str, text: str) -> Clip | None:
        """End reply ``reply_id``: close its stream, or queue the whole text when it was not streamed."""
        session = self._session(guild_id)
        stream = session.streams.pop(reply_id, None)
        if stream is not None:
            stream.put_nowait(None)
            return None
        return self.say(guild_id, text) if text.strip() else None

    def _enqueue(self, session: GuildVoice, text: asyncio.Queue[str | None], label: str,
                 user_key: str | None = None) -> Clip:
        assert self.speech is not None
        clip = Clip(label)
        clip.on_ready = lambda: self._kick(session)
        if not session.queue.add(clip):
            raise QueueFull(f"{len(session.queue)} clips are already waiting; try /skip")
        clip.task = asyncio.create_task(self._fill(clip, text, user_key or session.user_key),
                                        name=f"voice-clip-{session.guild_id}")
        session.last_activity = asyncio.get_running_loop().time()
        self._kick(session)
        return clip

    async def _fill(self, clip: Clip, text: asyncio.Queue[str | None], user_key: str | None) -> None:
        assert self.speech is not None
        settings = await self.settings_for(user_key)
        await clip.fill(self.speech.voice_channel_frames(_pieces(text), settings))

    def _kick(self, session: GuildVoice) -> None:
        """Start playback when the next clip is ready (a frame synthesized) and the player is idle.

        A clip still synthesizing its first sentence kicks again when its first frame is ready
        (:attr:`Clip.on_ready`): an early player would only send silence and slow that synthesis down.
        """
        head = session.queue.head()
        if session.leaving or head is None or not head.ready:
            return
        vc = session.vc
        if not vc.is_connected() or vc.is_playing():
            return
        loop = asyncio.get_running_loop()

        def after(error: Exception | None) -> None:  # runs in discord.py's player thread
            if error is not None:
                log.error("voice player in guild %s failed: %s", session.guild_id, error)
            loop.call_soon_threadsafe(self._kick, session)

        vc.play(session.queue.source(), after=after)
