"""Receiving updates: long polling (default) or a webhook endpoint with a secret token.

Both hand each update's raw JSON to one callback. Polling parses nothing itself, so
one malformed update cannot stall the batch: the offset always moves past it.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web
from telegram import Bot, BotCommand
from telegram import error as tg
from yarl import URL

from adapters.telegram.config import WebhookConfig
from adapters.telegram.errors import (
    NetworkFailure,
    TelegramAdapterError,
    TelegramConfigError,
    Unauthorized,
    map_error,
)
from adapters.telegram.journal import JournalError
from core.backoff import Backoff, BackoffPolicy
from core.commands import CommandSpec
from core.errors import BusError
from core.redaction import register_secret

log = logging.getLogger(__name__)

RawHandler = Callable[[dict[str, Any]], Awaitable[None]]

ALLOWED_UPDATES = ["message", "edited_message", "channel_post", "edited_channel_post"]

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

#: getUpdates (and an update the bus refused) is tried again after 1 s, doubling up to 30 s, never sooner than half.
POLL_RETRY = BackoffPolicy(base_s=1.0, cap_s=30.0, jitter="equal")


MAX_MENU_COMMANDS = 100
"""Telegram keeps at most 100 commands in a bot's menu."""


def command_menu(specs: Sequence[CommandSpec], override: dict[str, str] | None = None) -> list[BotCommand]:
    """The ``setMyCommands`` list: ``override`` (``telegram.commands`` in config) when set, else ``specs``
    with their usage in the description (``/roll [sides]``); names Telegram refuses are left out."""
    pairs = list(override.items()) if override else [(s.name, _menu_text(s)) for s in specs]
    menu = []
    for name, text in pairs:
        if not (1 <= len(name) <= 32 and name == name.lower() and name.replace("_", "").isalnum() and name.isascii()):
            log.warning("telegram: command %r left out of the menu: Telegram accepts 1-32 of a-z, 0-9 and _", name)
            continue
        menu.append(BotCommand(name, (text or name)[:256]))
    if len(menu) > MAX_MENU_COMMANDS:
        log.warning("telegram: %d commands; the menu shows the first %d", len(menu), MAX_MENU_COMMANDS)
    return menu[:MAX_MENU_COMMANDS]


def _menu_text(spec: CommandSpec) -> str:
    args = " ".join(f"<{o.name}>" if o.required else f"[{o.name}]" for o in spec.options)
    return f"{spec.description} {args}".strip() if args and spec.options[0].name != "args" else spec.description


class UpdatesBot(Bot):
    """A :class:`telegram.Bot` that can also fetch updates as raw JSON."""

    async def raw_updates(self, offset: int | None, timeout: int, limit: int = 100) -> list[dict[str, Any]]:
        """``getUpdates`` without parsing: each update is parsed (and may fail) on its own."""
        data: dict[str, Any] = {"timeout": timeout, "limit": limit, "allowed_updates": ALLOWED_UPDATES}
        if offset is not None:
            data["offset"] = offset
        result = await self._post("getUpdates", data, read_timeout=timeout + 10.0)
        return result if isinstance(result, list) else []


