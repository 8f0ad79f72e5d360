"""GenerativeEngine: streaming, batching, seeds, the shipped model, and its place in a chain."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.engine import Conversation, DialogueEngine
from core.engines.chain import EngineChain
from core.engines.generative.config import GenerativeEngineConfig
from core.engines.generative.engine import REPO_ROOT, GenerativeEngine
from core.engines.generative.generate import Sampling
from core.engines.generative.text import tokenize
from core.errors import EngineUnavailable, NoAnswer
from core.model import Turn

GREEDY = Sampling(temperature=0, max_tokens=20)


async def _collect(engine: DialogueEngine, text: str, turns: tuple[Turn, ...] = ()) -> list[str]:
    return [piece async for piece in engine.reply(Conversation(text=text, turns=turns))]


async def test_streamed_pieces_join_to_the_full_reply(tiny_model_dir: Path) -> None:
    async with GenerativeEngine(tiny_model_dir, GREEDY, piece_interval_ms=0, threads=1) as engine:
        pieces = await _collect(engine, "how are you?")
    assert len(pieces) > 3  # a piece per token
    assert "".join(pieces) == "I'm fine, thanks. And you?"


async def test_tokens_within_the_piece_interval_make_one_piece_after_the_first_alone(tiny_model_dir: Path) -> None:
    async with GenerativeEngine(tiny_model_dir, GREEDY, piece_interval_ms=1000, threads=1) as engine:
        bunched = await _collect(engine, "how are you?")
        engine.piece_interval_s = 0
        single = await _collect(engine, "how are you?")
    # the tiny model decodes the whole reply within a second: the first token, then the rest at the end
    assert bunched == [single[0], "".join(single[1:])]


async def test_pieces_are_handed_over_as_the_interval_passes_not_only_at_the_end(tiny_model_dir: Path) -> None:
    async with GenerativeEngine(tiny_model_dir, GREEDY, piece_interval_ms=40, threads=1) as engine:
        run = engine._run

        def slow(batch):  # type: ignore[no-untyped-def]
            for request in batch:  # a token every 15 ms, as a loaded model decodes
                token = request.token
                request.token = lambda t, token=token: (time.sleep(0.015), token(t))  # type: ignore[method-assign]
            run(batch)

        engine._run = slow  # type: ignore[method-assign]
        pieces = await _collect(engine, "how are you?")
    assert "".join(pieces) == "I'm fine, thanks. And you?"
    # 8 tokens over 120 ms: the first alone, some handed over on the way (one 40 ms after the first at the
    # latest), the rest at the end; tokens 15 ms apart share pieces
    assert 3 <= len(pieces) < 8


async def test_concurrent_requests_are_batched_and_each_gets_its_own_reply(tiny_model_dir: Path) -> None:
    async with GenerativeEngine(tiny_model_dir, GREEDY, threads=1) as engine:
        batches: list[int] = []
        run = engine._run

        def spy(batch):  # type: ignore[no-untyped-def]
            batches.append(len(batch))
            run(batch)

        engine._run = spy  # type: ignore[method-assign]
        texts = ["hello", "good morning", "do you like music?"] * 4
        replies = await asyncio.gather(*(_collect(engine, t) for t in texts))
    assert ["".join(r) for r in replies[:3]] == [
        "Hi there, how are you?",
        "Good morning to you too!",
        "Yes, I love jazz.",
    ]
    assert replies[:3] * 4 == replies
    assert max(batches) > 1 and sum(batches) == len(texts)


async def test_a_fixed_seed_gives_the_same_sampled_reply(tiny_model_dir: Path) -> None:
    hot = Sampling(temperature=1.5, top_k=0, top_p=1.0, repetition_penalty=1.0, max_tokens=12)
    async with GenerativeEngine(tiny_model_dir, hot, seed=3, threads=1) as engine:
        first = await _collect(engine, "hello")
        again = await _collect(engine, "hello")
    assert first == again


async def test_earlier_turns_are_part_of_the_prompt(tiny_model_dir: Path) -> None:
    async with GenerativeEngine(tiny_model_dir, GREEDY, context_turns=2, threads=1) as engine:
        turns = (Turn("user", "hello"), Turn("bot", "hi there"), Turn("user", "how are you?"))
        prompt = engine.prompt(Conversation(text="how are you?", turns=turns))
        vocab = engine.loaded.vocab  # type: ignore[union-attr]
        assert prompt[0] == vocab.user and prompt[-1] == vocab.bot
        # the new message already in the history is not repeated; two earlier turns are kept
        assert prompt.count(vocab.eos) == 3


async def test_a_turn_is_tokenized_once_not_in_every_prompt_it_is_in(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.engines.generative import engine as module

    tokenized: list[str] = []

    def counting(text: str) -> list[str]:
        tokenized.append(text)
        return tokenize(text)

    monkeypatch.setattr(module, "tokenize", counting)
    async with GenerativeEngine(tiny_model_dir, GREEDY, context_turns=4, threads=1) as engine:
        turns = (Turn("user", "hello"), Turn("bot", "hi there"))
        first = engine.prompt(Conversation(text="how are you?", turns=turns))
        turns += (Turn("user", "how are you?"), Turn("bot", "i'm fine"))
        second = engine.prompt(Conversation(text="good morning", turns=turns))
        long = "word " * 300  # longer than ENCODED_MAX_CHARS: tokenized every time, not kept
        engine.prompt(Conversation(text=long, turns=turns))
        engine.prompt(Conversation(text=long, turns=turns))
    assert tokenized == ["hello", "hi there", "how are you?", "i'm fine", "good morning", long, long]
    assert second[: len(first) - 1] == first[:-1]  # the same ids for the same turns (less the final <bot>)


async def test_other_languages_are_declined_for_the_next_engine(tiny_model_dir: Path) -> None:
    async with GenerativeEngine(tiny_model_dir, GREEDY, threads=1) as engine:
        with pytest.raises(NoAnswer):
            [p async for p in engine.reply(Conversation(text="你好", language="zh"))]
        assert [p async for p in engine.reply(Conversation(text="hello", language="en"))]


async def test_a_missing_model_is_reported_as_unavailable(tmp_path: Path) -> None:
    with pytest.raises(EngineUnavailable):
        await GenerativeEngine(tmp_path / "nothing").start()


def test_relative_model_paths_resolve_from_the_repo_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    engine = GenerativeEngine.from_config(GenerativeEngineConfig(kind="generative", path="models/chitchat", seed=1))
    assert engine.path == REPO_ROOT / "models" / "chitchat"
    assert engine.seed == 1 and engine.sampling.max_tokens == 32


async def test_shipped_model_loads_fast_and_answers_hello(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # the default path must not depend on the working directory
    engine = GenerativeEngine.from_config(GenerativeEngineConfig(kind="generative", seed=0))
    started = time.perf_counter()
    async with engine:
        assert time.perf_counter() - started < 1.0
        reply = "".join(await _collect(engine, "hello"))
    assert reply.strip()


class HangingEngine(DialogueEngine):
    """Never produces a piece."""

    name = "hanging"

    async def reply(self, conversation: Conversation) -> AsyncIterator[str]:  # type: ignore[override]
        await asyncio.sleep(3600)
        yield "never"


async def test_a_hanging_engine_is_cut_off_and_the_generative_engine_answers(tiny_model_dir: Path) -> None:
    chain = EngineChain(
        [HangingEngine(), GenerativeEngine(tiny_model_dir, GREEDY, threads=1)], timeout_s=5, first_piece_timeout_s=0.2
    )
    async with chain:
        started = time.monotonic()
        answer = chain.reply(Conversation(text="hello"))
        reply = "".join([p async for p in answer])
    assert reply == "Hi there, how are you?"
    assert answer.engine == "generative"
    assert time.monotonic() - started < 3

