"""The Discord adapter: discord.py's client on one side, the bot's bus on the other."""

from __future__ import annotations

import asyncio
import io
import logging
import time

import aiohttp
import discord
import yarl
from discord.http import Route

from adapters.discord.commands import build_tree, sync_commands
from adapters.discord.config import DiscordConfig
from adapters.discord.errors import DiscordAdapterError, DiscordUnreachable, LoginRefused
from adapters.discord.inbound import PLATFORM, translate
from adapters.discord.outbound import NO_MENTIONS, Lanes, StreamedMessage
from adapters.discord.text import neutralize, split_text
from adapters.discord.voice import VoiceManager, VoiceOf
from adapters.discord.voice_message import FILE_NAME, send_voice_message
from core.adapter import Adapter
from core.bus import Bus
from core.errors import BusError
from core.model import (
    Addressed,
    Author,
    Chat,
    ChatAction,
    ChatKind,
    IncomingMessage,
    MessageRef,
    OutgoingEvent,
    ReplyDelta,
    ReplyDone,
    ReplySkipped,
    ReplyVoice,
)
from core.speech import Speech

log = logging.getLogger(__name__)

INTERACTION_TTL_S = 15 * 60  # Discord's interaction tokens last 15 minutes

SKIP_NOTES = {
    "duplicate": "I've already handled this request.",
    "flood": "You're sending messages too fast — please wait a few seconds.",
    "denied": "I can't answer you here.",
    "not-for-us": "That command is meant for another bot.",
}
SKIP_NOTE_DEFAULT = "Sorry, I have no answer for that."


def intents_for(config: DiscordConfig) -> discord.Intents:
    """Guilds, guild and DM messages, voice states; message content only when configured (privileged)."""
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True
    intents.dm_messages = True
    intents.voice_states = True
    intents.message_content = config.message_content
    return intents


UNAVAILABLE = "Sorry, I can't take messages right now. Please send that again in a minute."


