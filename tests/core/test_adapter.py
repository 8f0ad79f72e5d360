"""The adapter base: its outgoing loop's metrics, error boundary and log context."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from core import logcontext
from core.adapter import Adapter
from core.bus import InProcessBus
from core.model import ChatAction, MessageRef, OutgoingEvent, ReplyDone, ReplyTarget
from tests.harness import message, metric


class RecordingAdapter(Adapter):
    """Records each delivered event with the log context's key; fails on text ``fail``."""

    platform = "fake"

    def __init__(self, adapter_id: str, bus: InProcessBus) -> None:
        super().__init__(adapter_id, bus)
        self.delivered: list[tuple[OutgoingEvent, str]] = []

    async def connect(self) -> None:
        pass

    async def deliver(self, event: OutgoingEvent) -> None:
        self.delivered.append((event, logcontext.current()))
        if isinstance(event, ReplyDone) and event.text == "fail":
            raise RuntimeError("platform said no")


@pytest.fixture
async def adapter() -> AsyncIterator[RecordingAdapter]:
    bus = InProcessBus("obsbot")
    await bus.start()
    adapter = RecordingAdapter("fake-1", bus)  # the bot's name comes from its bus, not from the adapter id
    await adapter.start()
    yield adapter
    await bus.stop()
    await adapter.drain(2.0)
    await adapter.stop()


def target(received_at: float, message_id: str = "m1") -> ReplyTarget:
    chat = message("").chat
    return ReplyTarget("fake-1", chat, MessageRef("fake", chat.id, message_id), received_at=received_at)


async def wait_for(adapter: RecordingAdapter, count: int) -> None:
    for _ in range(200):
        if len(adapter.delivered) >= count:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"only {len(adapter.delivered)} of {count} events delivered")


async def test_delivered_reply_records_end_to_end_latency_and_counts(adapter: RecordingAdapter) -> None:
    e2e = metric("bot_end_to_end_seconds_count", bot="obsbot", platform="fake")
    e2e_sum = metric("bot_end_to_end_seconds_sum", bot="obsbot", platform="fake")
    done = metric("bot_messages_out_total", bot="obsbot", platform="fake", kind="ReplyDone")
    actions = metric("bot_messages_out_total", bot="obsbot", platform="fake", kind="ChatAction")
    sends = metric("bot_stage_seconds_count", bot="obsbot", stage="send")
    await adapter.bus.send(ChatAction(target(time.time() - 1.5), "typing"))
    await adapter.bus.send(ReplyDone("r1", target(time.time() - 1.5), "hello"))
    await wait_for(adapter, 2)
    await asyncio.sleep(0.01)
    assert metric("bot_end_to_end_seconds_count", bot="obsbot", platform="fake") == e2e + 1  # the reply, not the action
    assert 1.5 <= metric("bot_end_to_end_seconds_sum", bot="obsbot", platform="fake") - e2e_sum < 5.0
    assert metric("bot_messages_out_total", bot="obsbot", platform="fake", kind="ReplyDone") == done + 1
    assert metric("bot_messages_out_total", bot="obsbot", platform="fake", kind="ChatAction") == actions + 1
    assert metric("bot_stage_seconds_count", bot="obsbot", stage="send") == sends + 2


async def test_reply_without_arrival_time_is_not_a_latency_sample(adapter: RecordingAdapter) -> None:
    e2e = metric("bot_end_to_end_seconds_count", bot="obsbot", platform="fake")
    await adapter.bus.send(ReplyDone("r2", target(0.0), "hello"))
    await wait_for(adapter, 1)
    await asyncio.sleep(0.01)
    assert metric("bot_end_to_end_seconds_count", bot="obsbot", platform="fake") == e2e


async def test_failed_delivery_is_an_error_not_an_outgoing_message(adapter: RecordingAdapter) -> None:
    errors = metric("bot_errors_total", bot="obsbot", kind="send")
    done = metric("bot_messages_out_total", bot="obsbot", platform="fake", kind="ReplyDone")
    e2e = metric("bot_end_to_end_seconds_count", bot="obsbot", platform="fake")
    await adapter.bus.send(ReplyDone("r3", target(time.time()), "fail"))
    await adapter.bus.send(ReplyDone("r4", target(time.time()), "fine"))
    await wait_for(adapter, 2)
    await asyncio.sleep(0.01)
    assert metric("bot_errors_total", bot="obsbot", kind="send") == errors + 1
    assert metric("bot_messages_out_total", bot="obsbot", platform="fake", kind="ReplyDone") == done + 1
    assert metric("bot_end_to_end_seconds_count", bot="obsbot", platform="fake") == e2e + 1


async def test_each_delivery_runs_with_the_answered_message_key(adapter: RecordingAdapter) -> None:
    await adapter.bus.send(ReplyDone("r5", target(time.time(), "41"), "a"))
    await adapter.bus.send(ReplyDone("r6", target(time.time(), "42"), "b"))
    await adapter.bus.send(ReplyDone("r7", ReplyTarget("fake-1", message("").chat), "no ref"))
    await wait_for(adapter, 3)
    chat_id = message("").chat.id
    assert [key for _, key in adapter.delivered] == [f"fake:{chat_id}:41", f"fake:{chat_id}:42", ""]
