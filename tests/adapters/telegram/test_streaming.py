"""Streamed replies: drafts then one message in private chats; throttled edits of one message in groups."""

from __future__ import annotations

import itertools

from tests.adapters.telegram.conftest import PacedEngine

WORDS = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen"


async def test_private_stream_drafts_then_one_message(bot_factory, api):
    async with bot_factory(engine=PacedEngine(0.04), stream={"draft_interval_s": 0.15}) as h:
        api.inject_message(701, WORDS)
        await api.wait_for(lambda: api.answered("sendMessage", 701), timeout=10)
        await h.pipeline.idle()
        drafts = api.answered("sendMessageDraft", 701)
        assert len(drafts) >= 2, "several draft updates while the text arrives"
        assert len({d.params["draft_id"] for d in drafts}) == 1, "one animated draft per reply"
        texts = [d.params["text"] for d in drafts]
        assert all(WORDS.startswith(t) for t in texts) and texts == sorted(texts, key=len)
        gaps = [b.at - a.at for a, b in itertools.pairwise(drafts)]
        assert min(gaps) >= 0.14, gaps
        assert api.texts(701) == [WORDS], "exactly one final message with the whole text"
        assert not api.answered("editMessageText")


async def test_group_stream_edits_one_message_throttled(bot_factory, api):
    group = -100777
    async with bot_factory(engine=PacedEngine(0.04), stream={"edit_interval_s": 0.2}) as h:
        trigger = api.inject_message(group, f"@testbot {WORDS}")
        await api.wait_for(lambda: api.texts(group) == [WORDS], timeout=10)
        await h.pipeline.idle()
        sends = api.answered("sendMessage", group)
        edits = api.answered("editMessageText", group)
        assert len(sends) == 1 and sends[0].params["reply_parameters"]["message_id"] == trigger["message_id"]
        assert len(edits) >= 2, "several edits as the text grows"
        assert len({e.params["message_id"] for e in edits}) == 1, "always the same message"
        pushes = [sends[0], *edits]
        gaps = [b.at - a.at for a, b in itertools.pairwise(pushes)]
        # the final edit at ReplyDone is not throttled; every streamed edit is
        assert min(gaps[:-1]) >= 0.19, gaps
        assert edits[-1].params["text"] == WORDS
        assert not api.answered("sendMessageDraft")


async def test_long_streamed_reply_is_split_at_4096(bot_factory, api):
    text = " ".join(f"Sentence number {i} is here." for i in range(400))  # ~11,000 chars
    group = -100778
    async with bot_factory(engine=PacedEngine(0.0, script=text), stream={"edit_interval_s": 0.2}) as h:
        api.inject_message(group, "@testbot write a lot")
        await api.wait_for(lambda: len(api.texts(group)) >= 3, timeout=15)
        await h.pipeline.idle()
        await h.adapter.outboxes.drain(5)
        parts = api.texts(group)
        assert all(len(p) <= 4096 for p in parts)
        assert " ".join(parts) == text
        assert all(p.endswith(".") for p in parts), "cut on sentence boundaries"
