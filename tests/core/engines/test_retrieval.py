"""The retrieval engine over chatterbot-corpus (English and Chinese)."""

from __future__ import annotations

import asyncio

import pytest

from core.engine import Conversation
from core.engines.corpus import Pair
from core.engines.retrieval import RetrievalEngine
from core.errors import NoAnswer
from core.model import Turn


@pytest.fixture(scope="module")
def engine() -> RetrievalEngine:
    e = RetrievalEngine(languages=("en", "zh"))
    asyncio.run(e.start())
    return e


async def ask(engine: RetrievalEngine, text: str, language: str = "en", turns: tuple[Turn, ...] = ()) -> str:
    return "".join([p async for p in engine.reply(Conversation(text=text, language=language, turns=turns))])


async def test_loads_english_and_chinese(engine: RetrievalEngine) -> None:
    langs = {p.language for p in engine.pairs}
    assert {"en", "zh"} <= langs
    assert len(engine.pairs) > 1000


async def test_answers_greeting_in_english(engine: RetrievalEngine) -> None:
    answer = await ask(engine, "Hello")
    assert answer and answer.isascii()


async def test_answers_in_chinese_from_chinese_corpus(engine: RetrievalEngine) -> None:
    answer = await ask(engine, "你好", "zh")
    assert any("\u4e00" <= ch <= "\u9fff" for ch in answer)


async def test_gibberish_is_declined(engine: RetrievalEngine) -> None:
    with pytest.raises(NoAnswer):
        await ask(engine, "qwzx vbnmk plokij")


async def test_does_not_repeat_last_answer_when_alternative_exists() -> None:
    pairs = [Pair("how are you", "fine", "en"), Pair("how are you", "great", "en"), Pair("cats", "meow", "en")]
    e = RetrievalEngine(pairs=pairs)
    await e.start()
    first = await ask(e, "how are you")
    second = await ask(e, "how are you", turns=(Turn("user", "how are you"), Turn("bot", first)))
    assert {first, second} == {"fine", "great"}
