"""Config of the Discord adapter (the ``discord:`` section of an adapter in config.yaml)."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator


class DiscordVoiceConfig(BaseModel):
    """Voice channels: what the bot speaks there and when it leaves.

    Attributes:
        enabled: allow ``/join`` at all.
        speak_replies: speak every reply given in the guild while connected.
        read_aloud: also read the text messages of the channel where ``/join`` was used (TTS-bot use).
        voice: voice name passed to the speech service (empty: its default).
        rate: speaking rate.
        language: language of the voice-channel speech.
        lead_in_ms: silence before the first clip of a burst, so the first word is not cut.
        gap_frames: 20 ms silence frames between clips.
        idle_leave_s: leave after this long without speech (0: never).
        empty_leave_s: leave this long after the last human left the channel (0: never).
        reconnect_attempts: rejoins tried after an unexpected voice disconnect.
        max_queue: clips waiting per guild; a fuller queue rejects new clips with a notice.
        listen_by_default: listen in a guild's voice channel before anyone used ``/listen on`` (when the
            bot's ``voice_channel.listening`` is enabled at all).
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    speak_replies: bool = True
    read_aloud: bool = False
    voice: str = ""
    rate: float = 1.0
    language: str = "en"
    lead_in_ms: int = Field(default=100, ge=0, le=2000)
    gap_frames: int = Field(default=5, ge=0, le=100)
    idle_leave_s: float = Field(default=600.0, ge=0)
    empty_leave_s: float = Field(default=30.0, ge=0)
    reconnect_attempts: int = Field(default=3, ge=0)
    max_queue: int = Field(default=50, ge=1)
    listen_by_default: bool = False


class DiscordConfig(BaseModel):
    """A Discord bot.

    Attributes:
        token: the bot token (``${DISCORD_BOT_TOKEN}`` in config.yaml).
        api_base_url: REST base, e.g. a rate-limit proxy (sets ``discord.http.Route.BASE``).
        gateway_url: gateway WebSocket URL, e.g. a gateway proxy.
        message_content: ask for the privileged message-content intent (needed to read
            messages that do not mention the bot).
        shard_count: ``None`` for one connection; ``0`` for automatic sharding; a number for that many shards.
        shard_ids: the shards this process runs (several gateway processes split ``shard_count``
            between them; ``python run.py gateway --shards 0,1`` sets it). ``None``: all of them.
        answer_channels: channel ids answered in full (no mention needed); threads inherit their parent's.
        ignore_bots: ignore messages from other bots.
        sync_commands: sync the slash commands at start.
        dev_guild_ids: sync the commands to these guilds only (instant, for development); empty: globally.
        stream_edit_interval_s: minimum time between edits of a streamed message.
        guild_ready_timeout_s: discord.py's wait for GUILD_CREATE events after READY.
        voice: voice-channel settings.
    """

    model_config = ConfigDict(extra="forbid")

    token: SecretStr | None = None
    api_base_url: str | None = None
    gateway_url: str | None = None
    message_content: bool = True
    shard_count: int | None = Field(default=None, ge=0)
    shard_ids: list[int] | None = None
    answer_channels: list[str] = Field(default_factory=list)
    ignore_bots: bool = True
    sync_commands: bool = True
    dev_guild_ids: list[str] = Field(default_factory=list)
    stream_edit_interval_s: float = Field(default=1.0, ge=0.2)
    guild_ready_timeout_s: float = Field(default=2.0, ge=0)
    voice: DiscordVoiceConfig = Field(default_factory=DiscordVoiceConfig)

    @model_validator(mode="after")
    def _shards(self) -> Self:
        if self.shard_ids is not None:
            if not self.shard_count:
                raise ValueError("shard_ids needs shard_count: the total number of shards over every gateway")
            bad = [i for i in self.shard_ids if not 0 <= i < self.shard_count]
            if bad or not self.shard_ids or len(set(self.shard_ids)) != len(self.shard_ids):
                raise ValueError(f"shard_ids must be distinct ids in 0..{self.shard_count - 1}; got {self.shard_ids}")
        return self

    @property
    def syncs_commands(self) -> bool:
        """Slash commands are synced by one process only: the one running shard 0 (or the only one)."""
        return self.sync_commands and (self.shard_ids is None or 0 in self.shard_ids)