class DiscordAdapter(Adapter):
    """Connects a bot to Discord: messages, slash commands, voice messages and voice channels.

    Args:
        adapter_id: this adapter instance's id (replies are addressed to it).
        bus: the bot's bus.
        config: the ``discord`` section of config.yaml.
        speech: the speech service, for voice channels (voice notes come from the pipeline).
    """

    platform = PLATFORM

    def __init__(self, adapter_id: str, bus: Bus, config: DiscordConfig, speech: Speech | None = None,
                 voice_of: VoiceOf | None = None) -> None:
        super().__init__(adapter_id, bus)
        self.config = config
        self.speech = speech
        self.voice = VoiceManager(speech, config.voice, voice_of=voice_of)  # issue 13: voice_of = users' /voice
        self.client: discord.Client | None = None
        self.tree: discord.app_commands.CommandTree | None = None
        self._runner: asyncio.Task[None] | None = None
        self._lanes: Lanes[OutgoingEvent] = Lanes(self._send)
        self._streams: dict[str, StreamedMessage] = {}
        self._interactions: dict[str, tuple[discord.Interaction, float]] = {}
        self._chat_guild: dict[str, int] = {}
        self.published = 0
        self.skipped = 0  # ReplySkipped events handled

    # -- connection -----------------------------------------------------------------

    def _make_client(self) -> discord.Client:
        c = self.config
        options = {"intents": intents_for(c), "guild_ready_timeout": c.guild_ready_timeout_s}
        if c.shard_ids is not None:
            client: discord.Client = discord.AutoShardedClient(shard_count=c.shard_count, shard_ids=c.shard_ids, **options)
        elif c.shard_count is not None:
            client = discord.AutoShardedClient(shard_count=c.shard_count or None, **options)
        else:
            client = discord.Client(**options)
        client.event(self.on_message)  # type: ignore[arg-type]
        client.event(self.on_voice_state_update)  # type: ignore[arg-type]
        return client

    async def connect(self) -> None:
        """Log in, sync the slash commands and open the gateway; returns once READY.

        A failed start leaves nothing open (HTTP session, gateway task, voice watchdog), so
        the same adapter can be started again later.

        Raises:
            LoginRefused: Discord answered 401 to the token.
            DiscordUnreachable: the REST API did not answer.
            DiscordAdapterError: no token, or the gateway did not become ready.
        """
        c = self.config
        if c.token is None:
            raise DiscordAdapterError("discord.token is not set (use ${DISCORD_BOT_TOKEN})")
        if c.api_base_url:
            Route.BASE = c.api_base_url.rstrip("/")  # class-wide in discord.py
        if c.gateway_url:
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(c.gateway_url)
        try:
            await self._open(c.token.get_secret_value())
        except BaseException:
            await self.disconnect()
            raise

    async def _open(self, token: str) -> None:
        self.client = client = self._make_client()
        self.tree = build_tree(client, self)
        await self._login(client, token)
        if self.config.syncs_commands:
            await sync_commands(self.tree, self.config.dev_guild_ids)
        self._runner = asyncio.create_task(client.connect(reconnect=True), name=f"{self.adapter_id}-gateway")
        self._runner.add_done_callback(self._gateway_ended)
        ready = asyncio.create_task(client.wait_until_ready())
        try:
            await asyncio.wait({ready, self._runner}, timeout=120.0, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not ready.done():
                ready.cancel()
        if not client.is_ready():
            if self._runner.done():
                self._runner.result()  # raises the gateway's error
            raise DiscordAdapterError("discord gateway did not become ready in 120 s")
        await self.voice.start()
        log.info("discord: %s connected as %s", self.adapter_id, client.user)

    @staticmethod
    async def _login(client: discord.Client, token: str) -> None:
        """``client.login`` with its failures turned into this adapter's errors (never showing the token)."""
        try:
            await client.login(token)
        except discord.LoginFailure:
            raise LoginRefused(
                "Discord refused the bot token (HTTP 401 on /users/@me): check discord.token / DISCORD_BOT_TOKEN"
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise DiscordUnreachable(f"cannot reach Discord's REST API at {Route.BASE}: {exc}") from None

    def _gateway_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("discord: %s gateway stopped: %r", self.adapter_id, task.exception())

    async def disconnect(self) -> None:
        """Close everything :meth:`connect` opened; safe after a failed start and when called twice."""
        await self.voice.stop()
        await self._lanes.stop()
        self._streams.clear()
        self._interactions.clear()
        client, self.client, self.tree = self.client, None, None
        if client is not None:
            await client.close()
        runner, self._runner = self._runner, None
        if runner is not None:
            try:
                await asyncio.wait_for(runner, 10.0)
            except (asyncio.CancelledError, TimeoutError, Exception) as exc:  # noqa: BLE001 - shutting down
                log.debug("discord: gateway task ended with %r", exc)

    async def idle(self) -> None:
        """Wait until every queued reply has been sent (tests and benchmarks)."""
        await self._lanes.join()

    # -- events in ------------------------------------------------------------------

    async def on_message(self, message: discord.Message) -> None:
        """Gateway MESSAGE_CREATE: publish it when addressed; read it aloud when configured."""
        assert self.client is not None and self.client.user is not None
        incoming = translate(
            message,
            me_id=self.client.user.id,
            origin=self.adapter_id,
            answer_channels=self.config.answer_channels,
            ignore_bots=self.config.ignore_bots,
        )
        if incoming is None:
            return
        if message.guild is not None:
            self._chat_guild[incoming.chat.id] = message.guild.id
            self._read_aloud(message, incoming)
        if incoming.is_addressed:
            try:
                await self.bus.publish(incoming)
            except BusError as exc:
                # Discord does not deliver a gateway event twice: say so in the channel rather than drop it.
                log.error("discord: message %s not accepted (%s); told the user to resend", incoming.key, exc)
                try:
                    await message.channel.send(UNAVAILABLE, allowed_mentions=NO_MENTIONS)
                except discord.HTTPException as send_exc:
                    log.warning("discord: could not send the unavailable notice: %s", send_exc)
                return
            self.published += 1

    def _read_aloud(self, message: discord.Message, incoming: IncomingMessage) -> None:
        session = self.voice.active(message.guild.id if message.guild else None)
        if not self.config.voice.read_aloud or session is None or incoming.is_addressed:
            return
        if session.text_channel_id == message.channel.id and message.clean_content.strip():
            try:
                self.voice.say(session.guild_id, message.clean_content)
            except DiscordAdapterError as exc:
                log.info("discord: not read aloud: %s", exc)

    async def on_voice_state_update(
        self, member: discord.Member, before: discord.VoiceState, after: discord.VoiceState
    ) -> None:
        """Notice when the bot itself was removed from voice: a kick ends the session, a dropped link rejoins."""
        if self.client is None or self.client.user is None or member.id != self.client.user.id:
            return
        if after.channel is None:  # issue 13: Discord echoes our own disconnects too; voice.removed tells them apart
            await self.voice.removed(member.guild.id)

    # -- slash commands ---------------------------------------------------------------

    async def pipeline_command(self, interaction: discord.Interaction, text: str) -> None:
        """Defer, then publish ``text`` as a command; :meth:`_send` answers with follow-ups."""
        await interaction.response.defer(thinking=True)
        self._remember(interaction)
        channel_id = str(interaction.channel_id)
        if interaction.guild_id is not None:
            self._chat_guild[channel_id] = interaction.guild_id
        kind = ChatKind.PRIVATE if interaction.guild_id is None else ChatKind.GROUP
        user = interaction.user
        publish = self.bus.publish(
            IncomingMessage(
                platform=PLATFORM,
                origin=self.adapter_id,
                chat=Chat(channel_id, kind, getattr(interaction.channel, "name", "") or ""),
                author=Author(str(user.id), user.display_name, bool(user.bot)),
                message_id=str(interaction.id),
                text=text,
                addressed=Addressed.COMMAND,
                raw={"interaction_id": str(interaction.id), "guild_id": str(interaction.guild_id or "")},
            )
        )
        try:
            await publish
        except BusError as exc:
            log.error("discord: slash command %s not accepted (%s); told the user to retry", interaction.id, exc)
            self._interactions.pop(str(interaction.id), None)
            await self._end_deferred(interaction, UNAVAILABLE)
            return
        self.published += 1

    def _remember(self, interaction: discord.Interaction) -> None:
        now = time.monotonic()
        for key in [k for k, (_, at) in self._interactions.items() if now - at > INTERACTION_TTL_S]:
            del self._interactions[key]
        self._interactions[str(interaction.id)] = (interaction, now)

    async def voice_join(self, interaction: discord.Interaction) -> None:
        """``/join``: join the caller's voice channel."""
        state = getattr(interaction.user, "voice", None)
        if state is None or state.channel is None or interaction.guild_id is None:
            await interaction.response.send_message("Join a voice channel first, then use /join.", ephemeral=True)
            return
        await interaction.response.defer(thinking=True)
        try:
            await self.voice.join(state.channel, interaction.channel_id, f"{PLATFORM}:{interaction.user.id}")
        except DiscordAdapterError as exc:
            await interaction.followup.send(f"I can't join: {exc}", allowed_mentions=NO_MENTIONS)
            return
        self._chat_guild[str(interaction.channel_id)] = interaction.guild_id
        await interaction.followup.send(f"Joined {state.channel.name}: I'll speak my replies there.")

    async def voice_leave(self, interaction: discord.Interaction) -> None:
        """``/leave``."""
        left = await self.voice.leave(interaction.guild_id or 0)
        await interaction.response.send_message("Bye!" if left else "I'm not in a voice channel.", ephemeral=not left)

    async def voice_say(self, interaction: discord.Interaction, text: str) -> None:
        """``/say TEXT``."""
        try:
            self.voice.say(interaction.guild_id or 0, text, f"{PLATFORM}:{interaction.user.id}")
        except DiscordAdapterError as exc:
            await interaction.response.send_message(str(exc), ephemeral=True)
            return
        await interaction.response.send_message("🔊 queued", ephemeral=True)

    async def voice_skip(self, interaction: discord.Interaction) -> None:
        """``/skip``."""
        try:
            skipped = self.voice.skip(interaction.guild_id or 0)
        except DiscordAdapterError as exc:
            await interaction.response.send_message(str(exc), ephemeral=True)
            return
        await interaction.response.send_message("Skipped." if skipped else "Nothing to skip.", ephemeral=True)

    # -- events out -----------------------------------------------------------------

    async def deliver(self, event: OutgoingEvent) -> None:
        """Queue ``event`` on its channel's lane (ordered per channel, never dropped)."""
        self._lanes.put(event.target.chat.id, event)

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

    async def _send(self, event: OutgoingEvent) -> None:
        self._speak(event)
        interaction = self._interaction_for(event.target.in_reply_to)
        if isinstance(event, ChatAction):
            if interaction is None and event.action in ("typing", "record_voice"):
                assert self.client is not None
                await self.client.http.send_typing(int(event.target.chat.id))
        elif isinstance(event, ReplyDelta):
            if interaction is None:
                stream = self._streams.get(event.reply_id)
                if stream is None:
                    stream = self._streams[event.reply_id] = StreamedMessage(
                        self._first_sender(event.target.chat.id, event.target.in_reply_to),
                        self.config.stream_edit_interval_s,
                        answers=event.target.in_reply_to,
                    )
                stream.add(event.text)
        elif isinstance(event, ReplyDone):
            await self._send_done(event, interaction)
        elif isinstance(event, ReplyVoice):
            await self._send_voice(event, interaction)
        elif isinstance(event, ReplySkipped):
            await self._send_skipped(event, interaction)

    def _first_sender(self, chat_id: str, ref: MessageRef | None):  # noqa: ANN202 - closure
        channel = self._channel(chat_id)
        reference = self._reference(ref)

        async def send(text: str) -> discord.Message:
            return await channel.send(text, reference=reference, allowed_mentions=NO_MENTIONS)  # type: ignore[arg-type]

        return send

    async def _send_done(self, event: ReplyDone, interaction: discord.Interaction | None) -> None:
        chunks = split_text(neutralize(event.text)) or ["…"]
        stream = self._streams.pop(event.reply_id, None)
        if interaction is not None:
            for chunk in chunks:
                await interaction.followup.send(chunk, allowed_mentions=NO_MENTIONS)
            return
        if stream is not None:
            await stream.finish(chunks[0])
            chunks = chunks[1:]
            send = self._first_sender(event.target.chat.id, None)
        else:
            send = self._first_sender(event.target.chat.id, event.target.in_reply_to)
        for i, chunk in enumerate(chunks):
            await send(chunk)
            if i == 0:
                send = self._first_sender(event.target.chat.id, None)  # only the first carries the reference

    @staticmethod
    async def _end_deferred(interaction: discord.Interaction, note: str) -> None:
        """Replace a deferred command's public "thinking…" with an ephemeral note (see _send_skipped)."""
        try:
            await interaction.delete_original_response()
        except discord.HTTPException as exc:
            log.info("discord: could not remove the thinking message: %s", exc)
        await interaction.followup.send(note, ephemeral=True, allowed_mentions=NO_MENTIONS)

    async def _send_skipped(self, event: ReplySkipped, interaction: discord.Interaction | None) -> None:
        """End what was started for a message that gets no reply.

        A deferred slash command shows "thinking…" until answered (up to 15 minutes), and the first
        follow-up after a public defer cannot be ephemeral (it replaces the loading message with
        the defer's visibility). So the loading message is deleted and a short ephemeral note is sent.
        An ordinary message gets nothing; a stream started for it is closed with what it showed.
        """
        self.skipped += 1
        ref = event.target.in_reply_to
        if interaction is not None:
            assert ref is not None
            self._interactions.pop(ref.message_id, None)
            await self._end_deferred(interaction, SKIP_NOTES.get(event.reason, SKIP_NOTE_DEFAULT))
            return
        for reply_id in [r for r, s in self._streams.items() if ref is not None and s.answers == ref]:
            stream = self._streams.pop(reply_id)
            shown = split_text(neutralize(stream.text))
            await stream.finish(shown[0] if shown else "")

    async def _send_voice(self, event: ReplyVoice, interaction: discord.Interaction | None) -> None:
        clip = event.clip
        if interaction is not None:
            await interaction.followup.send(file=discord.File(io.BytesIO(clip.data), FILE_NAME))
            return
        assert self.client is not None
        ref = self._reference(event.target.in_reply_to)
        try:
            await send_voice_message(
                self.client.http, int(event.target.chat.id), clip, ref.to_dict() if ref is not None else None
            )
            return
        except (discord.HTTPException, ValueError) as exc:
            log.warning("discord: voice message refused (%s); sending an audio file instead", exc)
        channel = self._channel(event.target.chat.id)
        await channel.send(
            file=discord.File(io.BytesIO(clip.data), "reply.ogg"), reference=ref, allowed_mentions=NO_MENTIONS  # type: ignore[arg-type]
        )

    def _speak(self, event: OutgoingEvent) -> None:
        """Feed replies of a guild whose voice channel the bot is in to the guild's speech queue."""
        if not self.config.voice.speak_replies or not isinstance(event, (ReplyDelta, ReplyDone)):
            return
        guild_id = self._chat_guild.get(event.target.chat.id)
        if self.voice.active(guild_id) is None:
            return
        assert guild_id is not None
        try:
            if isinstance(event, ReplyDelta):
                self.voice.stream_piece(guild_id, event.reply_id, event.text)
            elif not event.notice or event.streamed:
                self.voice.finish(guild_id, event.reply_id, event.text)
        except DiscordAdapterError as exc:
            log.info("discord: not spoken in guild %s: %s", guild_id, exc)
