"""Regression tests (issue 19, item 7): misleading LLM errors and an unbounded Retry-After."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from core.engine import Conversation, Persona
from core.engines.chain import EngineChain
from core.engines.echo import EchoEngine
from core.engines.llm.config import OpenAIEngineConfig
from core.engines.llm.errors import LLMRateLimited
from core.engines.llm.openai import OpenAIEngine
from core.errors import EngineError, NoAnswer

from .fake_openai import FakeOpenAI, Scripted

CONV = Conversation(text="hi", persona=Persona())


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAI]:
    fake = FakeOpenAI()
    await fake.start()
    yield fake
    await fake.stop()


def _engine(server: FakeOpenAI, **kw: object) -> OpenAIEngine:
    cfg = OpenAIEngineConfig(kind="openai", base_url=server.base_url, model="m", api_key=SecretStr("sk-x-1234"), backoff_s=0.01, **kw)  # type: ignore[arg-type]
    return OpenAIEngine.from_config(cfg)


async def _reply(engine: OpenAIEngine) -> list[str]:
    return [p async for p in engine.reply(CONV)]


async def test_html_page_is_an_error_naming_the_server_not_an_empty_answer(server: FakeOpenAI) -> None:
    server.script.append(Scripted(body=b"<!doctype html><html><body><h1>Welcome to nginx!</h1></body></html>"))
    async with _engine(server) as engine:
        with pytest.raises(EngineError) as caught:
            await _reply(engine)
    assert not isinstance(caught.value, NoAnswer)
    assert server.base_url in str(caught.value) and "text/html" in str(caught.value)


async def test_wrong_schema_events_are_an_error_not_an_empty_answer(server: FakeOpenAI) -> None:
    server.script.append(Scripted(body=b'data: {"response": "hi", "done": true}\n\n', content_type="text/event-stream"))
    async with _engine(server) as engine:
        with pytest.raises(EngineError, match="choices") as caught:
            await _reply(engine)
    assert not isinstance(caught.value, NoAnswer)


async def test_garbage_sse_bytes_name_the_server_and_carry_no_raw_bytes(server: FakeOpenAI) -> None:
    garbage = b"data: " + bytes(range(128, 256)) * 4 + b"\n\n"
    server.script.append(Scripted(body=garbage, content_type="text/event-stream"))
    async with _engine(server) as engine:
        with pytest.raises(EngineError) as caught:
            await _reply(engine)
    text = str(caught.value)
    assert server.base_url in text and "UTF-8" in text
    assert "\\x" not in text and len(text) < 200
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


async def test_an_empty_but_valid_stream_still_is_no_answer(server: FakeOpenAI) -> None:
    server.script.append(Scripted(pieces=()))
    async with _engine(server) as engine:
        with pytest.raises(NoAnswer):
            await _reply(engine)


async def test_retry_after_beyond_the_cap_fails_at_once_and_the_chain_falls_through(server: FakeOpenAI) -> None:
    server.script.append(Scripted(status=429, headers={"Retry-After": "3600"}))
    engine = _engine(server, max_retry_after_s=5, max_retries=3)
    started = time.monotonic()
    async with engine:
        with pytest.raises(LLMRateLimited, match="3600"):
            await _reply(engine)
    assert time.monotonic() - started < 3.0
    assert len(server.requests) == 1

    server.script.append(Scripted(status=429, headers={"Retry-After": "3600"}))
    chain = EngineChain([_engine(server, max_retry_after_s=5), EchoEngine(prefix="fallback: ")])
    started = time.monotonic()
    async with chain:
        pieces = [p async for p in chain.reply(CONV)]
    assert "".join(pieces) == "fallback: hi"
    assert time.monotonic() - started < 3.0


async def test_retry_after_within_the_cap_is_honoured(server: FakeOpenAI) -> None:
    server.script.append(Scripted(status=503, headers={"Retry-After": "0.3"}))
    started = time.monotonic()
    async with _engine(server, max_retry_after_s=5) as engine:
        assert "".join(await _reply(engine)) == "Hello there!"
    assert time.monotonic() - started >= 0.25
    assert len(server.requests) == 2
