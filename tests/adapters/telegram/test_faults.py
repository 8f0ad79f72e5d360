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
    for chat in CHATS[:3]:  # one per chat: a dropped send is retried at most once (no idempotency key)
        api.fail_next("drop", 1, {"sendMessage"}, chat_id=chat)
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


async def test_send_whose_response_is_lost_is_retried_at_most_once_and_counted(bot_factory, api, caplog):
    """Issue 19: the Bot API has no idempotency key; a lost answer must not become 2-4 copies."""
    from core import metrics

    def lost(outcome: str) -> float:
        return metrics.RESPONSE_LOST.labels("telegram", "sendMessage", outcome)._value.get()

    before = lost("retried"), lost("given_up")
    caplog.set_level(logging.WARNING, logger="adapters.telegram")
    api.fail_next("lose", 2, {"sendMessage"}, chat_id=860)
    api.fail_next("lose", 1, {"sendMessage"}, chat_id=861)
    async with bot_factory(retry={"max_tries": 10, "backoff_base_s": 0.01, "backoff_max_s": 0.02}) as h:
        api.inject_message(860, "lost twice")
        api.inject_message(861, "lost once")
        await api.wait_for(lambda: len(api.texts(861)) == 2 and len(api.texts(860)) == 2)
        await asyncio.sleep(0.3)
        api.inject_message(860, "next")
        await api.wait_for(lambda: api.texts(860)[-1:] == ["next"])
        await h.pipeline.idle()
    # "Telegram" showed the first text twice (the original and the one retry), never more.
    assert api.texts(860) == ["lost twice", "lost twice", "next"]
    assert api.texts(861) == ["lost once", "lost once"]
    assert len([c for c in api.calls if c.method == "sendMessage" and c.chat_id == 860]) == 3
    assert h.adapter.sender.responses_lost == 3
    assert (lost("retried") - before[0], lost("given_up") - before[1]) == (2, 1)
    assert "sendMessage to chat 860 given up" in caplog.text


def test_only_failures_after_the_request_left_count_as_lost_responses():
    import httpx
    from telegram import error as tg

    from adapters.telegram.errors import response_lost

    def failure(cause: Exception, exc: tg.TelegramError) -> tg.TelegramError:
        exc.__cause__ = cause
        return exc

    assert response_lost(failure(httpx.RemoteProtocolError("Server disconnected"), tg.NetworkError("httpx.RemoteProtocolError")))
    assert response_lost(failure(httpx.ReadTimeout("read"), tg.TimedOut()))
    assert not response_lost(failure(httpx.ConnectError("refused"), tg.NetworkError("httpx.ConnectError")))
    assert not response_lost(failure(httpx.PoolTimeout("pool"), tg.TimedOut()))
    assert not response_lost(tg.NetworkError("Internal Server Error"))  # Telegram answered 5xx
    assert not response_lost(tg.BadRequest("chat not found"))
