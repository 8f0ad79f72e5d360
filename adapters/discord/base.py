"""What every concern of the Discord adapter shares: its state, and the helpers more than one of them uses.

The adapter is put together in :mod:`adapters.discord.adapter` from one class per concern
(connection, incoming messages, slash commands, voice control, delivery), each a subclass of
:class:`DiscordAdapterBase`.
"""

from __future__ import annotations

import abc
import asyncio
import collections
import logging
import time
from collections.abc import Callable
from typing import Any

import discord

from adapters.discord.config import DiscordConfig
from adapters.discord.inbound import PLATFORM
from adapters.discord.listen_state import ListenPolicy, ListenStore
from adapters.discord.outbound import NO_MENTIONS, StreamedMessage
from adapters.discord.voice import GuildVoice, VoiceManager, VoiceOf
from core.adapter import Adapter
from core.bus import Bus
from core.commands import CommandSpec
from core.hearing import Hearing, Speaker, SpeechStartHandler, UtteranceHandler
from core.lanes import Lanes
from core.model import IncomingMessage, MessageRef, OutgoingEvent
from core.speech import Speech
from core.stores.base import SettingsStore

log = logging.getLogger(__name__)

INTERACTION_TTL_S = 15 * 60  # Discord's interaction tokens last 15 minutes

UNAVAILABLE = "Sorry, I can't take messages right now. Please send that again in a minute."


