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
  would ever reconnect. The watchdog treats a dead reader as a dropped link (:func:`_reader_died`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import discord
from discord.voice_state import VoiceConnectionState

from adapters.discord.audio import FRAME_MS, Clip, SpeechQueue
from adapters.discord.config import DiscordVoiceConfig
from adapters.discord.errors import DAVE_HELP, NotInVoice, QueueFull, VoiceConnectFailed, VoiceUnavailable
from core.pipeline.voiceprefs import user_voice
from core.speech import Speech, VoiceSettings
from core.stores.base import SettingsStore

log = logging.getLogger(__name__)

Connector = Callable[[], Awaitable[Any]]
VoiceOf = Callable[[str], Awaitable[tuple[str, float | None]]]  # user key -> (/voice name, rate) they chose
REJOIN_AFTER_S = 5.0  # how long a voice link discord.py still holds may stay down before we rejoin ourselves
VOICE_CONNECT_TIMEOUT_S = 30.0
DAVE_REQUIRED_CLOSE = 4017  # voice gateway close code: the client does not speak DAVE (E2EE)
UDP_PROBE_S = 15.0  # how often a connected guild's UDP path is checked with an IP discovery
UDP_PROBE_TIMEOUT_S = 2.0
UDP_PROBE_FAILURES = 2  # unanswered probes in a row before the path counts as dead


class TrackedVoiceClient(discord.VoiceClient):
    """discord.py's ``VoiceClient`` that remembers whether its removal from voice was asked for.

    Discord answers every voice disconnect with a ``VOICE_STATE_UPDATE`` without a channel; discord.py
    knows whether it asked for it (``_expecting_disconnect``) and forgets it while handling that
    update, before the ``on_voice_state_update`` event reaches the adapter. This keeps the answer.
    """

    removed_externally: bool = False
    receiver: Any = None  # adapters.discord.receive.VoiceReceiver while the bot listens

    def __init__(self, client: discord.Client, channel: Any) -> None:
        self.ssrc_users: dict[int, int] = {}  # other users' SSRCs (op 5 SPEAKING), for voice receive
        super().__init__(client, channel)

    def create_connection_state(self) -> VoiceConnectionState:
        """discord.py's connection state with a hook that sees every voice websocket message."""
        return VoiceConnectionState(self, hook=self._voice_ws_message)

    async def _voice_ws_message(self, ws: Any, msg: dict[str, Any]) -> None:
        op, d = msg.get("op"), msg.get("d") or {}
        if op == 5 and isinstance(d, dict) and d.get("user_id") and d.get("ssrc"):
            self.ssrc_users[int(d["ssrc"])] = int(d["user_id"])
        elif op == 13 and isinstance(d, dict) and d.get("user_id"):
            gone = int(d["user_id"])
            self.ssrc_users = {s: u for s, u in self.ssrc_users.items() if u != gone}
        if self.receiver is not None:
            self.receiver.websocket_message(msg)

    async def on_voice_state_update(self, data: Any) -> None:
        if data.get("channel_id") is None and not getattr(self._connection, "_expecting_disconnect", False):
            self.removed_externally = True
        await super().on_voice_state_update(data)


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


def voice_of_store(store: SettingsStore, bot: str) -> VoiceOf:
    """A :data:`VoiceOf` reading users' ``/voice`` choices from the pipeline's settings store."""

    async def voice_of(user_key: str) -> tuple[str, float | None]:
        return await user_voice(store, bot, user_key)

    return voice_of


def check_voice_support() -> None:
    """Raise :class:`VoiceUnavailable` with install advice when PyNaCl, davey or libopus is missing."""
    from discord import voice_client

    if not getattr(voice_client, "has_nacl", False) or not getattr(voice_client, "has_dave", False):
        raise VoiceUnavailable(DAVE_HELP)
    if libopus_version() is None:
        raise VoiceUnavailable(OPUS_HELP)


async def _pieces(source: asyncio.Queue[str | None]) -> AsyncIterator[str]:
    while (piece := await source.get()) is not None:
        yield piece


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


class VoiceManager:
    """Voice connections and speech queues of every guild.

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
        self.on_connected: Callable[[GuildVoice], None] | None = None  # a guild's voice client (re)connected
        self.on_leaving: Callable[[GuildVoice], None] | None = None  # a guild's session ends

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

    def active(self, guild_id: int | None) -> GuildVoice | None:
        """The guild's voice session, if connected."""
        return self.sessions.get(guild_id) if guild_id is not None else None

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

        async def connect() -> Any:
            # reconnect=False: with True, discord.py retries a refused handshake (a 4017 close
            # included) five times until the 30 s timeout, so the 4017 never reaches us; drops
            # later in the session are rejoined by our watchdog (``_rejoin``), which stops on 4017.
            try:
                return await channel.connect(reconnect=False, self_deaf=self.self_deaf, timeout=VOICE_CONNECT_TIMEOUT_S,
                                             cls=TrackedVoiceClient)
            except discord.ConnectionClosed as exc:
                if exc.code == DAVE_REQUIRED_CLOSE:
                    raise VoiceUnavailable(DAVE_HELP) from exc
                raise VoiceConnectFailed(f"Discord closed the voice connection (code {exc.code})") from exc
            except TimeoutError as exc:
                raise VoiceConnectFailed(f"could not connect to voice in {VOICE_CONNECT_TIMEOUT_S:.0f} s") from exc
            except RuntimeError as exc:  # discord.py: "davey library needed in order to use voice"
                if "davey" in str(exc) or "PyNaCl" in str(exc):
                    raise VoiceUnavailable(DAVE_HELP) from exc
                raise VoiceConnectFailed(f"the voice connection failed: {exc}") from exc
            except (aiohttp.ClientError, OSError) as exc:  # endpoint unreachable, TLS certificate refused, ...
                raise VoiceConnectFailed(f"cannot reach Discord's voice server: {exc}") from exc
            except discord.ClientException as exc:  # "Already connected to a voice channel."
                raise VoiceConnectFailed(str(exc)) from exc

        session = self.sessions.get(channel.guild.id)
        if session is not None:
            session.text_channel_id = text_channel_id
            session.user_key = user_key
            session.connector = connect
            if session.vc.is_connected() and getattr(session.vc.channel, "id", None) == channel.id:
                return session
            # a move (or a dead link): leave, then connect afresh; discord.py's move_to waits out its timeout
            await _drop(session.vc)
            session.vc = await connect()
            self._connected(session)
            self._kick(session)
            return session
        session = self.attach(channel.guild.id, await connect(), text_channel_id, connect)
        session.user_key = user_key
        self._connected(session)
        return session

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
            await _explain(session, "I was disconnected from the voice channel. Use /join to bring me back.")
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
        await _drop(session.vc)
        return True

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

    def _session(self, guild_id: int) -> GuildVoice:
        session = self.sessions.get(guild_id)
        if session is None:
            raise NotInVoice("I'm not in a voice channel here. Use /join first.")
        return session

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
        dead_reader = _reader_died(vc)
        if dead_reader:
            log.warning("voice in guild %s: discord.py stopped reading the voice connection (%s); rejoining",
                        session.guild_id, dead_reader)
        if (dead_reader or not vc.is_connected()) and not session.leaving:
            # discord.py's own recovery (a 4015 resume, a move after 4014) gets a head start; a link
            # discord.py has given up on (no longer the guild's voice client, or its reader dead) is
            # rejoined at once
            session.down_since = session.down_since if session.down_since is not None else now
            given_up = _registered(vc) is False or bool(dead_reader)
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
                await _drop(session.vc)
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
        await _explain(session, f"I lost the voice connection and could not rejoin: {reason}. Use /join to try again.")


async def _explain(session: GuildVoice, text: str) -> None:
    """Tell the guild's /join channel why the bot left voice (needs discord.py's client behind the connection)."""
    client = getattr(session.vc, "client", None)
    if session.text_channel_id is None or not isinstance(client, discord.Client):
        return
    try:
        channel = client.get_partial_messageable(session.text_channel_id)
        await channel.send(text, allowed_mentions=discord.AllowedMentions.none())
    except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
        log.info("could not explain the voice leave in guild %s: %s", session.guild_id, exc)


def _reader_died(vc: Any) -> str:
    """Why discord.py's voice WebSocket reader ended while ``vc`` still says connected ('' when it runs).

    The reader is ``VoiceConnectionState._runner`` (discord.py 2.7.1); once it ended, nothing reads the
    voice server and nothing reconnects, whatever ``is_connected()`` says.
    """
    runner = getattr(getattr(vc, "_connection", None), "_runner", None)
    if not isinstance(runner, asyncio.Task) or not runner.done() or not vc.is_connected():
        return ""
    if runner.cancelled():
        return "its reader was cancelled"
    error = runner.exception()  # retrieved here: no "Task exception was never retrieved" later
    return repr(error) if error is not None else "its reader ended"


def _registered(vc: Any) -> bool | None:
    """Whether ``vc`` is still its guild's voice client in discord.py (None: not a discord.py client)."""
    guild = getattr(vc, "guild", None)
    if not isinstance(vc, discord.VoiceClient) or guild is None:
        return None
    return guild.voice_client is vc


async def _drop(vc: Any) -> None:
    """Stop and disconnect ``vc`` if discord.py still holds it (waits for Discord's confirming voice state)."""
    if _registered(vc) is False:
        return
    try:
        if vc.is_playing():
            vc.stop()
        await vc.disconnect(force=True)
    except Exception:  # noqa: BLE001 - leaving anyway
        log.warning("voice disconnect failed", exc_info=True)
