"""A streamed LLM reply on Discord: edits coalesce, the final text goes at the next write slot."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import pytest

from core.engines.llm.openai import OpenAIEngine
from tests.adapters.discord.conftest import ALICE, DM, start_bot
from tests.adapters.discord.fake_discord import FakeDiscord
from tests.core.engines.llm.fake_openai import FakeOpenAI, Scripted

WORDS = [f"word{i}" for i in range(60)]
FINAL = " ".join(WORDS)
INTERVAL_S = 1.0
SLACK_S = 0.05


@pytest.fixture
async def llm() -> AsyncIterator[FakeOpenAI]:
    server = FakeOpenAI()
    server.script.append(Scripted(pieces=tuple(WORDS[:1] + [" " + w for w in WORDS[1:]]), delay_s=0.05))
    await server.start()
    yield server
    await server.stop()


async def test_streamed_llm_reply_final_edit_within_interval_of_last_token(fake: FakeDiscord, llm: FakeOpenAI) -> None:
    async with OpenAIEngine(base_url=llm.base_url, model="tiny", backoff_s=0.01) as engine:
        bot = await start_bot(fake, engine=engine, stream_edit_interval_s=INTERVAL_S)
        try:
            await fake.message(DM, ALICE, "tell me chat301")
            await fake.wait_for(lambda: any((s.json or {}).get("content") == FINAL for s in fake.sent if s.method in {"POST", "PATCH"}), timeout=15)
            writes = [s for s in fake.sent if s.method in {"POST", "PATCH"} and s.path.startswith(f"/channels/{DM}/messages")]
            final = next(s for s in writes if s.json["content"] == FINAL)
            (last_token_at,) = llm.last_piece_at.values()
            assert final.at - last_token_at <= 1.5, f"final text {final.at - last_token_at:.2f}s after the last token"
            previews = writes[: writes.index(final)]
            assert writes[-1] is final, "nothing written after the final text"
            assert all(FINAL.startswith(p.json["content"]) and p.json["content"] != FINAL for p in previews)
            gaps = [b.at - a.at for a, b in itertools.pairwise(writes)]
            assert all(g >= INTERVAL_S - SLACK_S for g in gaps), gaps
            assert len(previews) <= 4, [p.at for p in previews]  # ~3 s of streaming at one write per second
            for p in previews[1:]:  # the first write is the first word: nothing to coalesce yet
                # word i left the model about (59 - i) * 50 ms before the last one; allow 0.3 s in transit
                arrived = sum(1 for i in range(60) if last_token_at - (59 - i) * 0.05 <= p.at - 0.3)
                assert len(p.json["content"].split()) >= arrived, "a preview carries everything that has arrived"
        finally:
            await bot.stop()