class DiscordAdapterBase(Adapter, abc.ABC):
    """The Discord adapter's state (see :class:`adapters.discord.adapter.DiscordAdapter` for the arguments)."""

    platform = PLATFORM

    def __init__(
        self,
        adapter_id: str,
        bus: Bus,
        config: DiscordConfig,
        speech: Speech | None = None,
        commands: list[CommandSpec] | None = None,
        voice_of: VoiceOf | None = None,
        hearing: Callable[[UtteranceHandler, SpeechStartHandler], Hearing] | None = None,
        listening: ListenPolicy | None = None,
        settings: SettingsStore | None = None,
        bot_name: str = "",
    ) -> None:
        super().__init__(adapter_id, bus)
        self.config = config
        self.commands = commands
        self.speech = speech
        self.voice = VoiceManager(speech, config.voice, voice_of=voice_of)  # voice_of: users' /voice choices
        self.client: discord.Client | None = None
        self.tree: discord.app_commands.CommandTree | None = None
        self._runner: asyncio.Task[None] | None = None
        self._lanes: Lanes[OutgoingEvent] = Lanes(self._send, name=f"{adapter_id}-lane")
        self._streams: dict[str, StreamedMessage] = {}
        self._interactions: dict[str, tuple[discord.Interaction, float]] = {}
        self._chat_guild: dict[str, int] = {}
        self.published = 0
        self.skipped = 0  # ReplySkipped events handled
        # listening in voice channels (adapters.discord.listening)
        self.hearing_factory = hearing
        self.hearing: Hearing | None = None
        self.listen_policy = listening or ListenPolicy()
        self.listen_store = ListenStore(settings, bot_name or adapter_id)
        self._receivers: dict[int, Any] = {}  # guild id -> VoiceReceiver
        self._fed: set[Speaker] = set()  # speakers the hearing holds audio of
        self._optout: dict[int, bool | None] = {}  # user id -> opted out (cache of the store; None: loading)
        self._waiting: dict[tuple[int, int], list[bytes]] = {}  # (guild, user) -> PCM held while that loads
        self._modes: dict[int, str] = {}  # guild id -> listening mode
        self._listen_channel: dict[int, int] = {}  # guild id -> text channel where /listen on was used
        self._ducks: dict[int, asyncio.TimerHandle] = {}
        self._announced: set[int] = set()  # guilds told (since /join) that the bot is listening
        self.barge_ins: list[float] = []  # when barge-ins happened (monotonic; tests and benchmarks)
        self.heard: collections.deque[IncomingMessage] = collections.deque(maxlen=64)  # utterances published
        self.ignored_utterances = 0  # heard without the wake word

    # -- implemented by the concerns ------------------------------------------------------

    @abc.abstractmethod
    async def on_message(self, message: discord.Message) -> None:
        """Gateway MESSAGE_CREATE (incoming)."""

    @abc.abstractmethod
    async def on_voice_state_update(
        self, member: discord.Member, before: discord.VoiceState, after: discord.VoiceState
    ) -> None:
        """Gateway VOICE_STATE_UPDATE (voice control)."""

    @abc.abstractmethod
    async def _start_listening(self) -> None:
        """Build and start the hearing when the bot has one (listening)."""

    @abc.abstractmethod
    async def _stop_listening(self) -> None:
        """Stop every receiver and the hearing (listening)."""

    @abc.abstractmethod
    def listener_voice_state(self, member: discord.Member) -> None:
        """Another member's voice state changed (listening)."""

    @abc.abstractmethod
    async def listen(self, guild: discord.Guild | None, member: discord.Member | None, setting: str,
                     channel_id: int | None, manages: bool = False) -> str:
        """``/listen SETTING``: returns the answer (listening)."""

    @abc.abstractmethod
    async def listen_command(self, interaction: discord.Interaction, setting: str) -> None:
        """``/listen`` as a slash command (listening)."""

    @abc.abstractmethod
    def _start_receiver(self, session: GuildVoice) -> None:
        """Start hearing the guild's voice channel (listening)."""

    @abc.abstractmethod
    def _stop_receiver(self, guild_id: int) -> None:
        """Stop hearing the guild's voice channel and forget what the hearing holds (listening)."""

    @abc.abstractmethod
    def _refresh(self, guild_id: int | None = None) -> None:
        """Decide afresh who is heard (listening)."""

    @abc.abstractmethod
    def _announcement(self, session: GuildVoice, mode: str) -> str:
        """What the bot says when it starts listening (the /listen command)."""

    @abc.abstractmethod
    async def _send(self, event: OutgoingEvent) -> None:
        """Send one outgoing event, on its channel's lane (delivery)."""

    @abc.abstractmethod
    def _speak(self, event: OutgoingEvent) -> None:
        """Feed a reply to the guild's voice channel (voice control)."""

    # the slash commands' handlers (adapters.discord.commands.CommandHandlers)

    @abc.abstractmethod
    async def pipeline_command(self, interaction: discord.Interaction, text: str) -> None:
        """A slash command for the pipeline (slash commands)."""

    @abc.abstractmethod
    async def voice_join(self, interaction: discord.Interaction) -> None:
        """``/join`` (voice control)."""

    @abc.abstractmethod
    async def voice_leave(self, interaction: discord.Interaction) -> None:
        """``/leave`` (voice control)."""

    @abc.abstractmethod
    async def voice_say(self, interaction: discord.Interaction, text: str) -> None:
        """``/say`` (voice control)."""

    @abc.abstractmethod
    async def voice_skip(self, interaction: discord.Interaction) -> None:
        """``/skip`` (voice control)."""

    # -- shared helpers -------------------------------------------------------------------

    def _remember(self, interaction: discord.Interaction) -> None:
        now = time.monotonic()
        for key in [k for k, (_, at) in self._interactions.items() if now - at > INTERACTION_TTL_S]:
            del self._interactions[key]
        self._interactions[str(interaction.id)] = (interaction, now)

    def _interaction_for(self, ref: MessageRef | None) -> discord.Interaction | None:
        entry = self._interactions.get(ref.message_id) if ref is not None else None
        return entry[0] if entry else None

    def _channel(self, chat_id: str) -> discord.PartialMessageable:
        assert self.client is not None
        return self.client.get_partial_messageable(int(chat_id))

    @staticmethod
    def _reference(ref: MessageRef | None) -> discord.MessageReference | None:
        if ref is None or not ref.message_id.isdigit() or not ref.chat_id.isdigit():
            return None
        return discord.MessageReference(message_id=int(ref.message_id), channel_id=int(ref.chat_id), fail_if_not_exists=False)

    @staticmethod
    async def _end_deferred(interaction: discord.Interaction, note: str) -> None:
        """Replace a deferred command's public "thinking…" with an ephemeral note (see _send_skipped)."""
        try:
            await interaction.delete_original_response()
        except discord.HTTPException as exc:
            log.info("discord: could not remove the thinking message: %s", exc)
        await interaction.followup.send(note, ephemeral=True, allowed_mentions=NO_MENTIONS)
