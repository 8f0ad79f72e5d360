"""Lengths counted in UTF-16 code units as Telegram does, and ReplySkipped (nothing sent, state cleaned)."""

from __future__ import annotations

import asyncio
import logging

from adapters.telegram.formatting import preview, split_text
from core.model import Addressed, Chat, ChatAction, ChatKind, MessageRef, ReplyDelta, ReplySkipped, ReplyTarget
from tests.adapters.telegram.conftest import PacedEngine
from tests.adapters.telegram.fake_bot_api import MAX_TEXT_UNITS, utf16_units

EMOJI = "\U0001F600"  # outside the BMP: one code point, two UTF-16 code units


def refused(api) -> list:
    return [c for c in api.calls if c.status not in (0, 200)]


def test_split_and_preview_measure_utf16_units():
    text = EMOJI * 3000
    parts = split_text(text)
    assert [utf16_units(p) for p in parts] == [4096, 1904] and "".join(parts) == text
    shown = preview(text)
    assert utf16_units(shown) <= MAX_TEXT_UNITS and shown.endswith("…") and shown[:-1] == EMOJI * 2047


async def test_emoji_reply_of_3000_emoji_is_delivered_whole_in_utf16_sized_messages(bot_factory, api):
    text = EMOJI * 3000  # 3,000 code points but 6,000 UTF-16 units: one message is too long for Telegram
    async with bot_factory(engine=PacedEngine(0.0, script=text)) as h:
        api.inject_message(951, "emoji please")
        await api.wait_for(lambda: len(api.texts(951)) >= 2)
        await h.pipeline.idle()
        await h.adapter.outboxes.drain(5)
        parts = api.texts(951)
        assert len(parts) >= 2 and "".join(parts) == text, "delivered completely"
        assert all(utf16_units(p) <= MAX_TEXT_UNITS for p in parts)
        assert not refused(api), [(c.method, c.status) for c in refused(api)]


async def test_streamed_emoji_reply_in_group_never_exceeds_utf16_limit(bot_factory, api):
    group = -100951
    text = " ".join([EMOJI * 10] * 300)  # 3,000 emoji in words: 6,299 UTF-16 units
    async with bot_factory(engine=PacedEngine(0.0, script=text), stream={"edit_interval_s": 0.05}) as h:
        api.inject_message(group, "@testbot emoji please")
        await api.wait_for(lambda: len(api.texts(group)) >= 2, timeout=10)
        await h.pipeline.idle()
        await h.adapter.outboxes.drain(5)
        parts = api.texts(group)
        assert " ".join(parts) == text and all(utf16_units(p) <= MAX_TEXT_UNITS for p in parts)
        assert api.answered("editMessageText", group), "the streamed preview was edited into the first part"
        assert not refused(api), [(c.method, c.status, c.params.get("text", "")[:20]) for c in refused(api)]


def _target(chat_id: int, message_id: str) -> ReplyTarget:
    kind = ChatKind.PRIVATE if chat_id > 0 else ChatKind.GROUP
    ref = MessageRef("telegram", str(chat_id), message_id)
    return ReplyTarget("tg-main", Chat(str(chat_id), kind), ref, Addressed.PRIVATE)


async def test_reply_skipped_sends_nothing_drops_pending_typing_and_logs_no_error(bot_factory, api, caplog):
    caplog.set_level(logging.DEBUG, logger="adapters.telegram")
    async with bot_factory(chat_action_delay_s=0.3) as h:
        skipped = _target(961, "5")
        await h.adapter.deliver(ChatAction(skipped, "typing"))
        await h.adapter.deliver(ReplySkipped(skipped, "flood"))
        await h.adapter.deliver(ReplyDelta("r-stream", _target(962, "6"), 0, "half a reply"))
        await api.wait_for(lambda: api.answered("sendMessageDraft", 962))
        assert h.adapter.outboxes.replier.streams, "a stream is open for the message"
        await h.adapter.deliver(ReplySkipped(_target(962, "6"), "duplicate"))
        await h.adapter.deliver(ReplySkipped(_target(963, "7"), "not-for-us"))  # a chat with nothing going on
        await h.adapter.outboxes.drain(5)
        await asyncio.sleep(0.4)  # past the chat-action delay
        assert not h.adapter.outboxes.replier.streams, "the stream state of the skipped message is gone"
        sent = [c.method for c in api.calls if c.chat_id in (961, 962, 963)]
        assert sent == ["sendMessageDraft"], "nothing is sent for a ReplySkipped, not even the pending typing"
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


async def test_reply_skipped_keeps_typing_for_another_message(bot_factory, api):
    async with bot_factory(chat_action_delay_s=0.3) as h:
        await h.adapter.deliver(ChatAction(_target(964, "8"), "typing"))
        await h.adapter.deliver(ReplySkipped(_target(964, "9"), "duplicate"))
        await api.wait_for(lambda: api.answered("sendChatAction", 964))
