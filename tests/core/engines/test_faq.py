"""The knowledge-base engine: confident matches answer, others fall through."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.engine import Conversation
from core.engines.faq import FaqEngine
from core.errors import EngineUnavailable, NoAnswer

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "support_faq.yaml"


async def ask(engine: FaqEngine, text: str) -> str:
    return "".join([p async for p in engine.reply(Conversation(text=text))])


async def test_paraphrase_matches_listed_question() -> None:
    engine = FaqEngine(EXAMPLE)
    await engine.start()
    assert "Reset password" in await ask(engine, "how can I reset my password??")
    assert "$9.99" in await ask(engine, "what's the price")
    assert "重置密码" in await ask(engine, "我忘记密码了怎么办")


async def test_unrelated_question_falls_through() -> None:
    engine = FaqEngine(EXAMPLE)
    await engine.start()
    with pytest.raises(NoAnswer):
        await ask(engine, "what do you think about the weather on mars")


async def test_invalid_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "kb.yaml"
    bad.write_text("entries:\n  - questions: []\n    answer: x\n")
    with pytest.raises(EngineUnavailable, match="invalid knowledge base"):
        await FaqEngine(bad).start()
    with pytest.raises(EngineUnavailable, match="cannot read"):
        await FaqEngine(tmp_path / "missing.yaml").start()
