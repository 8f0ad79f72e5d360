"""Bad input on the web chat: junk frames, huge and empty messages, HTML, failing and hanging engines."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp

from adapters.web.config import WebConfig
from core.engine import Conversation, DialogueEngine
from core.engines.echo import EchoEngine
from core.pipeline.dialogue import APOLOGY
from tests.adapters.web.harness import Client, client, running_bot


class RaisingEngine(DialogueEngine):
    """Crashes on every message."""

    async def reply(self, conversation: Conversation) -> AsyncIterator[str]:  # type: ignore[override]
        raise RuntimeError("engine exploded")
        yield ""  # pragma: no cover - makes this an async generator


class HangingEngine(DialogueEngine):
    """Never answers (until cancelled)."""

    async def reply(self, conversation: Conversation) -> AsyncIterator[str]:  # type: ignore[override]
        await asyncio.sleep(3600)
        yield "too late"


async def assert_still_usable(c: Client) -> None:
    done = await c.ask("still there?")
    assert done["text"] == "still there?"


async def test_empty_and_whitespace_messages_get_a_notice(http: aiohttp.ClientSession) -> None:
    async with running_bot(EchoEngine()) as bot, client(http, bot) as c:
        for text in ("", "   \n\t  "):
            done = await c.ask(text)
            assert done["notice"] is True and "Send me a message" in done["text"]
        await assert_still_usable(c)


async def test_100000_character_message_gets_a_clear_notice(http: aiohttp.ClientSession) -> None:
    async with running_bot(EchoEngine()) as bot, client(http, bot) as c:
        done = await c.ask("x" * 100_000)
        assert done["notice"] is True
        assert "too long" in done["text"] and "100,000" in done["text"]
        await assert_still_usable(c)


async def test_oversized_frame_gets_an_error_frame_and_the_socket_stays_open(http: aiohttp.ClientSession) -> None:
    async with running_bot(EchoEngine(), config=WebConfig(port=0, max_frame_bytes=4096)) as bot, client(http, bot) as c:
        await c.send("y" * 10_000)
        frame = await c.recv()
        assert frame["type"] == "error" and frame["code"] == "too_large"
        await assert_still_usable(c)


async def test_binary_junk_gets_an_error_frame_and_the_socket_stays_open(http: aiohttp.ClientSession) -> None:
    async with running_bot(EchoEngine()) as bot, client(http, bot) as c:
        await c.ws.send_bytes(b"\x00\xff\xfe junk \x89PNG")
        frame = await c.recv()
        assert frame["type"] == "error" and frame["code"] == "binary"
        await assert_still_usable(c)


async def test_malformed_frames_get_error_frames_and_the_socket_stays_open(http: aiohttp.ClientSession) -> None:
    cases = {
        "{not json": "bad_json",
        "[1, 2, 3]": "bad_frame",
        '"just a string"': "bad_frame",
        json.dumps({"type": "shout", "text": "hi"}): "unknown_type",
        json.dumps({"type": "message", "text": "no id"}): "bad_frame",
        json.dumps({"type": "message", "id": "has spaces!", "text": "x"}): "bad_frame",
        json.dumps({"type": "message", "id": "ok", "text": 42}): "bad_frame",
        json.dumps({"type": "message", "id": "ok", "text": "x", "extra": 1}): "bad_frame",
    }
    async with running_bot(EchoEngine()) as bot, client(http, bot) as c:
        for raw, code in cases.items():
            await c.ws.send_str(raw)
            frame = await c.recv()
            assert (frame["type"], frame["code"]) == ("error", code), raw
            assert frame["message"]
        await c.ws.send_str(json.dumps({"type": "ping"}))
        assert await c.recv() == {"type": "pong"}
        await assert_still_usable(c)


async def test_html_and_script_come_back_as_data(http: aiohttp.ClientSession) -> None:
    evil = '<script>alert(1)</script><img src=x onerror="alert(2)"> & "quotes"'
    async with running_bot(EchoEngine()) as bot, client(http, bot) as c:
        done = await c.ask(evil)
    assert done["text"] == evil


async def test_engine_that_raises_gets_an_apology_and_the_bot_keeps_serving(http: aiohttp.ClientSession) -> None:
    async with running_bot(RaisingEngine()) as bot, client(http, bot) as c:
        first = await c.ask("boom")
        second = await c.ask("boom again")
    assert first["text"] == APOLOGY and first["notice"] is True
    assert second["text"] == APOLOGY


async def test_engine_that_hangs_past_its_timeout_gets_an_apology(http: aiohttp.ClientSession) -> None:
    loop = asyncio.get_running_loop()
    async with running_bot(HangingEngine()) as bot, client(http, bot) as c:
        started = loop.time()
        done = await c.ask("are you there?")
        elapsed = loop.time() - started
    assert done["text"] == APOLOGY and done["notice"] is True
    assert 0.4 <= elapsed < 10.0  # the test's 0.5 s timeout, not the 20 s default (margin for a loaded CI box)


async def test_cross_origin_websocket_is_refused(http: aiohttp.ClientSession) -> None:
    async with running_bot(EchoEngine()) as bot:
        try:
            await http.ws_connect(bot.ws_url, headers={"Origin": "http://evil.example"})
        except aiohttp.WSServerHandshakeError as exc:
            assert exc.status == 403
        else:
            raise AssertionError("a cross-origin WebSocket was accepted")
        async with http.ws_connect(bot.ws_url, headers={"Origin": bot.url.rstrip("/")}) as ws:
            assert json.loads((await ws.receive(2)).data)["type"] == "welcome"


async def test_frame_beyond_the_hard_limit_closes_with_1009_and_a_new_socket_works(http: aiohttp.ClientSession) -> None:
    async with running_bot(EchoEngine(), config=WebConfig(port=0, max_frame_bytes=1024)) as bot:
        async with client(http, bot, "big-frames") as c:
            await c.send("z" * 5000)
            msg = await c.ws.receive(2)
            assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            assert c.ws.close_code == 1009
        async with client(http, bot, "big-frames") as c:
            await assert_still_usable(c)
