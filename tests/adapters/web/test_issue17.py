"""The web chat server side of issue 17: greeting, reset, rejected messages, voice failure, clips on disk, favicon."""

from __future__ import annotations

import struct
from pathlib import Path

import aiohttp

from adapters.web.clips import ClipStore
from core.engines.echo import EchoEngine
from core.model import Chat, ChatKind, ReplyTarget, ReplyVoice, ReplyVoiceFailed, VoiceClip
from tests.adapters.web.harness import MemoryEngine, client, running_bot


async def test_welcome_carries_the_greeting_the_voice_hint_and_the_limit(http: aiohttp.ClientSession) -> None:
    async with running_bot(EchoEngine(), greeting="Hello <you>!", max_input_chars=99) as bot:
        async with client(http, bot) as c:
            assert c.welcome["greeting"] == "Hello <you>!" and c.welcome["max_chars"] == 99
            assert "/voice on" in c.welcome["hint"]
        async with http.get(bot.url) as resp:
            page = await resp.text()
    assert "Hello &lt;you&gt;!" in page and "<you>" not in page


async def test_reset_frame_comes_before_the_answer_and_only_for_reset(http: aiohttp.ClientSession) -> None:
    async with running_bot(MemoryEngine()) as bot, client(http, bot) as c:
        await c.ask("apple")
        await c.send("/reset")
        done, before = await c.until("done")
        assert [f["type"] for f in before if f["type"] != "typing"] == ["ack", "reset"]
        assert "forgotten" in done["text"]
        await c.send("/resetting is not a command")
        done, before = await c.until("done")
        assert "reset" not in [f["type"] for f in before]


async def test_a_message_over_the_limit_is_rejected_with_its_id_and_never_published(http: aiohttp.ClientSession) -> None:
    async with running_bot(EchoEngine(), max_input_chars=10) as bot, client(http, bot) as c:
        msg_id = await c.send("x" * 11)
        frame = await c.recv()
        assert frame["type"] == "rejected" and frame["id"] == msg_id and frame["code"] == "too_long"
        assert "11 characters; the limit is 10" in frame["message"]
        assert await c.silent(0.3) == []
        assert (await c.ask("x" * 10))["text"] == "x" * 10


async def test_voice_failure_and_voice_frames(http: aiohttp.ClientSession, ogg_clip: bytes) -> None:
    async with running_bot(EchoEngine()) as bot, client(http, bot, "voice-frames") as c:
        target = ReplyTarget(bot.adapter.adapter_id, Chat("voice-frames", ChatKind.PRIVATE))
        await bot.bus.send(ReplyVoiceFailed("r1", target, "timeout"))
        assert await c.recv() == {"type": "voice_failed", "reply_id": "r1", "reason": "timeout"}
        await bot.bus.send(ReplyVoice("r2", target, VoiceClip(ogg_clip, "audio/ogg", 0.5, bytes([0, 9, 255])), "hi"))
        frame, _ = await c.until("voice")
        assert frame["waveform"] == [0, 9, 255] and frame["duration_s"] == 0.5


async def test_favicon_is_an_ico_in_the_bots_colour(http: aiohttp.ClientSession) -> None:
    async with running_bot(EchoEngine()) as bot, http.get(bot.url + "favicon.ico") as resp:
        assert resp.status == 200 and resp.headers["Content-Type"] == "image/x-icon"
        ico = await resp.read()
    reserved, kind, count = struct.unpack("<HHH", ico[:6])
    assert (reserved, kind, count) == (0, 1, 1) and ico[22:30] == b"\x89PNG\r\n\x1a\n"


def _clip(n: int, size: int = 100) -> VoiceClip:
    return VoiceClip(bytes([n]) * size, "audio/ogg", 1.0 + n, bytes([n, 255]))


def test_clips_on_disk_survive_a_restart_and_stay_bounded(tmp_path: Path) -> None:
    store = ClipStore(capacity=3, directory=tmp_path, max_bytes=10_000)
    tokens = [store.put(_clip(n)).token for n in range(5)]
    assert len(store) == 3 and store.read(tokens[0]) is None  # the oldest went first
    assert len(list(tmp_path.glob("*.ogg"))) == 3 and len(list(tmp_path.glob("*.json"))) == 3
    again = ClipStore(capacity=3, directory=tmp_path)
    assert again.read(tokens[4]) == bytes([4]) * 100
    info = again.info(tokens[4])
    assert info is not None and info.duration_s == 5.0 and info.waveform == bytes([4, 255])
    smaller = ClipStore(capacity=2, directory=tmp_path)  # a smaller bound trims what is on disk at start
    assert len(smaller) == 2 and len(list(tmp_path.glob("*.ogg"))) == 2


def test_clips_are_bounded_by_bytes_and_tokens_cannot_escape_the_folder(tmp_path: Path) -> None:
    store = ClipStore(capacity=100, directory=tmp_path / "clips", max_bytes=250)
    tokens = [store.put(_clip(n)).token for n in range(4)]
    assert len(store) == 2 and store.read(tokens[1]) is None and store.read(tokens[3]) is not None
    (tmp_path / "secret.ogg").write_bytes(b"secret")
    assert store.read("../secret") is None and store.info("..%2Fsecret") is None
    memory = ClipStore(capacity=2)
    token = memory.put(_clip(1)).token
    assert memory.read(token) == bytes([1]) * 100
