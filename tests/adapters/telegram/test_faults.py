"""Faults: a 429 storm, 500s and dropped connections; every message still gets exactly one answer, in order."""

from __future__ import annotations

import asyncio
import itertools
import logging

CHATS = [801 + i for i in range(8)]
PER_CHAT = 5


async def test_429_storm_and_500s_exactly_one_answer_in_order(bot_factory, api):
    api.fail_share("429", 0.3, {"sendMessage"}, retry_after=0.2)
    api.fail_share("500", 0.2, {"sendMessage", "sendChatAction"})
    api.fail_next("drop", 3, {"sendMessage"})
    api.fail_next("slow", 3, {"sendMessage"}, delay_s=0.3)
    async with bot_factory(retry={"max_tries": 10, "backoff_base_s": 0.05, "backoff_max_s": 0.2}) as h:
        for i in range(PER_CHAT):
            for chat in CHATS:
                api.inject_message(chat, f"chat {chat} message {i}")
        expected = {chat: [f"chat {chat} message {i}" for i in range(PER_CHAT)] for chat in CHATS}
        await api.wait_for(lambda: all(len(api.texts(c)) >= PER_CHAT for c in CHATS), timeout=40)
        await h.pipeline.idle()
        await h.adapter.outboxes.drain(10)
    for chat in CHATS:
        assert api.texts(chat) == expected[chat], "exactly one answer each, in order"
    statuses = [c.status for c in api.calls if c.method == "sendMessage"]
    assert statuses.count(429) >= 5 and statuses.count(500) >= 3 and statuses.count(0) == 3
    # after a 429 the chat waits retry_after before the same request goes again
    for chat in CHATS:
        calls = [c for c in api.calls if c.method == "sendMessage" and c.chat_id == chat]
        for before, after in itertools.pairwise(calls):
            if before.status == 429:
                assert after.at - before.at >= 0.19, (chat, after.at - before.at)
                assert after.params["text"] == before.params["text"], "the same request is retried"


async def test_request_that_keeps_failing_is_given_up_and_logged(bot_factory, api, caplog):
    caplog.set_level(logging.ERROR, logger="adapters.telegram")
    api.fail_next("500", 3, {"sendMessage"})
    async with bot_factory(retry={"max_tries": 3, "backoff_base_s": 0.01, "backoff_max_s": 0.02}):
        api.inject_message(850, "lost cause")
        await api.wait_for(lambda: len([c for c in api.calls if c.method == "sendMessage"]) == 3)
        await asyncio.sleep(0.1)
        assert "sendMessage to chat 850 given up after 3 tries: Internal Server Error" in caplog.text
        api.inject_message(850, "next one")
        await api.wait_for(lambda: api.texts(850) == ["next one"])


async def test_formatting_rejected_falls_back_to_plain_text(bot_factory, api):
    api.fail_next("error", 1, {"sendMessage"}, code=400, description="Bad Request: can't parse entities: Unsupported start tag \"x\" at byte offset 3")
    async with bot_factory():
        api.inject_message(851, "some **bold** words")
        await api.wait_for(lambda: api.texts(851))
        plain = api.answered("sendMessage", 851)[0]
        assert "parse_mode" not in plain.params and plain.params["text"] == "some **bold** words"


async def test_html_formatting_reaches_telegram(bot_factory, api):
    async with bot_factory():
        api.inject_message(852, "a **bold** <b>fake</b> `code`")
        await api.wait_for(lambda: api.texts(852))
        sent = api.answered("sendMessage", 852)[0].params["text"]
        assert sent == "a <b>bold</b> &lt;b&gt;fake&lt;/b&gt; <code>code</code>"
        assert api.texts(852) == ["a bold <b>fake</b> code"]
