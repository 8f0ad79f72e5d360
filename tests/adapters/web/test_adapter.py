"""End to end: a real WebSocket client talks to the web adapter in front of a real pipeline."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from adapters.web.adapter import byte_range
from adapters.web.config import WebConfig
from core.engines.echo import EchoEngine
from core.model import Chat, ChatAction, ChatKind, ReplyDone, ReplyTarget, ReplyVoice, VoiceClip
from tests.adapters.web.harness import MemoryEngine, client, running_bot


async def test_healthz_and_page_are_served_with_a_strict_csp(http: aiohttp.ClientSession) -> None:
    async with running_bot(EchoEngine()) as bot:
        async with http.get(bot.url + "healthz") as resp:
            assert resp.status == 200
            assert (await resp.json())["status"] == "ok"
        async with http.get(bot.url) as resp:
            page = await resp.text()
            assert resp.status == 200
            assert "<title>Test Bot</title>" in page
            assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
        for asset in ("static/app.js", "static/style.css"):
            async with http.get(bot.url + asset) as resp:
                assert resp.status == 200


async def test_title_is_escaped_in_the_page(http: aiohttp.ClientSession) -> None:
    async with (
        running_bot(EchoEngine(), config=WebConfig(port=0, title="<b>Evil</b> & co")) as bot,
        http.get(bot.url) as resp,
    ):
        page = await resp.text()
    assert "<b>Evil</b>" not in page
    assert "&lt;b&gt;Evil&lt;/b&gt; &amp; co" in page


async def test_message_in_streamed_reply_out_in_order(http: aiohttp.ClientSession) -> None:
    async with running_bot(EchoEngine(pieces=3)) as bot, client(http, bot) as c:
        msg_id = await c.send("abcdefghi")
        done, before = await c.until("done")
    kinds = [f["type"] for f in before]
    assert kinds[0] == "ack" and before[0]["id"] == msg_id
    assert "typing" in kinds
    deltas = [f for f in before if f["type"] == "delta"]
    # three instant pieces: the first two together, the third flushed before done (stream_interval_s)
    assert [d["seq"] for d in deltas] == [0, 1]
    assert "".join(d["text"] for d in deltas) == "abcdefghi"
    assert {d["reply_id"] for d in deltas} == {done["reply_id"]}
    assert done == {
        "type": "done", "reply_id": done["reply_id"], "text": "abcdefghi",
        "streamed": True, "notice": False, "in_reply_to": msg_id,
    }


async def test_session_id_is_the_chat_id_and_a_fresh_one_is_given_when_missing(http: aiohttp.ClientSession) -> None:
    seen: list[str] = []
    async with running_bot(EchoEngine()) as bot:
        original = bot.bus.publish

        async def spy(message):  # records what the adapter publishes
            seen.append(f"{message.platform}|{message.chat.id}|{message.chat.kind.value}|{message.addressed.value}")
            await original(message)

        bot.bus.publish = spy  # type: ignore[method-assign]
        async with client(http, bot, "session-abc123") as c:
            assert c.welcome["session"] == "session-abc123"
            await c.ask("hi")
        async with client(http, bot, "bad id!") as c:
            fresh = c.welcome["session"]
            assert fresh != "bad id!" and len(fresh) >= 8
    assert seen == ["web|session-abc123|private|private"]


async def test_resent_message_id_is_answered_once(http: aiohttp.ClientSession) -> None:
    async with running_bot(EchoEngine()) as bot, client(http, bot) as c:
        await c.send("once", "same-id")
        await c.until("done")
        await c.send("once", "same-id")
        await c.until("ack")
        assert [f["type"] for f in await c.silent(0.3)] == ["skipped"]  # no second answer, one skipped frame


async def test_reset_forgets_the_conversation(http: aiohttp.ClientSession) -> None:
    async with running_bot(MemoryEngine()) as bot, client(http, bot) as c:
        assert (await c.ask("apple"))["text"] == "heard apple; before: -"
        assert (await c.ask("banana"))["text"] == "heard banana; before: apple"
        reset = await c.ask("/reset")
        assert "forgotten" in reset["text"]
        assert (await c.ask("cherry"))["text"] == "heard cherry; before: -"


async def test_restart_on_the_same_sqlite_file_keeps_history(http: aiohttp.ClientSession, tmp_path: Path) -> None:
    db = tmp_path / "bot.sqlite3"
    async with running_bot(MemoryEngine(), db_path=db) as bot, client(http, bot, "persistent-1") as c:
        assert (await c.ask("apple"))["text"] == "heard apple; before: -"
    async with running_bot(MemoryEngine(), db_path=db) as bot, client(http, bot, "persistent-1") as c:
        assert (await c.ask("banana"))["text"] == "heard banana; before: apple"
    async with running_bot(MemoryEngine(), db_path=db) as bot, client(http, bot, "another-session") as c:
        assert (await c.ask("kiwi"))["text"] == "heard kiwi; before: -"


async def test_every_tab_of_a_session_gets_the_replies_and_other_sessions_do_not(http: aiohttp.ClientSession) -> None:
    async with (
        running_bot(EchoEngine()) as bot,
        client(http, bot, "shared-tab") as a,
        client(http, bot, "shared-tab") as b,
        client(http, bot, "other-tab") as other,
    ):
        msg_id = await a.send("hello tabs")
        done_a, _ = await a.until("done")
        echo, _ = await b.until("echo")
        done_b, _ = await b.until("done")
        assert echo == {"type": "echo", "id": msg_id, "text": "hello tabs"}
        assert done_a == done_b and done_a["text"] == "hello tabs"
        assert await other.silent(0.2) == []


async def test_replies_for_a_closed_tab_are_replayed_on_reconnect(http: aiohttp.ClientSession) -> None:
    async with running_bot(MemoryEngine()) as bot:
        target = ReplyTarget(bot.adapter.adapter_id, Chat("away-session", ChatKind.PRIVATE))
        await bot.adapter.deliver(ChatAction(target, "typing"))  # presence is not worth replaying
        await bot.adapter.deliver(ReplyDone("r1", target, "while you were away"))
        async with client(http, bot, "away-session") as c:
            frame = await c.recv()
    assert frame["type"] == "done" and frame["text"] == "while you were away"


async def test_voice_reply_is_served_as_audio_ogg(http: aiohttp.ClientSession, ogg_clip: bytes) -> None:
    async with running_bot(EchoEngine()) as bot, client(http, bot, "voice-session") as c:
        target = ReplyTarget(bot.adapter.adapter_id, Chat("voice-session", ChatKind.PRIVATE))
        clip = VoiceClip(ogg_clip, "audio/ogg", 0.5)
        await bot.bus.send(ReplyVoice("r-voice", target, clip, "hello"))
        frame, _ = await c.until("voice")
        assert frame["mime_type"] == "audio/ogg" and frame["duration_s"] == 0.5
        async with http.get(bot.url.rstrip("/") + frame["url"]) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"] == "audio/ogg"
            body = await resp.read()
        async with http.get(bot.url.rstrip("/") + frame["url"], headers={"Range": "bytes=4-9"}) as part:
            assert part.status == 206
            assert part.headers["Content-Range"] == f"bytes 4-9/{len(ogg_clip)}"
            assert await part.read() == ogg_clip[4:10]
        async with http.get(bot.url + "voice/not-a-token") as missing:
            assert missing.status == 404
    assert body == ogg_clip and body.startswith(b"OggS")


async def test_stop_closes_open_tabs_and_frees_the_port(http: aiohttp.ClientSession) -> None:
    async with running_bot(EchoEngine()) as bot:
        url = bot.url
        ws = await http.ws_connect(bot.ws_url)
        await ws.receive(2)
        await bot.adapter.stop()
        msg = await ws.receive(2)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        with pytest.raises(aiohttp.ClientConnectionError):
            async with http.get(url + "healthz"):
                pass
        await ws.close()
        await asyncio.sleep(0)


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, None), ("bytes=0-", (0, 99)), ("bytes=10-19", (10, 19)), ("bytes=-10", (90, 99)),
     ("bytes=50-500", (50, 99)), ("bytes=200-", (200, 99)), ("bytes=0-1,5-6", None), ("items=1-2", None)],
)
def test_byte_range(header: str | None, expected: tuple[int, int] | None) -> None:
    assert byte_range(header, 100) == expected
