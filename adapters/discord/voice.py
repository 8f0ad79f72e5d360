"""Voice channels: one connection and one speech queue per guild.

:class:`VoiceManager` joins and leaves, turns text (whole or still streaming) into
clips through :meth:`core.speech.Speech.voice_channel_frames`, starts playback when
a clip is queued, leaves when the channel is empty or idle, and rejoins after an
unexpected drop. The connection is anything with discord.py's ``VoiceClient``
playing surface (``play``, ``is_playing``, ``stop``, ``disconnect``, ``is_connected``,
``channel``), so unit tests can stand in for it; the protocol tests drive the real
``VoiceClient`` (:class:`TrackedVoiceClient`) against a fake voice server.

What the real protocol needs (found through ``tests/adapters/discord/fake_voice.py``):

- Discord echoes every voice disconnect as a ``VOICE_STATE_UPDATE`` without a channel, also the
  one discord.py sends itself after a dropped link (4006, a reset connection): only a removal
  that discord.py did not ask for is a kick (:meth:`VoiceManager.removed`); a drop is rejoined.
- Before rejoining, the old ``VoiceClient`` must be disconnected and unregistered, else
  ``connect`` answers "Already connected to a voice channel" (after 4015 discord.py's own
  resume is still pending on it).
- ``VoiceClient.move_to`` waits out its timeout in discord.py 2.7.1 (its socket reader blocks on
  the old UDP socket), so moving is leave-then-connect.
- The UDP path is invisible to discord.py (a send error is logged at debug level): the watchdog
  re-runs IP discovery on the open socket now and then and rejoins when it goes unanswered.
- discord.py's voice WebSocket reader handles only a close and a timeout: when the server closes
  the link just as discord.py answers it (its DAVE commit meets a closing transport:
  ``ClientConnectionResetError``), the reader dies and the link still says connected, so nothing
  would ever reconnect. The watchdog treats a dead reader as a dropped link
  (:func:`adapters.discord.voice_client.reader_died`).

Parts: ``voice_client`` (discord.py's client, connecting, dropping), ``voice_session`` (a guild's state, attach,
removal, leave), ``voice_playback`` (speech queue and playback); joining and the watchdog are here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import discord

from adapters.discord.config import DiscordVoiceConfig
from adapters.discord.errors import DAVE_HELP, VoiceUnavailable
from adapters.discord.voice_client import (
    DAVE_REQUIRED_CLOSE,
    VOICE_CONNECT_TIMEOUT_S,
    Connector,
    TrackedVoiceClient,
    drop,
    reader_died,
    registered,
    voice_connector,
)
from adapters.discord.voice_playback import VoiceOf, VoicePlayback, voice_of_store
from adapters.discord.voice_session import GuildVoice, explain
from core.speech import Speech

__all__ = ["DAVE_REQUIRED_CLOSE", "OPUS_HELP", "REJOIN_AFTER_S", "UDP_PROBE_FAILURES", "UDP_PROBE_S",
           "UDP_PROBE_TIMEOUT_S", "VOICE_CONNECT_TIMEOUT_S", "Connector", "GuildVoice", "TrackedVoiceClient",
           "VoiceManager", "VoiceOf", "check_voice_support", "libopus_version", "voice_libraries", "voice_of_store"]

log = logging.getLogger(__name__)

REJOIN_AFTER_S = 5.0  # how long a voice link discord.py still holds may stay down before we rejoin ourselves
UDP_PROBE_S = 15.0  # how often a connected guild's UDP path is checked with an IP discovery
UDP_PROBE_TIMEOUT_S = 2.0
UDP_PROBE_FAILURES = 2  # unanswered probes in a row before the path counts as dead

OPUS_HELP = (
    "libopus is not installed, so speech cannot be encoded for voice channels: "
    "install it with your system's package manager (Debian/Ubuntu: apt-get install libopus0)"
)


def libopus_version() -> str | None:
    """The loaded libopus version (loading it if needed), or None when the library is missing."""
    try:
        return discord.opus.Encoder.get_opus_version()
    except (discord.opus.OpusNotLoaded, OSError):
        return None


def voice_libraries() -> dict[str, str | None]:
    """What voice channels need, with versions (None: missing): PyNaCl, davey, libopus (``run.py check``)."""
    import importlib.metadata

    from discord import voice_client

    def version(dist: str, present: bool) -> str | None:
        if not present:
            return None
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return "?"

    return {
        "PyNaCl": version("PyNaCl", bool(getattr(voice_client, "has_nacl", False))),
        "davey": version("davey", bool(getattr(voice_client, "has_dave", False))),
        "libopus": libopus_version(),
    }


def check_voice_support() -> None:
    """Raise :class:`VoiceUnavailable` with install advice when PyNaCl, davey or libopus is missing."""
    from discord import voice_client

    if not getattr(voice_client, "has_nacl", False) or not getattr(voice_client, "has_dave", False):
        raise VoiceUnavailable(DAVE_HELP)
    if libopus_version() is None:
        raise VoiceUnavailable(OPUS_HELP)


class VoiceManager(VoicePlayback):
    """Voice connections and speech queues of every guild.

    Sessions come from :class:`~adapters.discord.voice_session.VoiceSessions`, speech and playback from
    :class:`~adapters.discord.voice_playback.VoicePlayback`; joining and the watchdog are here.

    Args:
        speech: the speech service (None: voice channels stay silent and /join says so).
        config: voice settings.
        tick_s: how often the idle/empty/drop watchdog looks.
        voice_of: the voice a user chose with ``/voice`` (name, rate) by user key; None: the config's voice.
    """

    def __init__(self, speech: Speech | None, config: DiscordVoiceConfig, tick_s: float = 1.0,
                 voice_of: VoiceOf | None = None) -> None:
        self.speech = speech
        self.config = config
        self.tick_s = tick_s
        self.voice_of = voice_of
        self.sessions: dict[int, GuildVoice] = {}
        self._watchdog: asyncio.Task[None] | None = None
        self._stopping = False
        self.self_deaf = True  # False while voice receive is configured: Discord sends a deafened client no audio
        self.deafened: set[int] = set()  # guilds where the bot deafens itself anyway (listening turned off there)
        self.on_connected: Callable[[GuildVoice], None] | None = None  # a guild's voice client (re)connected
        self.on_leaving: Callable[[GuildVoice], None] | None = None  # a guild's session ends

    async def start(self) -> None:
        """Start the watchdog."""
        if self._watchdog is None:
            self._watchdog = asyncio.create_task(self._watch(), name="discord-voice-watchdog")

    async def stop(self) -> None:
        """Leave every channel and stop the watchdog."""
        if self._watchdog is not None:
            # discord.py's VoiceClient.disconnect swallows a CancelledError while it waits for Discord's
            # confirmation: the flag ends the loop even when the cancel lands there
            self._stopping = True
            self._watchdog.cancel()
            try:
                await self._watchdog
            except asyncio.CancelledError:
                pass
            self._watchdog = None
            self._stopping = False
        for guild_id in list(self.sessions):
            await self.leave(guild_id)

    async def join(self, channel: discord.VoiceChannel | discord.StageChannel, text_channel_id: int | None,
                   user_key: str | None = None) -> GuildVoice:
        """Join ``channel`` (or move there) and speak replies of ``text_channel_id``'s guild there.

        ``user_key`` (who asked) chooses the voice of the replies spoken there (their ``/voice``).

        Raises:
            VoiceUnavailable: voice is disabled, no speech service, davey/PyNaCl missing or a 4017
                close (these two with :data:`DAVE_HELP`).
            VoiceConnectFailed: another close code, or no connection within 30 s (worth retrying).
        """
        if not self.config.enabled:
            raise VoiceUnavailable("voice channels are disabled in this bot's config")
        if self.speech is None:
            raise VoiceUnavailable("this bot has no speech service configured")
        check_voice_support()
        guild_id = channel.guild.id
        connect = voice_connector(channel, lambda: self.self_deaf or guild_id in self.deafened)

        session = self.sessions.get(channel.guild.id)
        if session is not None:
            session.text_channel_id = text_channel_id
            session.user_key = user_key
            session.connector = connect
            if session.vc.is_connected() and getattr(session.vc.channel, "id", None) == channel.id:
                return session
            # a move (or a dead link): leave, then connect afresh; discord.py's move_to waits out its timeout
            await drop(session.vc)
            session.vc = await connect()
            self._connected(session)
            self._kick(session)
            return session
        session = self.attach(channel.guild.id, await connect(), text_channel_id, connect)
        session.user_key = user_key
        self._connected(session)
        return session

    async def set_deaf(self, guild_id: int, deaf: bool) -> None:
        """Deafen (or undeafen) the bot in ``guild_id`` now, by a voice state update (gateway op 4).

        Kept for the guild's later connects. Discord sends a deafened client no audio, and its members
        see the bot's headphones crossed out while it does not listen.
        """
        if deaf:
            self.deafened.add(guild_id)
        else:
            self.deafened.discard(guild_id)
        session = self.sessions.get(guild_id)
        channel = getattr(session.vc, "channel", None) if session is not None else None
        if session is None or channel is None or not session.vc.is_connected():
            return  # the next connect applies it
        me = channel.guild.me
        if me is not None and me.voice is not None and bool(me.voice.self_deaf) == deaf:
            return
        try:
            await channel.guild.change_voice_state(channel=channel, self_deaf=deaf)
        except Exception as exc:  # noqa: BLE001 - the gateway is down: the next connect applies it
            log.warning("discord: cannot %s in guild %s now: %s", "deafen" if deaf else "undeafen", guild_id, exc)

    async def _watch(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.tick_s)
            for session in list(self.sessions.values()):
                try:
                    await self._check(session)
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - the watchdog survives one bad guild
                    log.exception("voice watchdog failed for guild %s", session.guild_id)

    async def _check(self, session: GuildVoice) -> None:
        now = asyncio.get_running_loop().time()
        vc = session.vc
        if vc.is_playing() or len(session.queue):
            session.last_activity = now
        if session.rejoining:
            return
        dead_reader = reader_died(vc)
        if dead_reader:
            log.warning("voice in guild %s: discord.py stopped reading the voice connection (%s); rejoining",
                        session.guild_id, dead_reader)
        if (dead_reader or not vc.is_connected()) and not session.leaving:
            # discord.py's own recovery (a 4015 resume, a move after 4014) gets a head start; a link
            # discord.py has given up on (no longer the guild's voice client, or its reader dead) is
            # rejoined at once
            session.down_since = session.down_since if session.down_since is not None else now
            given_up = registered(vc) is False or bool(dead_reader)
            if given_up or now - session.down_since >= REJOIN_AFTER_S:
                session.down_since = None
                await self._rejoin(session)
            return
        session.down_since = None
        if session.probe is None and now - session.probed_at >= UDP_PROBE_S and hasattr(getattr(vc, "ws", None),
                                                                                      "discover_ip"):
            session.probed_at = now
            session.probe = asyncio.create_task(self._probe(session), name=f"voice-udp-probe-{session.guild_id}")
        humans = [m for m in getattr(vc.channel, "members", []) if not m.bot]
        if humans:
            session.empty_since = None
        elif session.empty_since is None:
            session.empty_since = now
        c = self.config
        if c.empty_leave_s and session.empty_since is not None and now - session.empty_since >= c.empty_leave_s:
            log.info("voice channel in guild %s is empty: leaving", session.guild_id)
            await self.leave(session.guild_id)
        elif c.idle_leave_s and now - session.last_activity >= c.idle_leave_s:
            log.info("voice in guild %s idle for %.0fs: leaving", session.guild_id, c.idle_leave_s)
            await self.leave(session.guild_id)

    async def _probe(self, session: GuildVoice) -> None:
        """IP discovery on the open UDP socket: unanswered :data:`UDP_PROBE_FAILURES` times, rejoin."""
        try:
            await asyncio.wait_for(session.vc.ws.discover_ip(), UDP_PROBE_TIMEOUT_S)
            session.udp_failures = 0
        except (TimeoutError, OSError) as exc:
            session.udp_failures += 1
            log.info("voice UDP probe in guild %s unanswered (%d): %r", session.guild_id, session.udp_failures, exc)
        finally:
            session.probe = None
        if session.udp_failures >= UDP_PROBE_FAILURES and self.sessions.get(session.guild_id) is session:
            log.warning("voice UDP path in guild %s is dead: rejoining", session.guild_id)
            session.udp_failures = 0
            await self._rejoin(session)
        elif session.udp_failures:
            session.probed_at = float("-inf")  # probe again at the next tick

    async def _rejoin(self, session: GuildVoice) -> None:
        """Reconnect after a drop, keeping the queue; give up after ``reconnect_attempts``.

        The old connection is disconnected first (and so unregistered from discord.py), else
        ``connect`` answers "Already connected to a voice channel".
        """
        if session.connector is None or session.rejoining:
            if session.connector is None:
                await self.leave(session.guild_id)
            return
        session.rejoining = True
        reason = "no attempt was allowed (voice.reconnect_attempts is 0)."
        try:
            for attempt in range(1, self.config.reconnect_attempts + 1):
                await drop(session.vc)
                if session.leaving:
                    return
                try:
                    session.vc = await session.connector()
                    log.info("voice in guild %s reconnected (attempt %d)", session.guild_id, attempt)
                    self._connected(session)
                    self._kick(session)
                    return
                except VoiceUnavailable as exc:
                    log.error("voice in guild %s: %s", session.guild_id, exc)
                    reason = str(exc)
                    break
                except Exception as exc:  # noqa: BLE001 - retry, then give up
                    log.warning("voice reconnect %d in guild %s failed: %s", attempt, session.guild_id, exc)
                    reason = str(exc)
                    await asyncio.sleep(min(2.0**attempt, 10.0))
        finally:
            session.rejoining = False
        await self.leave(session.guild_id)
        reason = reason.rstrip(".")
        await explain(session, f"I lost the voice connection and could not rejoin: {reason}. Use /join to try again.")

