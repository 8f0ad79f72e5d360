"""Streamed LLM replies under Telegram's real limits: previews coalesce, the final text is never held back.

A fake OpenAI-compatible server streams 60 words, one every 50 ms (server-sent events), into the real
OpenAIEngine; the real python-telegram-bot client sends through our limiter (Telegram's default limits:
1/s per chat, 20/min per group, 30/s overall) to the fake Bot API.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import pytest

from adapters.telegram.config import RateLimitConfig
from adapters.telegram.ratelimit import RateLimiter
from core.engines.llm.openai import OpenAIEngine
from tests.adapters.telegram.fake_bot_api import Call, FakeBotApi
from tests.core.engines.llm.fake_openai import FakeOpenAI, Scripted

LIMITS = {"per_chat": 1, "per_chat_period_s": 1.0, "per_group": 20, "per_group_period_s": 60.0, "overall": 30, "overall_period_s": 1.0}
WORDS = [f"word{i}" for i in range(60)]
FINAL = " ".join(WORDS)
WORD_GAP_S = 0.05
FINAL_WITHIN_S = 1.5
# with the default share (0.5) of Telegram's limits: a draft at most every 2 s, a group edit every 6 s
PRIVATE_GAP_S = 2.0
GROUP_GAP_S = 6.0
SLACK_S = 0.05  # server-side timestamps: transit jitter


PIECES = tuple(WORDS[:1] + [" " + w for w in WORDS[1:]])


@pytest.fixture
async def llm() -> AsyncIterator[FakeOpenAI]:
    server = FakeOpenAI()
    server.script.extend(Scripted(pieces=PIECES, delay_s=WORD_GAP_S) for _ in range(10))
    await server.start()
    yield server
    await server.stop()


def _engine(llm: FakeOpenAI) -> OpenAIEngine:
    return OpenAIEngine(base_url=llm.base_url, model="tiny", backoff_s=0.01)


def _last_token_at(llm: FakeOpenAI, marker: str) -> float:
    found = [at for text, at in llm.last_piece_at.items() if marker in text]
    assert len(found) == 1, (marker, list(llm.last_piece_at))
    return found[0]


def _final_call(api: FakeBotApi, chat_id: int) -> Call:
    """The call that made the chat show the whole reply."""
    done = [c for c in api.answered(None, chat_id) if c.method in {"sendMessage", "editMessageText"} and c.params.get("text") == FINAL]
    assert done, [c.method for c in api.answered(None, chat_id)]
    return done[0]


def _check_previews(previews: list[Call], final: Call, gap_s: float) -> None:
    """Previews: at most one per interval, each a prefix of the final text, none after the final."""
    texts = [str(p.params["text"]) for p in previews]
    assert all(FINAL.startswith(t) and len(t) < len(FINAL) for t in texts), texts
    assert texts == sorted(texts, key=len), "each preview carries at least what the one before did"
    gaps = [b.at - a.at for a, b in itertools.pairwise(previews)]
    assert all(g >= gap_s - SLACK_S for g in gaps), gaps
    assert all(p.at < final.at for p in previews), "no preview after the final text"


def _check_chat_limit(api: FakeBotApi, chat_id: int) -> None:
    """Every counted request to the chat respects 1/s (chat actions only count overall)."""
    stamps = [c.at for c in api.calls if c.chat_id == chat_id and c.method != "sendChatAction" and c.method != "getUpdates"]
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert all(g >= 1.0 - SLACK_S for g in gaps), gaps


async def test_final_text_is_not_held_back_behind_rate_limited_previews(bot_factory, api, llm):
    """Regression (issue 15): 60 words over 3 s in a private chat arrived 47 s after the last token,
    behind ~50 drafts sent one per second, each one delta longer than the last."""
    async with _engine(llm) as engine, bot_factory(engine=engine, rate_limits=LIMITS) as h:
        api.inject_message(701, "tell me chat701")
        await api.wait_for(lambda: api.answered("sendMessage", 701), timeout=20)
        await h.pipeline.idle()
        final = _final_call(api, 701)
        lag = final.at - _last_token_at(llm, "chat701")
        assert lag <= FINAL_WITHIN_S, f"final text {lag:.2f}s after the last token"
        drafts = api.answered("sendMessageDraft", 701)
        assert 1 <= len(drafts) <= 3, [d.at for d in drafts]  # ~3 s of streaming at one draft per 2 s
        _check_previews(drafts, final, PRIVATE_GAP_S)
        assert api.texts(701) == [FINAL], "exactly one message, the whole reply"
        _check_chat_limit(api, 701)


async def test_group_stream_final_edit_within_limits(bot_factory, api, llm):
    group = -100901
    async with _engine(llm) as engine, bot_factory(engine=engine, rate_limits=LIMITS) as h:
        api.inject_message(group, "@testbot tell me chat901")
        await api.wait_for(lambda: FINAL in api.texts(group), timeout=20)
        await h.pipeline.idle()
        final = _final_call(api, group)
        lag = final.at - _last_token_at(llm, "chat901")
        assert lag <= FINAL_WITHIN_S, f"final text {lag:.2f}s after the last token"
        writes = [c for c in api.answered(None, group) if c.method in {"sendMessage", "editMessageText"}]
        previews = [c for c in writes if c is not final]
        assert len(previews) <= 1, [(c.method, c.at) for c in writes]  # one every 6 s: ~3 s of streaming
        _check_previews(previews, final, GROUP_GAP_S)
        assert api.texts(group) == [FINAL], "one message, edited to the whole reply"
        _check_chat_limit(api, group)


async def test_burst_of_streamed_replies_in_many_chats_each_final_on_time(bot_factory, api, llm):
    """Five private chats and two groups stream at once: no reply creeps out behind its previews."""
    private = [711 + i for i in range(5)]
    groups = [-100911, -100912]
    async with _engine(llm) as engine, bot_factory(engine=engine, rate_limits=LIMITS) as h:
        for chat in private:
            api.inject_message(chat, f"tell me chat{chat}")
        for chat in groups:
            api.inject_message(chat, f"@testbot tell me chat{chat}")
        await api.wait_for(lambda: all(FINAL in api.texts(c) for c in private + groups), timeout=30)
        await h.pipeline.idle()
        for chat in private + groups:
            final = _final_call(api, chat)
            lag = final.at - _last_token_at(llm, f"chat{chat}")
            assert lag <= FINAL_WITHIN_S, f"chat {chat}: final text {lag:.2f}s after the last token"
            previews = [c for c in api.answered(None, chat) if c.method in {"sendMessageDraft", "sendMessage", "editMessageText"} and c is not final]
            _check_previews(previews, final, PRIVATE_GAP_S if chat > 0 else GROUP_GAP_S)
            assert api.texts(chat) == [FINAL]
            _check_chat_limit(api, chat)


async def test_preview_refused_by_a_429_is_dropped_not_retried(bot_factory, api, llm):
    """A 429 on a draft pauses the chat as told but the draft is not sent again: the final text is what matters."""
    api.fail_next("429", count=1, methods={"sendMessageDraft"}, retry_after=0.3)
    async with _engine(llm) as engine, bot_factory(engine=engine, rate_limits=LIMITS) as h:
        api.inject_message(702, "tell me chat702")
        await api.wait_for(lambda: api.answered("sendMessage", 702), timeout=20)
        await h.pipeline.idle()
        final = _final_call(api, 702)
        assert final.at - _last_token_at(llm, "chat702") <= FINAL_WITHIN_S
        refused = [c for c in api.calls if c.method == "sendMessageDraft" and c.status == 429]
        assert len(refused) == 1
        later = [c for c in api.answered("sendMessageDraft", 702) if c.at > refused[0].at]
        assert all(c.at - refused[0].at >= 0.3 - SLACK_S for c in later), "the chat paused for retry_after"
        assert all(c.params["text"] != refused[0].params["text"] for c in later), "the refused draft is not resent as is"


def test_previews_use_at_most_their_share_of_each_budget() -> None:
    now = [0.0]
    limiter = RateLimiter(RateLimitConfig.model_validate({"low_priority_share": 0.5}), clock=lambda: now[0])
    private, group = 5, -1005
    assert limiter.spare_delay(private, preview=True) == 0.0
    limiter.record_spare(private, preview=True)
    assert limiter.spare_delay(private, preview=True) == pytest.approx(2.0), "half of 1/s: one draft per 2 s"
    now[0] = 1.0
    assert limiter.delay(private) == 0.0, "text may go as soon as the chat's window has room"
    # a group: previews stop while half of its 20/min is used by anything, text goes on to the full 20
    for i in range(10):
        now[0] = 10.0 + i
        assert limiter.delay(group) == 0.0
        limiter.record(group)
    now[0] = 20.0
    assert limiter.spare_delay(group, preview=True) == pytest.approx(50.0), "10 of 20 used: no preview until one expires"
    assert limiter.delay(group) == 0.0, "text still has the other half"
    # chat actions (overall only) never take text's share of the overall budget (30/s, 6 per 0.2 s)
    now[0] = 100.0
    for _ in range(3):
        limiter.record(None)
    assert limiter.spare_delay(700, per_chat=False) > 0
    assert limiter.delay(700) == 0.0
