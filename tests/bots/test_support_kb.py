"""The shipped support bot: knowledge base first, hand-off (never small talk) for what it does not know."""

from __future__ import annotations

from pathlib import Path

from bots.config import load_config
from bots.engines import build_chain
from core.engines.kb.config import KnowledgeBaseEngineConfig
from core.engines.kb.engine import KnowledgeBaseEngine
from tests.harness import Harness, message

ROOT = Path(__file__).resolve().parents[2]


async def test_shipped_support_bot_answers_paraphrases_and_hands_off(tmp_path: Path) -> None:
    bot = next(b for b in load_config(ROOT / "config.yaml", env={}).bots if b.name == "support")
    kb = bot.engines[0]
    assert isinstance(kb, KnowledgeBaseEngineConfig) and kb.fallback == "handoff"
    bot.engines[0] = kb.model_copy(
        update={"unanswered_path": str(tmp_path / "unanswered.jsonl"), "cache_dir": str(tmp_path / "cache")}
    )
    chain = build_chain(bot, ROOT)
    engine = chain.engines[0]
    assert isinstance(engine, KnowledgeBaseEngine)
    async with Harness(chain.engines) as h:
        for text in ("I'd like a refund for my last order", "can I talk to a human please", "what's the capital of Peru"):
            await h.send(message(text))
    refund, human, unknown = h.done()
    assert refund.text.startswith("Refunds go back") and refund.sources == ("refund",)
    assert "support@example.com" in human.text and human.sources == ("human",)
    assert unknown.text == kb.handoff_message
    assert "what's the capital of Peru" in (tmp_path / "unanswered.jsonl").read_text(encoding="utf-8")
