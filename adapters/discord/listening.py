"""The Discord adapter's listening: what people say in the voice channel becomes messages to the bot.

``/listen`` itself is :mod:`adapters.discord.listen_command`.

Per guild where the bot is in voice and listening is on (``/listen on``, or the config's default),
a :class:`~adapters.discord.receive.VoiceReceiver` turns each user's packets into PCM, which is fed
to the bot's :class:`core.hearing.Hearing` — only for users who are in the bot's channel, human,
neither muted nor deafened (by themselves or the server), and not opted out (``/listen optout``).
Each utterance it hears becomes an :class:`~core.model.IncomingMessage` from that user in the text
channel where ``/join`` was used, so it goes through the whole pipeline (commands, plugins, memory,
flood control), and the answer is spoken in the voice channel (and written in the text channel).

In ``wake_word`` mode an utterance must start with the bot's name or a configured wake word
(checked on the transcript; the words are removed); in ``always`` mode every utterance is answered.
Barge-in: when a listened-to user starts speaking while the bot speaks, the bot stops (``stop``:
within one 20 ms frame of the hearing layer's speech start; the turn's queue is dropped), lowers its
volume until the utterance is heard (``duck``), or carries on (``ignore``).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import discord

from adapters.discord.base import DiscordAdapterBase
from adapters.discord.inbound import PLATFORM
from adapters.discord.outbound import NO_MENTIONS
from adapters.discord.receive import VoiceReceiver
from adapters.discord.voice import GuildVoice
from core.errors import BusError
from core.hearing import Hearing, Speaker, SpeechStartHandler, Utterance, UtteranceHandler
from core.model import Addressed, Author, Chat, ChatKind, IncomingMessage
from core.wakeword import find_wake_word

log = logging.getLogger(__name__)

HearingFactory = Callable[[UtteranceHandler, SpeechStartHandler], Hearing]
"""Builds the bot's hearing with the adapter's callbacks (``bots`` wraps ``voice.listening.build_hearing``)."""

DUCK_MAX_S = 8.0  # a duck never outlasts this, even when no utterance comes of the speech
WAIT_LIMIT_BYTES = 50 * 3840  # audio held while a speaker's opt-out is looked up (one second)


def _mutes(state: discord.VoiceState | None) -> bool:
    return state is None or bool(state.self_mute or state.mute or state.self_deaf or state.deaf)


class Listening(DiscordAdapterBase):
    """The voice receive path and the hearing, on the adapter's voice manager."""

    # -- lifecycle ----------------------------------------------------------------------------------

    async def _start_listening(self) -> None:
        if self.hearing_factory is None:
            return
        self.hearing = self.hearing_factory(self._on_utterance, self._on_speech_start)
        await self.hearing.start()
        self.voice.self_deaf = False
        self.voice.on_connected = self._voice_connected
        self.voice.on_leaving = self._voice_leaving

    async def _stop_listening(self) -> None:
        for guild_id in list(self._receivers):
            self._stop_receiver(guild_id)
        hearing, self.hearing = self.hearing, None
        if hearing is not None:
            await hearing.stop()

    # -- voice connections ------------------------------------------------------------------------

    def _voice_connected(self, session: GuildVoice) -> None:
        self._stop_receiver(session.guild_id)
        asyncio.get_running_loop().create_task(self._listen_if_on(session), name="discord-listen-start")

    def _voice_leaving(self, session: GuildVoice) -> None:
        self._stop_receiver(session.guild_id)
        self._announced.discard(session.guild_id)

    async def _listen_if_on(self, session: GuildVoice) -> None:
        on, mode = await self.listen_store.guild(session.guild_id, self.listen_policy)
        if self.voice.active(session.guild_id) is not session:
            return
        if not on:
            # nobody is listened to here: deafened, Discord sends the bot no audio (and members see it)
            if session.guild_id not in self._receivers:
                await self.voice.set_deaf(session.guild_id, True)
            return
        self._modes[session.guild_id] = mode
        self._start_receiver(session)
        if session.guild_id in self._announced:  # a rejoin after a dropped link: said already
            return
        self._announced.add(session.guild_id)
        if session.text_channel_id is not None and self.client is not None:
            try:
                await self.client.get_partial_messageable(session.text_channel_id).send(
                    self._announcement(session, mode), allowed_mentions=NO_MENTIONS)
            except discord.HTTPException as exc:
                log.info("discord: listening announcement not sent: %s", exc)

    def _start_receiver(self, session: GuildVoice) -> None:
        if session.guild_id in self._receivers or self.hearing is None:
            return
        vc = session.vc
        guild_id = session.guild_id
        receiver = VoiceReceiver(vc, asyncio.get_running_loop(),
                                 lambda user_id, pcm: self._heard(guild_id, user_id, pcm),
                                 lambda user_id: self._forget(guild_id, user_id))
        vc.receiver = receiver
        for ssrc, user_id in dict(getattr(vc, "ssrc_users", {})).items():
            receiver.websocket_message({"op": 5, "d": {"ssrc": ssrc, "user_id": user_id}})
        self._receivers[guild_id] = receiver
        receiver.start()
        log.info("discord: listening in guild %s", guild_id)

    def _stop_receiver(self, guild_id: int) -> None:
        receiver: VoiceReceiver | None = self._receivers.pop(guild_id, None)
        if receiver is None:
            return
        receiver.stop()
        for key in [k for k in self._waiting if k[0] == guild_id]:
            del self._waiting[key]
        vc = receiver.vc
        if getattr(vc, "receiver", None) is receiver:
            vc.receiver = None
        for speaker in [s for s in self._fed if s.room == str(guild_id)]:
            self._fed.discard(speaker)
            if self.hearing is not None:
                self.hearing.forget(speaker)
        log.info("discord: stopped listening in guild %s", guild_id)

    # -- who is heard ----------------------------------------------------------------------------------

    def _member(self, guild_id: int, user_id: int) -> discord.Member | None:
        session = self.voice.active(guild_id)
        channel = getattr(session.vc, "channel", None) if session is not None else None
        guild = getattr(channel, "guild", None)
        member = guild.get_member(user_id) if guild is not None else None
        if member is None or member.voice is None or member.voice.channel is None or channel is None \
                or member.voice.channel.id != channel.id:
            return None
        return member

    def _allowed(self, guild_id: int, user_id: int) -> tuple[bool | None, discord.Member | None]:
        """Whether the user is listened to (None: not known yet, their opt-out is being looked up)."""
        member = self._member(guild_id, user_id)
        if member is None or member.bot or _mutes(member.voice):
            return False, member
        if user_id not in self._optout:  # look it up; their audio waits until it is known
            self._optout[user_id] = None
            asyncio.get_running_loop().create_task(self._load_optout(user_id))
        opted = self._optout[user_id]
        return None if opted is None else not opted, member

    async def _load_optout(self, user_id: int) -> None:
        try:
            self._optout[user_id] = await self.listen_store.opted_out(user_id)
        except Exception:  # noqa: BLE001 - the store is down: do not listen to them
            log.warning("discord: opt-out of %s unavailable; not listening to them", user_id, exc_info=True)
            self._optout[user_id] = True
        for (guild_id, waiting_user), frames in list(self._waiting.items()):
            if waiting_user == user_id:
                del self._waiting[(guild_id, user_id)]
                self._heard(guild_id, user_id, b"".join(frames))

    def _refresh(self, guild_id: int | None = None) -> None:
        """Forget cached decisions (opt-outs, voice states changed): the next frames decide afresh."""
        self._optout.clear()
        for gid, receiver in self._receivers.items():
            if guild_id is None or gid == guild_id:
                receiver.block(frozenset())

    def _speaker(self, guild_id: int, user_id: int, member: discord.Member | None) -> Speaker:
        return Speaker(str(user_id), str(guild_id), member.display_name if member is not None else "")

    def _heard(self, guild_id: int, user_id: int, pcm: bytes) -> None:
        """Frames from the receiver (event loop): fed to the hearing when the user is listened to."""
        hearing, receiver = self.hearing, self._receivers.get(guild_id)
        if hearing is None or receiver is None:
            return
        allowed, member = self._allowed(guild_id, user_id)
        if allowed is None:  # held (at most a second) until their opt-out is known
            waiting = self._waiting.setdefault((guild_id, user_id), [])
            if sum(len(f) for f in waiting) < WAIT_LIMIT_BYTES:
                waiting.append(pcm)
            return
        speaker = self._speaker(guild_id, user_id, member)
        if not allowed:
            receiver.block(receiver.blocked | {user_id})
            self._forget(guild_id, user_id)
            return
        self._fed.add(speaker)
        hearing.feed(speaker, pcm)

    def _forget(self, guild_id: int, user_id: int) -> None:
        for speaker in [s for s in self._fed if s.room == str(guild_id) and s.user_id == str(user_id)]:
            self._fed.discard(speaker)
            if self.hearing is not None:
                self.hearing.forget(speaker)

    def listener_voice_state(self, member: discord.Member) -> None:
        """Another member's voice state changed (muted, deafened, left): decide afresh about them."""
        receiver = self._receivers.get(member.guild.id)
        if receiver is None:
            return
        receiver.block(receiver.blocked - {member.id})
        if self._member(member.guild.id, member.id) is None or _mutes(member.voice):
            self._forget(member.guild.id, member.id)

    # -- the hearing's callbacks ---------------------------------------------------------------------

    def _on_speech_start(self, speaker: Speaker) -> None:
        guild_id = int(speaker.room)
        policy = self.listen_policy
        if policy.barge_in == "ignore" or not self.voice.speaking(guild_id):
            return
        self.barge_ins.append(time.monotonic())
        if policy.barge_in == "stop":
            self.voice.interrupt(guild_id)
            log.info("discord: barge-in by %s in guild %s: stopped speaking", speaker.user_id, guild_id)
        else:
            self.voice.duck(guild_id, policy.duck_volume)
            loop = asyncio.get_running_loop()
            self._ducks[guild_id] = loop.call_later(DUCK_MAX_S, self.voice.duck, guild_id, 1.0)

    async def _on_utterance(self, utterance: Utterance) -> None:
        guild_id = int(utterance.speaker.room)
        duck = self._ducks.pop(guild_id, None)
        if duck is not None:
            duck.cancel()
            self.voice.duck(guild_id, 1.0)
        session = self.voice.active(guild_id)
        receiver = self._receivers.get(guild_id)
        if session is None or receiver is None or self.client is None:
            return  # listening was turned off or the bot left while it was transcribed
        user_id = int(utterance.speaker.user_id)
        allowed, member = self._allowed(guild_id, user_id)
        if allowed is not True:
            return
        mode = self._modes.get(guild_id, self.listen_policy.mode)
        text = utterance.text.strip()
        if mode == "wake_word":
            match = find_wake_word(text, self.listen_policy.wake_words)
            if match is None:
                log.info("discord: utterance in guild %s without a wake word: ignored", guild_id)
                self.ignored_utterances += 1
                return
            text = match.text
        if not text:
            return
        channel_id = self._listen_channel.get(guild_id) or session.text_channel_id
        if channel_id is None:
            log.info("discord: heard %s in guild %s but have no text channel to answer in", user_id, guild_id)
            return
        self._chat_guild[str(channel_id)] = guild_id
        await self._publish_heard(utterance, text, channel_id, guild_id, member, mode)

    async def _publish_heard(self, utterance: Utterance, text: str, channel_id: int, guild_id: int,
                             member: discord.Member | None, mode: str) -> None:
        raw: dict[str, Any] = {"guild_id": str(guild_id), "channel_id": str(channel_id), "voice_channel": True,
                               "heard_at": utterance.ended_at, "duration_s": utterance.duration_s}
        message = IncomingMessage(
            platform=PLATFORM,
            origin=self.adapter_id,
            chat=Chat(str(channel_id), ChatKind.GROUP, ""),
            author=Author(utterance.speaker.user_id, member.display_name if member else utterance.speaker.name, False),
            message_id=f"voice-{uuid.uuid4().hex}",
            text=text,
            addressed=Addressed.MENTION if mode == "wake_word" else Addressed.CHANNEL,
            language=utterance.language,
            raw=raw,
        )
        try:
            await self.bus.publish(message)
        except BusError as exc:
            log.error("discord: utterance of %s in guild %s not accepted: %s", utterance.speaker.user_id, guild_id, exc)
            return
        self.heard.append(message)
        self.published += 1
