"""OpenAIEngine against a fake OpenAI-compatible server that streams."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from core.engine import Conversation, Persona
from core.engines.llm.config import OpenAIEngineConfig
from core.engines.llm.errors import LLMAuthError, LLMConnectionError, LLMNotFound, LLMRateLimited, LLMServerError
from core.engines.llm.openai import OpenAIEngine, build_messages
from core.errors import EngineTimeout, EngineUnavailable
from core.model import Turn

from .fake_openai import FakeOpenAI, Scripted

KEY = "sk-test-secret-123"


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAI]:
    fake = FakeOpenAI()
    await fake.start()
    yield fake
    await fake.stop()


def _engine(server: FakeOpenAI, **kw: object) -> OpenAIEngine:
    cfg = OpenAIEngineConfig(
        kind="openai", base_url=server.base_url, model="tiny", api_key=SecretStr(KEY), backoff_s=0.01, **kw
    )  # type: ignore[arg-type]
    return OpenAIEngine.from_config(cfg)


async def _pieces(engine: OpenAIEngine, conversation: Conversation) -> list[str]:
    return [p async for p in engine.reply(conversation)]


async def test_streams_pieces_as_they_arrive(server: FakeOpenAI) -> None:
    server.script.append(Scripted(pieces=("One", " two", " three"), delay_s=0.05))
    persona = Persona(name="Ada", description="A terse assistant.")
    conv = Conversation(
        text="count", persona=persona, turns=(Turn("user", "hi"), Turn("bot", "hello"), Turn("user", "count"))
    )
    async with _engine(server) as engine:
        arrivals: list[float] = []
        pieces = []
        async for piece in engine.reply(conv):
            arrivals.append(time.monotonic())
            pieces.append(piece)
    assert pieces == ["One", " two", " three"]
    assert arrivals[-1] - arrivals[0] >= 0.08  # streamed, not buffered to the end
    body = server.requests[0]
    assert body["stream"] is True and body["model"] == "tiny"
    assert body["messages"] == [
        {"role": "system", "content": "You are Ada. A terse assistant."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "count"},
    ]
    assert server.headers[0]["Authorization"] == f"Bearer {KEY}"


def test_history_is_cut_to_the_token_budget() -> None:
    turns = tuple(Turn("user" if i % 2 else "bot", f"turn {i} " + "x" * 36) for i in range(10))  # ~11 tokens each
    messages = build_messages(Conversation(text="now", turns=turns), history_tokens=25)
    assert [m["content"][:6] for m in messages[1:-1]] == ["turn 8", "turn 9"]
    assert messages[-1] == {"role": "user", "content": "now"}


async def test_retries_on_429_and_500_then_answers(server: FakeOpenAI) -> None:
    server.script += [
        Scripted(status=429, headers={"Retry-After": "0"}),
        Scripted(status=500),
        Scripted(pieces=("ok",)),
    ]
    async with _engine(server, max_retries=3) as engine:
        assert await _pieces(engine, Conversation(text="hi")) == ["ok"]
    assert len(server.requests) == 3


async def test_gives_up_after_max_retries(server: FakeOpenAI) -> None:
    server.script += [Scripted(status=429)] * 3
    async with _engine(server, max_retries=2) as engine:
        with pytest.raises(LLMRateLimited) as info:
            await _pieces(engine, Conversation(text="hi"))
    assert info.value.status == 429 and len(server.requests) == 3


async def test_401_is_reported_clearly_without_retrying_or_leaking_the_key(
    server: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    server.script.append(Scripted(status=401))
    caplog.set_level(logging.DEBUG)
    async with _engine(server) as engine:
        with pytest.raises(LLMAuthError, match="refused the API key") as info:
            await _pieces(engine, Conversation(text="hi"))
    assert isinstance(info.value, EngineUnavailable)
    assert len(server.requests) == 1
    assert KEY not in caplog.text and KEY not in str(info.value) and KEY not in repr(engine.__dict__)


async def test_404_names_the_model(server: FakeOpenAI) -> None:
    cfg = OpenAIEngineConfig(kind="openai", base_url=server.base_url, model="missing")
    async with OpenAIEngine.from_config(cfg) as engine:
        with pytest.raises(LLMNotFound, match="'missing'"):
            await _pieces(engine, Conversation(text="hi"))


async def test_400_is_an_error_without_retry(server: FakeOpenAI) -> None:
    server.script.append(Scripted(status=400))
    async with _engine(server) as engine:
        with pytest.raises(LLMServerError) as info:
            await _pieces(engine, Conversation(text="hi"))
    assert info.value.status == 400 and len(server.requests) == 1


async def test_a_stalled_stream_times_out(server: FakeOpenAI) -> None:
    server.script.append(Scripted(pieces=("slow",), delay_s=2.0))
    async with _engine(server, connect_timeout_s=0.2) as engine:
        with pytest.raises(EngineTimeout):
            await _pieces(engine, Conversation(text="hi"))


async def test_an_unreachable_server_is_unavailable() -> None:
    cfg = OpenAIEngineConfig(kind="openai", base_url="http://127.0.0.1:9/v1", model="x", max_retries=1, backoff_s=0.01)
    async with OpenAIEngine.from_config(cfg) as engine:
        with pytest.raises(LLMConnectionError):
            await _pieces(engine, Conversation(text="hi"))


def test_api_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_LLM_KEY", "from-env")
    engine = OpenAIEngine.from_config(OpenAIEngineConfig(kind="openai", model="m", api_key_env="MY_LLM_KEY"))
    assert engine._headers()["Authorization"] == "Bearer from-env"
    # an empty key in config (``api_key: ${OPENAI_API_KEY:-}``) also falls back to the environment
    cfg = OpenAIEngineConfig(kind="openai", model="m", api_key=SecretStr(""), api_key_env="MY_LLM_KEY")
    assert OpenAIEngine.from_config(cfg)._headers()["Authorization"] == "Bearer from-env"
    monkeypatch.delenv("MY_LLM_KEY")
    engine = OpenAIEngine.from_config(OpenAIEngineConfig(kind="openai", model="m", api_key_env="MY_LLM_KEY"))
    assert "Authorization" not in engine._headers()


async def test_a_hanging_llm_server_is_cut_off_by_the_chain_and_the_next_engine_answers(server: FakeOpenAI) -> None:
    from core.engines.chain import EngineChain
    from core.engines.echo import EchoEngine

    server.script.append(Scripted(pieces=("late",), delay_s=1.5))
    chain = EngineChain([_engine(server), EchoEngine(prefix="echo: ")], timeout_s=10, first_piece_timeout_s=0.3)
    async with chain:
        started = time.monotonic()
        answer = chain.reply(Conversation(text="hi"))
        reply = "".join([p async for p in answer])
    assert reply == "echo: hi" and answer.engine == "echo"
    assert time.monotonic() - started < 2


def test_retry_delays_grow_from_backoff_s_and_are_capped() -> None:
    """The delay before retry n is backoff_s * 2**(n-1), jittered within its upper half, never above 30 s."""

    engine = OpenAIEngine("http://127.0.0.1:9/v1", "x", backoff_s=0.5)
    policy = engine.retry_policy
    assert [policy.step(n) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]
    assert policy.step(50) == 30.0
    assert all(0.25 <= policy.delay(1) <= 0.5 for _ in range(50))
