"""The OpenAI-compatible engine against a fake ``/v1/audio/transcriptions`` server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import io
import logging
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from core.stt import SttFailed
from tests.spoken import voice_note
from voice.stt.config import OpenAISttConfig, SttConfig, WhisperSttConfig
from voice.stt.openai import OpenAISttEngine
from voice.stt.service import ListenService, build_listener

KEY = "sk-test-secret-123456"


@dataclass
class FakeTranscriptionServer:
    """Answers like OpenAI: multipart in, ``{"text": ...}`` out; scripted failures first."""

    failures: list[tuple[int, str]] = field(default_factory=list)
    delay_s: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form["file"]
        audio = upload.file.read()  # type: ignore[union-attr]
        self.requests.append({"auth": request.headers.get("Authorization"), "fields": dict(form), "audio": audio})
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.failures:
            status, body = self.failures.pop(0)
            return web.Response(status=status, text=body, content_type="application/json")
        with wave.open(io.BytesIO(audio)) as w:
            seconds = w.getnframes() / w.getframerate()
            assert w.getframerate() == 16000 and w.getnchannels() == 1
        return web.json_response({"text": f" I heard {seconds:.0f} seconds. ", "language": "english"})


@pytest.fixture
async def server() -> AsyncIterator[FakeTranscriptionServer]:
    fake = FakeTranscriptionServer()
    app = web.Application()
    app.router.add_post("/v1/audio/transcriptions", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    fake.url = f"http://127.0.0.1:{port}/v1"
    yield fake
    await runner.cleanup()


def remote(server: FakeTranscriptionServer, **changes: Any) -> ListenService:
    config = OpenAISttConfig(base_url=server.url, api_key_env="STT_TEST_KEY", backoff_base_s=0.01, **changes)
    service = build_listener(SttConfig(engines=[config]))
    service.engines = [OpenAISttEngine(config, env={"STT_TEST_KEY": KEY})]
    return service


async def test_transcribes_with_the_key_model_and_16k_wav(server, speech) -> None:
    note = await voice_note(speech, "Hello there, this is a test of the remote engine.")
    async with remote(server, model="whisper-large-v3", language="en") as service:
        transcript = await service.transcribe(note)
    assert transcript.text.startswith("I heard") and transcript.language == "en" and transcript.engine == "openai"
    request = server.requests[0]
    assert request["auth"] == f"Bearer {KEY}"
    assert request["fields"]["model"] == "whisper-large-v3" and request["fields"]["language"] == "en"


async def test_retries_429_and_5xx_then_succeeds(server, speech, caplog) -> None:
    server.failures = [(503, '{"error": {"message": "overloaded"}}'), (429, '{"error": {"message": "slow down"}}')]
    async with remote(server, retries=2) as service:
        transcript = await service.transcribe(await voice_note(speech, "Hello there."))
    assert transcript.text.startswith("I heard") and len(server.requests) == 3
    assert "overloaded" in caplog.text and KEY not in caplog.text


async def test_gives_up_after_the_retries_with_the_reason(server, speech) -> None:
    server.failures = [(500, "boom")] * 5
    async with remote(server, retries=1) as service:
        with pytest.raises(SttFailed, match=r"answered 500: boom \(gave up after 2 attempts\)"):
            await service.transcribe(await voice_note(speech, "Hello there."))
    assert len(server.requests) == 2


async def test_a_refused_key_fails_at_once_with_a_hint_and_no_key(server, speech, caplog) -> None:
    server.failures = [(401, '{"error": {"message": "Incorrect API key provided"}}')]
    caplog.set_level(logging.DEBUG)
    async with remote(server, retries=3) as service:
        with pytest.raises(SttFailed) as info:
            await service.transcribe(await voice_note(speech, "Hello there."))
    assert "Incorrect API key provided" in str(info.value) and "$STT_TEST_KEY" in str(info.value)
    assert KEY not in str(info.value) and KEY not in caplog.text
    assert len(server.requests) == 1


async def test_a_slow_server_times_out_and_is_retried(server, speech) -> None:
    server.delay_s = 1.0
    async with remote(server, retries=1, timeout_s=0.3) as service:
        with pytest.raises(SttFailed, match=r"within 0\.[36]\d* s"):
            await service.transcribe(await voice_note(speech, "Hello there."))
    assert len(server.requests) == 2


async def test_a_down_server_falls_through_to_faster_whisper(speech, listener) -> None:
    config = SttConfig(
        engines=[OpenAISttConfig(base_url="http://127.0.0.1:9/v1", retries=0, timeout_s=2), WhisperSttConfig()]
    )
    async with build_listener(config) as service:
        transcript = await service.transcribe(await voice_note(speech, "What are your opening hours?"))
    assert transcript.engine == "faster-whisper" and "opening" in transcript.text.lower()


async def test_the_breaker_skips_a_failing_server(server, speech) -> None:
    server.failures = [(500, "down")] * 10
    async with remote(server, retries=0, breaker_failures=2) as service:
        note = await voice_note(speech, "Hello there.")
        for _ in range(2):
            with pytest.raises(SttFailed):
                await service.transcribe(note)
        with pytest.raises(SttFailed, match="circuit open"):
            await service.transcribe(note)
    assert len(server.requests) == 2
