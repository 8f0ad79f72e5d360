"""The Telegram adapter: python-telegram-bot's Bot for every call, our own receiving, limits and retries.

Modules:
    config      TelegramConfig (the ``telegram:`` section)
    errors      the exception tree and ``map_error``
    connection  long polling and the webhook endpoint
    inbound     updates -> IncomingMessage
    outbound    outgoing events -> Bot API calls: the Replier, composed of
      reply_state   streams in progress, groups that became supergroups
      previews      streamed previews (drafts, edited messages)
      replies       final text, voice notes, chat actions
    outboxes    one queue and worker per chat, in order
    journal     unanswered incoming messages in SQLite, replayed after a crash
    sender      one request under the rate limiter, with retries
    ratelimit   per chat / per group / overall windows
    formatting  safe HTML and splitting at 4,096 characters
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from telegram import Update

from adapters.telegram.config import TelegramConfig
from adapters.telegram.connection import (
    ALLOWED_UPDATES,
    Poller,
    UpdatesBot,
    WebhookServer,
    command_menu,
    log_in,
    webhook_secret,
)
from adapters.telegram.errors import TelegramConfigError
from adapters.telegram.inbound import AddressRules, BotIdentity, moved_notice, translate
from adapters.telegram.journal import Journal
from adapters.telegram.outbound import Outboxes, Replier
from adapters.telegram.ratelimit import RateLimiter
from adapters.telegram.sender import Sender
from adapters.telegram.transport import AiohttpRequest
from core.adapter import Adapter
from core.bus import Bus
from core.commands import CommandSpec
from core.model import IncomingMessage, OutgoingEvent, ReplyDone, ReplySkipped, ReplyVoice
from core.pipeline.commands import builtin_commands
from core.redaction import register_secret

log = logging.getLogger(__name__)

MAX_REPLAYS = 3
"""A journaled message replayed this many times without being answered (it crashes the bot?) is dropped."""


class _JournalingReplier(Replier):
    """A :class:`Replier` that forgets a journaled message once its final reply was handed to Telegram."""

    def __init__(self, journal: Journal, *args: Any) -> None:
        super().__init__(*args)
        self.journal = journal

    async def handle(self, event: OutgoingEvent) -> None:
        await super().handle(event)
        ref = event.target.in_reply_to
        if getattr(event, "heard", False):
            return  # a transcript shown before the answer (voice in) is not the answer
        if isinstance(event, ReplyDone | ReplyVoice | ReplySkipped) and ref is not None and ref.platform == "telegram":
            try:
                await self.journal.done(ref.chat_id, ref.message_id)
            except Exception:  # at worst the message is answered again after a restart
                log.exception("telegram journal: could not forget %s:%s", ref.chat_id, ref.message_id)


class TelegramAdapter(Adapter):
    """Connects one Telegram bot to the bus.

    Args:
        adapter_id: this adapter instance's id (``IncomingMessage.origin``).
        bus: where incoming messages go and replies come from.
        config: the ``telegram:`` section.
        commands: the bot's commands for the menu (``setMyCommands``); default: the built-ins.
            ``telegram.commands`` in config, when set, overrides them.
        journal_path: the SQLite file journaling unanswered messages (None: no journal; a
            crash then loses the messages being answered, see :mod:`adapters.telegram.journal`).

    Raises:
        TelegramConfigError: from :meth:`start` when no token is configured.
    """

    platform = "telegram"

    def __init__(
        self,
        adapter_id: str,
        bus: Bus,
        config: TelegramConfig,
        commands: Sequence[CommandSpec] | None = None,
        journal_path: Path | None = None,
    ) -> None:
        super().__init__(adapter_id, bus)
        self.journal = Journal(journal_path, adapter_id) if journal_path is not None else None
        self.replayed = 0
        self.config = config
        self.commands = list(commands) if commands is not None else [c.spec for c in builtin_commands()]
        self.limiter = RateLimiter(config.rate_limits)
        self.sender = Sender(self.limiter, config.retry, max_in_flight=config.max_concurrent_sends)
        self.rules = AddressRules(config.reply_in_groups_only_when_addressed, config.answer_channel_posts, config.ignore_bots)
        self.bot: UpdatesBot | None = None
        self._requests: tuple[AiohttpRequest, ...] = ()
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
        register_secret(cfg.token.get_secret_value())  # it is part of every request URL
        timeout = cfg.request_timeout_s
        request = AiohttpRequest(
            connection_pool_size=cfg.connection_pool_size,
            read_timeout=timeout,
            write_timeout=timeout,
            connect_timeout=timeout,
            pool_timeout=timeout,
        )
        updates_request = AiohttpRequest(connection_pool_size=2, read_timeout=timeout, connect_timeout=timeout)
        self._requests = (request, updates_request)
        bot = self.bot = UpdatesBot(
            cfg.token.get_secret_value(),
            base_url=cfg.base_url,
            base_file_url=cfg.base_file_url,
            request=request,
            get_updates_request=updates_request,
        )
        await log_in(bot, cfg.base_url)  # once: the supervisor retries, one log line per attempt
        self.me = BotIdentity(bot.bot.id, bot.bot.username or "")
        menu = command_menu(self.commands, cfg.commands)
        await self.sender.call("setMyCommands", None, lambda: bot.set_my_commands(menu), per_chat=False)
        if self.journal is not None:
            await self.journal.start()
            self.outboxes = Outboxes(_JournalingReplier(self.journal, bot, self.sender, cfg, self._chat_moved))
            await self._replay()
        else:
            self.outboxes = Outboxes(Replier(bot, self.sender, cfg, self._chat_moved))
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
        for request in self._requests:  # also when getMe never finished (the bot was never initialized)
            await request.shutdown()
        self._requests = ()
        if self.journal is not None:
            await self.journal.stop()

    async def deliver(self, event: OutgoingEvent) -> None:
        """Queue ``event`` for its chat; the chat's worker sends it in order."""
        if self.outboxes is None:
            log.error("telegram adapter %s: event before connect dropped", self.adapter_id)
            return
        self.outboxes.put(event)

    async def handle_raw(self, raw: dict[str, Any]) -> None:
        """Translate one raw update, journal it when it is addressed, and publish it.

        Malformed updates are logged and skipped. Returning means the update may be confirmed
        to Telegram: its message is on the bus and, with a journal, on disk.

        Raises:
            JournalError: the journal could not be written (the update must come again).
            BusError: the bus did not take the message.
        """
        message = self._translate(raw)
        if message is None:
            return
        if message.moved is not None and self.outboxes is not None:  # replies to the old group go there too
            self.outboxes.replier.follow(int(message.moved.old_chat_id), int(message.moved.new_chat_id))
        if self.journal is not None and message.is_addressed:
            update_id = raw.get("update_id")
            if not await self.journal.add(message.chat.id, message.message_id, update_id if isinstance(update_id, int) else 0, raw):
                log.info("telegram: update %s is already being answered (journaled); not published again", update_id)
                return
        await self.bus.publish(message)

    async def _chat_moved(self, old_id: int, new_id: int, title: str) -> None:
        """A send learned that group ``old_id`` became supergroup ``new_id``: the pipeline moves its state."""
        await self.bus.publish(moved_notice(self.adapter_id, old_id, new_id, title))

    def _translate(self, raw: dict[str, Any]) -> IncomingMessage | None:
        assert self.bot is not None and self.me is not None
        try:
            update = Update.de_json(raw, self.bot)
            message = translate(update, raw, self.me, self.adapter_id, self.rules, self.download)
        except Exception as exc:  # noqa: BLE001 - a bad update must never stop the bot
            self.skipped_updates += 1
            log.warning("telegram: malformed update %s skipped: %r", raw.get("update_id"), exc)
            return None
        if message is None:
            log.debug("telegram: update %s has nothing to answer", raw.get("update_id"))
        return message

    async def _replay(self) -> None:
        """Publish again what the journal holds: messages whose answer never reached Telegram."""
        assert self.journal is not None
        for entry in await self.journal.pending():
            message = self._translate(entry.raw)
            if message is None:  # nothing to answer any more (the config changed)
                await self.journal.forget_update(entry.update_id)
                continue
            if entry.replays > MAX_REPLAYS:
                log.error(
                    "telegram: message %s was replayed %d times after restarts without being answered; dropping it",
                    message.key,
                    entry.replays - 1,
                )
                await self.journal.done(message.chat.id, message.message_id)
                continue
            self.replayed += 1
            await self.bus.publish_again(message)
        if self.replayed:
            log.warning("telegram: %d messages unanswered before the last stop are being answered now", self.replayed)

    async def download(self, file_id: str) -> bytes:
        """Fetch a file's bytes (``getFile`` then the file URL)."""
        assert self.bot is not None
        bot = self.bot
        file = await self.sender.call("getFile", None, lambda: bot.get_file(file_id), per_chat=False)
        return bytes(await file.download_as_bytearray())