class Poller:
    """Long polling: ``getUpdates`` with the offset of the last update seen plus one.

    Args:
        bot: the bot.
        handle: called with each raw update, in order.
        timeout_s: the long-polling timeout Telegram holds the request for.
    """

    def __init__(self, bot: UpdatesBot, handle: RawHandler, timeout_s: int) -> None:
        self.bot = bot
        self.handle = handle
        self.timeout_s = timeout_s
        self.offset: int | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start polling in the background."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="telegram-polling")

    async def stop(self) -> None:
        """Stop polling (updates not yet confirmed come again after a restart)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        backoff = Backoff(POLL_RETRY)
        while True:
            try:
                updates = await self.bot.raw_updates(self.offset, self.timeout_s)
                backoff.reset()
            except asyncio.CancelledError:
                raise
            except tg.TelegramError as exc:
                delay = backoff.next()
                log.warning("telegram getUpdates failed (%s); retry in %.1fs", map_error(exc, "getUpdates"), delay)
                await asyncio.sleep(delay)
                continue
            for update in updates:
                update_id = update.get("update_id") if isinstance(update, dict) else None
                if not isinstance(update_id, int):
                    log.warning("telegram: update without update_id skipped: %.200r", update)
                    continue
                try:
                    await self.handle(update)
                except (BusError, JournalError) as exc:
                    # Not accepted (the bus's server is down and the gateway's outbox is full, or the journal
                    # cannot be written): keep the offset here so Telegram hands this update and the rest of
                    # the batch over again.
                    delay = backoff.next()
                    log.error("telegram: update %s not accepted (%s); fetching it again in %.1fs", update_id, exc, delay)
                    await asyncio.sleep(delay)
                    break
                except Exception:
                    log.exception("telegram: update %s could not be handled; skipped", update_id)
                self.offset = max(self.offset or 0, update_id + 1)


class LoginFailed(TelegramAdapterError):
    """``getMe`` failed at start: the message says why and what to check (network, proxy, token)."""


async def log_in(bot: Bot, base_url: str) -> None:
    """``getMe`` once; the adapter's supervisor retries with backoff, so a failure is one clear line.

    Raises:
        LoginFailed: with the cause and a hint.
    """
    try:
        await bot.initialize()
    except tg.TelegramError as exc:
        err = map_error(exc, "getMe")
        host = URL(base_url).host or base_url
        if isinstance(err, Unauthorized) or isinstance(exc, tg.InvalidToken):
            hint = f"the token was refused ({err.description}): check the bot token from @BotFather"
        elif isinstance(err, NetworkFailure):
            hint = (
                f"cannot reach {host} ({err.description}): check the network; "
                "behind a proxy, set HTTPS_PROXY"
            )
        else:
            hint = f"{host} answered getMe with an error: {err.description}"
        raise LoginFailed(f"telegram login failed: {hint}") from None


def webhook_secret(config: WebhookConfig) -> str:
    """The configured secret token, or a fresh random one when none is configured.

    The random one (256 bits, URL-safe base64: within Telegram's ``A-Za-z0-9_-``) lives
    only as long as this process; setWebhook hands it to Telegram at every start.
    """
    if config.secret is not None and config.secret.get_secret_value():
        return config.secret.get_secret_value()
    log.info("telegram webhook: no secret configured; generated a random secret token for this run")
    generated = secrets.token_urlsafe(32)
    register_secret(generated)
    return generated


class WebhookServer:
    """An aiohttp endpoint for Telegram's webhook; requests without the secret get 403.

    Args:
        config: where to listen.
        handle: called with each accepted raw update.
        secret: the secret token every request must carry (never empty: see
            :func:`webhook_secret`).

    Raises:
        TelegramConfigError: when ``secret`` is empty.
    """

    def __init__(self, config: WebhookConfig, handle: RawHandler, secret: str) -> None:
        if not secret:
            raise TelegramConfigError("the webhook endpoint needs a secret token")
        self.config = config
        self.handle = handle
        self._secret = secret.encode()
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self) -> None:
        """Listen on ``listen:port`` (port 0 picks a free one, see :attr:`port`)."""
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post(self.config.path, self._receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.listen, self.config.port)
        await site.start()
        server = site._server  # aiohttp exposes the bound sockets only here
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self.config.port

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _receive(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "replace")
        if not hmac.compare_digest(given, self._secret):
            log.warning("telegram webhook: request without the right secret token refused (403)")
            return web.Response(status=403, text="forbidden")
        try:
            update = json.loads((await request.read()).decode("utf-8", "replace"))
        except ValueError:
            log.warning("telegram webhook: body is not JSON; skipped")
            return web.Response(status=400, text="bad request")
        if not isinstance(update, dict):
            log.warning("telegram webhook: update is not an object; skipped")
            return web.Response(status=400, text="bad request")
        try:
            await self.handle(update)  # returns once the message is on the bus (and in the journal)
        except (BusError, JournalError) as exc:
            # Telegram retries a webhook delivery that does not get a 2xx, so nothing is lost.
            log.error("telegram webhook: update %s not accepted (%s); answering 503 so Telegram retries", update.get("update_id"), exc)
            return web.Response(status=503, text="unavailable")
        return web.Response(status=200, text="ok")
