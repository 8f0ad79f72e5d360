"""The web chat's microphone upload (POST /audio): real speech in, transcript and answer over the WebSocket."""

from __future__ import annotations

from pathlib import Path

from core.engines.faq import FaqEngine
from tests.adapters.web.harness import client, running_bot
from tests.spoken import voice_note, wer

FAQ = Path(__file__).resolve().parents[3] / "examples" / "support_faq.yaml"
SESSION = "mic-session-1234"


def webm(ogg: bytes) -> bytes:
    """The recording as Chromium's MediaRecorder makes it: WebM/Opus."""
    from tests.spoken import ffmpeg

    return ffmpeg(["-i", "pipe:0", "-c:a", "libopus", "-f", "webm", "pipe:1"], ogg)


async def test_recording_is_heard_shown_and_answered_from_the_knowledge_base(http, speech, listener) -> None:
    note = webm(await voice_note(speech, "What are your opening hours?"))
    faq = FaqEngine(FAQ, threshold=0.45)
    async with running_bot(faq, speech=speech, listener=listener) as bot, client(http, bot, SESSION) as tab:
        async with http.post(f"{bot.url}audio?session={SESSION}&id=rec1", data=note,
                             headers={"Content-Type": "audio/webm"}) as response:
            assert response.status == 202 and (await response.json()) == {"id": "rec1"}
        heard, _ = await tab.until("heard", timeout=30)
        done, _ = await tab.until("done", timeout=30)
        voice, _ = await tab.until("voice", timeout=30)
    assert heard["id"] == "rec1" and wer("What are your opening hours?", heard["text"]) <= 0.25
    assert done["in_reply_to"] == "rec1" and done["text"].startswith("Support is staffed Monday to Friday")
    assert voice["reply_id"] == done["reply_id"], "voice in -> voice out"


async def test_bad_uploads_are_refused_with_a_reason(http, listener) -> None:
    from adapters.web.config import WebConfig
    from tests.adapters.web.harness import MemoryEngine

    async with running_bot(MemoryEngine(), listener=listener, config=WebConfig(port=0, max_audio_mb=0.01)) as bot:
        cases = [
            ("session=bad&id=x", "audio/ogg", b"OggS", 400, "bad_session"),
            (f"session={SESSION}&id=no%20spaces", "audio/ogg", b"OggS", 400, "bad_id"),
            (f"session={SESSION}&id=a1", "text/plain", b"hello", 415, "not_audio"),
            (f"session={SESSION}&id=a2", "audio/ogg", b"", 400, "empty"),
            (f"session={SESSION}&id=a3", "audio/ogg", b"x" * 20_000, 413, "too_large"),
        ]
        for query, mime, body, status, code in cases:
            async with http.post(f"{bot.url}audio?{query}", data=body, headers={"Content-Type": mime}) as response:
                assert response.status == status, (code, await response.text())
                assert (await response.json())["error"] == code
        async with http.post(f"{bot.url}audio?session={SESSION}&id=a4", data=b"OggS",
                             headers={"Content-Type": "audio/ogg", "Origin": "http://evil.example"}) as response:
            assert response.status == 403


async def test_garbage_recording_gets_a_notice_in_the_chat(http, listener) -> None:
    from tests.adapters.web.harness import MemoryEngine

    async with running_bot(MemoryEngine(), listener=listener) as bot, client(http, bot, SESSION) as tab:
        async with http.post(f"{bot.url}audio?session={SESSION}&id=g1", data=b"\x1aE\xdf\xa3 broken webm" * 10,
                             headers={"Content-Type": "audio/webm"}) as response:
            assert response.status == 202
        done, seen = await tab.until("done", timeout=20)
    assert done["notice"] and "couldn't read that audio" in done["text"]
    assert not [f for f in seen if f["type"] == "heard"]
