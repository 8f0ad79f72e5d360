"""Splitting at 4,096 characters, safe HTML, and the mapping of python-telegram-bot errors."""

from __future__ import annotations

from telegram import error as tg

from adapters.telegram import errors
from adapters.telegram.formatting import split_text, to_html


def test_split_prefers_lines_then_sentences_then_words():
    text = ("line of words\n" * 400).strip()
    parts = split_text(text, 100)
    assert all(len(p) <= 100 for p in parts) and all(p.endswith("words") for p in parts)
    sentences = "Short one. " * 50
    assert all(p.endswith(".") for p in split_text(sentences, 64))
    unbroken = "x" * 250
    assert split_text(unbroken, 100) == ["x" * 100, "x" * 100, "x" * 50]
    assert split_text("   ") == []


def test_html_escapes_everything_the_reply_contains():
    assert to_html("1 < 2 & <script>") == "1 &lt; 2 &amp; &lt;script&gt;"
    assert to_html("```py\nx<1\n```") == "<pre>x&lt;1\n</pre>"


def test_map_error_covers_the_tree():
    m = errors.map_error
    assert isinstance(m(tg.RetryAfter(3), "sendMessage"), errors.RateLimited)
    assert m(tg.RetryAfter(3)).retry_after == 3
    assert isinstance(m(tg.BadRequest("Bad Request: VOICE_MESSAGES_FORBIDDEN")), errors.VoiceForbidden)
    assert isinstance(m(tg.BadRequest("Bad Request: can't parse entities: x")), errors.FormattingRejected)
    assert isinstance(m(tg.BadRequest("Bad Request: message is not modified")), errors.NotModified)
    assert isinstance(m(tg.BadRequest("Bad Request: chat not found")), errors.BadRequest)
    assert isinstance(m(tg.Forbidden("Forbidden: bot was blocked by the user")), errors.Forbidden)
    assert isinstance(m(tg.NetworkError("Internal Server Error")), errors.ServerError)
    assert isinstance(m(tg.NetworkError("httpx.RemoteProtocolError: Server disconnected")), errors.NetworkFailure)
    assert isinstance(m(tg.TimedOut()), errors.NetworkFailure)
    assert isinstance(m(tg.ChatMigrated(-100123)), errors.ChatMigrated)
    assert isinstance(m(tg.InvalidToken()), errors.Unauthorized)


def test_token_never_in_config_repr():
    from adapters.telegram.config import TelegramConfig

    cfg = TelegramConfig(token="123:SECRET")
    assert "SECRET" not in repr(cfg) and "SECRET" not in str(cfg.model_dump())
