"""Config of the Telegram adapter (the ``telegram:`` section of an adapter in config.yaml)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
"""What Telegram accepts as ``secret_token`` in setWebhook."""


class RateLimitConfig(BaseModel):
    """Our own send limits (Telegram's: ~1/s per chat, 20/min per group, 30/s overall).

    Every limit is ``count`` requests per ``period`` seconds; 0 disables that limit.
    ``low_priority_share``: the share of each budget that previews of streamed replies and chat
    actions may use (they never wait for a slot; text always has the rest). With the defaults a
    private chat gets a draft at most every 2 s, a group an edit at most every 6 s.
    """

    model_config = ConfigDict(extra="forbid")

    per_chat: int = Field(1, ge=0)
    per_chat_period_s: float = Field(1.0, gt=0)
    per_group: int = Field(20, ge=0)
    per_group_period_s: float = Field(60.0, gt=0)
    overall: int = Field(30, ge=0)
    overall_period_s: float = Field(1.0, gt=0)
    low_priority_share: float = Field(0.5, gt=0, le=1)


class RetryConfig(BaseModel):
    """Retries of one request: 429 waits ``retry_after``; 5xx and network errors back off with jitter."""

    model_config = ConfigDict(extra="forbid")

    max_tries: int = Field(6, ge=1)
    max_rate_limited_tries: int = Field(20, ge=1)
    backoff_base_s: float = Field(0.5, ge=0)
    backoff_max_s: float = Field(30.0, ge=0)
    max_retry_after_s: float = Field(300.0, gt=0)


class WebhookConfig(BaseModel):
    """Webhook mode: we listen on ``listen:port`` at ``path``; Telegram posts to ``url``.

    The endpoint always checks ``X-Telegram-Bot-Api-Secret-Token``. ``secret`` empty or
    unset (``${TELEGRAM_WEBHOOK_SECRET}`` with the variable missing) means a random one
    is generated at every start and given to Telegram with setWebhook.
    """

    model_config = ConfigDict(extra="forbid")

    listen: str = "127.0.0.1"
    port: int = Field(8443, ge=0, le=65535)
    path: str = "/telegram"
    url: str = ""
    secret: SecretStr | None = None

    @model_validator(mode="before")
    @classmethod
    def _mask_secret(cls, data: Any) -> Any:
        # Wrapped before the field is validated, so an error reports SecretStr('**********') as its
        # input instead of echoing the refused secret into logs (whatever model encloses this one).
        if isinstance(data, dict) and isinstance(data.get("secret"), str):
            data = {**data, "secret": SecretStr(data["secret"])}
        return data

    @field_validator("secret")
    @classmethod
    def _telegram_accepts_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if not WEBHOOK_SECRET.fullmatch(value.get_secret_value()):
            raise ValueError(
                "telegram.webhook.secret must be 1-256 characters of A-Z, a-z, 0-9, '_' and '-' "
                "(Telegram's rule for secret_token); leave it empty to have a random one generated"
            )
        return value


class StreamConfig(BaseModel):
    """Streamed replies: drafts in private chats, one edited message in groups."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    draft_interval_s: float = Field(0.5, ge=0)
    edit_interval_s: float = Field(1.0, ge=0)


class TelegramConfig(BaseModel):
    """A Telegram bot: token from ${TELEGRAM_BOT_TOKEN}; base_url for a self-hosted Bot API server."""

    model_config = ConfigDict(extra="forbid")

    token: SecretStr | None = None
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    mode: Literal["polling", "webhook"] = "polling"
    webhook: WebhookConfig = Field(default_factory=WebhookConfig)
    poll_timeout_s: int = Field(30, ge=0)
    drop_pending_updates: bool = False
    reply_in_groups_only_when_addressed: bool = True
    answer_channel_posts: bool = False
    #: ignore messages written by other bots (two bots answering each other in a group loop forever)
    ignore_bots: bool = True
    stream: StreamConfig = Field(default_factory=StreamConfig)
    rate_limits: RateLimitConfig = Field(default_factory=RateLimitConfig)
    retry: RetryConfig = Field(default_factory=RetryConfig)
    parse_mode: Literal["HTML", "none"] = "HTML"
    chat_action_delay_s: float = Field(0.3, ge=0)
    voice_note_max_bytes: int = Field(1_000_000, ge=1)
    commands: dict[str, str] | None = None
    connection_pool_size: int = Field(8, ge=1)
    max_concurrent_sends: int = Field(8, ge=1)
    request_timeout_s: float = Field(20.0, gt=0)
    drain_timeout_s: float = Field(10.0, ge=0)
    #: journal addressed messages in SQLite until answered, so a crash loses none (when the bot runs in
    #: one process with SQLite storage: the file is ``telegram-journal.sqlite3`` next to ``storage.path``)
    journal: bool = True

    @model_validator(mode="after")
    def _webhook_needs_url(self) -> TelegramConfig:
        if self.mode == "webhook" and not self.webhook.url:
            raise ValueError("telegram.webhook.url is required in webhook mode")
        return self
