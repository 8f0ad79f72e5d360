"""Exceptions of the Telegram adapter and the one function that maps python-telegram-bot's onto them.

The tree::

    TelegramAdapterError
    ├── TelegramConfigError        missing token, bad settings
    ├── TelegramApiError           Telegram (or the network) refused one request
    │   ├── Retryable              worth trying the same request again
    │   │   ├── RateLimited        429 with ``retry_after`` seconds
    │   │   ├── ServerError        5xx answers
    │   │   └── NetworkFailure     connection refused/dropped, timeouts
    │   ├── FormattingRejected     400 "can't parse entities" (send as plain text)
    │   ├── NotModified            400 "message is not modified" (harmless)
    │   ├── VoiceForbidden         400 Voice_messages_forbidden (user's privacy settings)
    │   ├── ChatMigrated           a group became a supergroup (``new_chat_id``)
    │   ├── BadRequest             any other 400
    │   ├── Forbidden              403: blocked by the user, kicked from the group
    │   └── Unauthorized           401/404: bad token
    └── DeliveryFailed             a request kept failing after the bounded number of tries
"""

from __future__ import annotations

import datetime as dtm
import warnings

import aiohttp
import httpx
from telegram import error as tg


class TelegramAdapterError(Exception):
    """Base of every error raised by the Telegram adapter."""


class TelegramConfigError(TelegramAdapterError):
    """The adapter's configuration cannot work."""


class TelegramApiError(TelegramAdapterError):
    """One Bot API request failed.

    Attributes:
        method: the Bot API method (``sendMessage``...), when known.
        description: Telegram's description of the failure.
    """

    def __init__(self, description: str, method: str = "") -> None:
        super().__init__(f"{method}: {description}" if method else description)
        self.method = method
        self.description = description


class Retryable(TelegramApiError):
    """A failure after which the same request may be sent again."""


class RateLimited(Retryable):
    """Telegram answered 429; wait ``retry_after`` seconds."""

    def __init__(self, description: str, retry_after: float, method: str = "") -> None:
        super().__init__(description, method)
        self.retry_after = retry_after


class ServerError(Retryable):
    """Telegram answered 5xx."""


class NetworkFailure(Retryable):
    """The connection failed or timed out."""


class FormattingRejected(TelegramApiError):
    """Telegram could not parse the formatting (send the text plain)."""


class NotModified(TelegramApiError):
    """An edit that changes nothing."""


class VoiceForbidden(TelegramApiError):
    """The user's privacy settings refuse voice notes."""


class ChatMigrated(TelegramApiError):
    """The group moved to a supergroup with ``new_chat_id``."""

    def __init__(self, description: str, new_chat_id: int, method: str = "") -> None:
        super().__init__(description, method)
        self.new_chat_id = new_chat_id


class BadRequest(TelegramApiError):
    """Any other 400 answer."""


class Forbidden(TelegramApiError):
    """403: the bot may not write there."""


class Unauthorized(TelegramApiError):
    """The token is wrong."""


class DeliveryFailed(TelegramAdapterError):
    """A request failed ``tries`` times; ``last`` is the final error."""

    def __init__(self, method: str, tries: int, last: TelegramApiError) -> None:
        super().__init__(f"{method} failed after {tries} tries: {last.description}")
        self.method = method
        self.tries = tries
        self.last = last


NOT_IDEMPOTENT = frozenset({"sendMessage", "sendVoice", "sendAudio", "sendDocument", "sendPhoto", "sendVideo"})
"""Methods that show something new each time they succeed (an edit or a chat action does not)."""

_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# The aiohttp transport (adapters/telegram/transport.py): a failed or timed-out connect never sent anything.
_AIOHTTP_NOT_SENT = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)


def response_lost(exc: tg.TelegramError) -> bool:
    """Whether the request may have reached Telegram although no answer came back.

    The Bot API has no idempotency key, so such a send may show twice if sent again. A
    failure before the request left (refused connection, pool timeout) and an answer from
    Telegram (4xx, 5xx) are not lost responses.
    """
    if not isinstance(exc, tg.NetworkError) or isinstance(exc, tg.BadRequest | tg.Forbidden):
        return False
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ClientError):
        return not isinstance(cause, _AIOHTTP_NOT_SENT)
    return cause is not None and isinstance(cause, httpx.HTTPError) and not isinstance(cause, _NOT_SENT)


def _seconds(value: object) -> float:
    if isinstance(value, dtm.timedelta):
        return value.total_seconds()
    return float(value)  # type: ignore[arg-type]


def map_error(exc: tg.TelegramError, method: str = "") -> TelegramApiError:
    """Translate a python-telegram-bot error into this adapter's tree.

    Args:
        exc: what python-telegram-bot raised.
        method: the Bot API method that failed, for the message.

    Returns:
        The matching :class:`TelegramApiError` (never raises).
    """
    text = exc.message
    low = text.lower()
    if isinstance(exc, tg.RetryAfter):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return RateLimited(text, _seconds(exc.retry_after), method)
    if isinstance(exc, tg.ChatMigrated):
        return ChatMigrated(text, int(exc.new_chat_id), method)
    if isinstance(exc, tg.BadRequest):
        if "voice_messages_forbidden" in low:
            return VoiceForbidden(text, method)
        if "can't parse entities" in low or "can't find end of" in low or "unsupported start tag" in low:
            return FormattingRejected(text, method)
        if "message is not modified" in low:
            return NotModified(text, method)
        return BadRequest(text, method)
    if isinstance(exc, tg.Forbidden):
        return Forbidden(text, method)
    if isinstance(exc, tg.InvalidToken | tg.EndPointNotFound):
        return Unauthorized(text, method)
    if isinstance(exc, tg.TimedOut):
        return NetworkFailure(text, method)
    if isinstance(exc, tg.NetworkError):
        # python-telegram-bot raises NetworkError both for 5xx answers (with Telegram's
        # description) and for transport failures ("httpx.…", "Unknown error in HTTP …").
        transport = "httpx" in low or "aiohttp." in low or "unknown error in http" in low or "disconnected" in low
        return NetworkFailure(text, method) if transport else ServerError(text, method)
    return BadRequest(text, method)
