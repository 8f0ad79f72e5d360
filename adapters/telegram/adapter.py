"""The Telegram adapter: python-telegram-bot's Bot for every call, our own receiving, limits and retries.

Modules:
    config      TelegramConfig (the ``telegram:`` section)
    errors      the exception tree and ``map_error``
    connection  long polling and the webhook endpoint
    inbound     updates -> IncomingMessage
    outbound    outgoing events -> Bot API calls, in order per chat
    sender      one request under the rate limiter, with retries
    ratelimit   per chat / per group / overall windows
    formatting  safe HTML and splitting at 4,096 characters
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import BotCommand, Update

from adapters.telegram.config import TelegramConfig
from adapters.telegram.connection import ALLOWED_UPDATES, Poller, UpdatesBot, WebhookServer, webhook_secret
from adapters.telegram.errors import TelegramConfigError
from adapters.telegram.inbound import AddressRules, BotIdentity, translate
from adapters.telegram.outbound import Outboxes, Replier
from adapters.telegram.ratelimit import RateLimiter
from adapters.telegram.sender import Sender
from adapters.telegram.transport import AiohttpRequest
from core.adapter import Adapter
from core.bus import Bus
from core.model import OutgoingEvent
from core.pipeline.commands import builtin_commands

log = logging.getLogger(__name__)


class TelegramAdapter(Adapter):
    """Connects one Telegram bot to the bus.

    Args:
        adapter_id: this adapter instance's id (``IncomingMessage.origin``).
        bus: where incoming messages go and replies come from.
        config: the ``telegram:`` section.

    Raises:
        TelegramConfigError: from :meth:`start` when no token is configured.
    """

    platform = "telegram"

    def __init__(self, adapter_id: str, bus: Bus, config: TelegramConfig) -> None:
        super().__init__(adapter_id, bus)
        self.config = config
        self.limiter = RateLimiter(config.rate_limits)
        self.sender = Sender(self.limiter, config.retry, max_in_flight=config.max_concurrent_sends)
        self.rules = AddressRules(config.reply_in_groups_only_when_addressed, config.answer_channel_posts)
        self.bot: UpdatesBot | None = None
        self.me: BotIdentity | None = None
        self.outboxes: Outboxes | None = None
        self.poller: Poller | None = None
        self.webhook: WebhookServer | None = None
        self.skipped_updates = 0

    async def connect(self) -> None:
        """Log in (``getMe``), register the commands, then poll or open the webhook."""
        cfg = self.config
        if cfg.token is None or not cfg.token.get_secret_value():
            raise TelegramConfigError("telegram.token is not set (use ${TELEGRAM_BOT_TOKEN})")
        timeout = cfg.request_timeout_s
        request = AiohttpRequest(
            connection_pool_size=cfg.connection_pool_size,
            read_timeout=timeout,
            write_timeout=timeout,
            connect_timeout=timeout,
            pool_timeout=timeout,
        )
        updates_request = AiohttpRequest(connection_pool_size=2, read_timeout=timeout, connect_timeout=timeout)
        bot = self.bot = UpdatesBot(
            cfg.token.get_secret_value(),
            base_url=cfg.base_url,
            base_file_url=cfg.base_file_url,
            request=request,
            get_updates_request=updates_request,
        )
        await self.sender.call("getMe", None, bot.initialize, per_chat=False)
        self.me = BotIdentity(bot.bot.id, bot.bot.username or "")
        commands = cfg.commands or {c.name: c.description for c in builtin_commands()}
        await self.sender.call(
            "setMyCommands",
            None,
            lambda: bot.set_my_commands([BotCommand(name, text) for name, text in commands.items()]),
            per_chat=False,
        )
        self.outboxes = Outboxes(Replier(bot, self.sender, cfg))
        if cfg.mode == "webhook":
            secret = webhook_secret(cfg.webhook)
            self.webhook = WebhookServer(cfg.webhook, self.handle_raw, secret)
            await self.webhook.start()
            await self.sender.call(
                "setWebhook",
                None,
                lambda: bot.set_webhook(
                    cfg.webhook.url,
                    secret_token=secret,
                    allowed_updates=ALLOWED_UPDATES,
                    drop_pending_updates=cfg.drop_pending_updates,
                ),
                per_chat=False,
            )
        else:
            await self.sender.call(
                "deleteWebhook",
                None,
                lambda: bot.delete_webhook(drop_pending_updates=cfg.drop_pending_updates),
                per_chat=False,
            )
            self.poller = Poller(bot, self.handle_raw, cfg.poll_timeout_s)
            await self.poller.start()
        log.info("telegram adapter %s connected as @%s (%s)", self.adapter_id, self.me.username, cfg.mode)

    async def disconnect(self) -> None:
        """Stop receiving, send what is still queued (bounded), close the HTTP clients."""
        if self.poller is not None:
            await self.poller.stop()
            self.poller = None
        if self.webhook is not None:
            await self.webhook.stop()
            self.webhook = None
        if self.outboxes is not None:
            await self.outboxes.drain(self.config.drain_timeout_s)
        if self.bot is not None:
            await self.bot.shutdown()
            self.bot = None

    async def deliver(self, event: OutgoingEvent) -> None:
        """Queue ``event`` for its chat; the chat's worker sends it in order."""
        if self.outboxes is None:
            log.error("telegram adapter %s: event before connect dropped", self.adapter_id)
            return
        self.outboxes.put(event)

    async def handle_raw(self, raw: dict[str, Any]) -> None:
        """Translate one raw update and publish it; malformed updates are logged and skipped."""
        assert self.bot is not None and self.me is not None
        try:
            update = Update.de_json(raw, self.bot)
            message = translate(update, raw, self.me, self.adapter_id, self.rules, self.download)
        except Exception as exc:  # noqa: BLE001 - a bad update must never stop the bot
            self.skipped_updates += 1
            log.warning("telegram: malformed update %s skipped: %r", raw.get("update_id"), exc)
            return
        if message is None:
            log.debug("telegram: update %s has nothing to answer", raw.get("update_id"))
            return
        await self.bus.publish(message)

    async def download(self, file_id: str) -> bytes:
        """Fetch a file's bytes (``getFile`` then the file URL)."""
        assert self.bot is not None
        bot = self.bot
        file = await self.sender.call("getFile", None, lambda: bot.get_file(file_id), per_chat=False)
        return bytes(await file.download_as_bytearray())
