"""Regressions found by fuzzing the web chat (issue 19): lone surrogates, deep nesting, writer errors, skips."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from core.engine import Conversation, DialogueEngine
from core.engines.echo import EchoEngine
from tests.adapters.web.harness import client, running_bot

SESSION = "surrogate-session-1"


class SurrogateEngine(DialogueEngine):
    """Answers with a lone surrogate in the text, as a broken engine or tokenizer could."""

    async def reply(self, conversation: Conversation) -> AsyncIterator[str]:  # type: ignore[override]
        yield "broken \udc80 piece"


async def test_lone_surrogate_from_one_tab_does_not_silence_the_other(http: aiohttp.ClientSession, tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite3"
    async with running_bot(EchoEngine(), db_path=db) as bot, client(http, bot, SESSION) as a, client(http, bot, SESSION) as b:
        await a.ws.send_str('{"type":"message","id":"x1","text":"hello \\ud800 there"}')
        ack, _ = await a.until("ack")
        assert ack["id"] == "x1"
        echo, _ = await b.until("echo")
        assert echo["text"] == "hello \ufffd there"
        done, _ = await b.until("done")
        assert done["text"] == "hello \ufffd there"
        # B's writer is alive: its own messages are acked and answered.
        assert (await b.ask("tab b still works"))["text"] == "tab b still works"
        assert (await a.ask("tab a too"))["text"] == "tab a too"
        await bot.pipeline.idle()
    rows = sqlite3.connect(db).execute("SELECT text FROM turns WHERE chat_key = ? ORDER BY id", (f"web:{SESSION}",)).fetchall()
    assert ("hello \ufffd there",) in rows and ("tab b still works",) in rows


async def test_lone_surrogate_in_an_engine_reply_is_shown_replaced(http: aiohttp.ClientSession) -> None:
    async with running_bot(SurrogateEngine()) as bot, client(http, bot) as c:
        done = await c.ask("hi")
        assert done["text"] == "broken \ufffd piece"
        assert (await c.ask("again"))["text"] == "broken \ufffd piece"


async def test_writer_survives_a_frame_that_cannot_be_encoded(http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture) -> None:
    async with running_bot(EchoEngine()) as bot, client(http, bot, SESSION) as c:
        with caplog.at_level(logging.ERROR, "adapters.web.sessions"):
            bot.adapter.hub.broadcast(SESSION, {"type": "weird", "value": object()})
        assert (await c.ask("after the bad frame"))["text"] == "after the bad frame"
    assert any("cannot be encoded" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("depth", [33, 1000, 100_000])
async def test_deeply_nested_json_gets_bad_json_and_the_socket_stays_open(http: aiohttp.ClientSession, depth: int) -> None:
    async with running_bot(EchoEngine()) as bot, client(http, bot) as c:
        await c.ws.send_str("[" * depth)
        error, _ = await c.until("error")
        assert error["code"] == "bad_json" and "nested" in error["message"]
        await c.ws.send_str('{"type":"message","id":"n1","text":' + "[" * 40 + "]" * 40 + "}")
        error, _ = await c.until("error")
        assert error["code"] == "bad_json"
        assert (await c.ask("still open"))["text"] == "still open"


async def test_skipped_message_is_one_frame_and_no_warning(http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture) -> None:
    async with running_bot(EchoEngine()) as bot, client(http, bot) as c:
        with caplog.at_level(logging.DEBUG):
            await c.send("once", "dup-1")
            await c.until("done")
            await c.send("once", "dup-1")  # a resend of the same id: answered once, then skipped
            skipped, before = await c.until("skipped")
            await bot.pipeline.idle()
    assert skipped == {"type": "skipped", "in_reply_to": "dup-1", "reason": "duplicate"}
    assert not [f for f in before if f["type"] == "done"]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
