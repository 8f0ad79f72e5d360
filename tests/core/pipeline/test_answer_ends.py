"""Issue 15: the dialogue answer may end its message (the bus acknowledges it in the answer's
transaction) only when nothing can be sent after it; its memory goes with it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace

from core.bus import Delivery, InProcessBus
from core.model import OutgoingEvent, ReplyDone
from core.pipeline.context import Context
from core.pipeline.middleware import Handler, Middleware
from core.pipeline.pipeline import Pipeline, default_middlewares
from core.stores.base import StoreWrite
from tests.core.pipeline.test_dialogue import FakeSpeech
from tests.harness import Harness, ScriptedEngine, message


class RecordingBus(InProcessBus):
    """The in-process bus, recording what each ``send_with`` was asked to carry."""

    def __init__(self) -> None:
        super().__init__("test")
        self.asked: list[tuple[OutgoingEvent, Delivery | None]] = []

    async def send_with(self, event: OutgoingEvent, write: StoreWrite, ack: Delivery | None = None) -> bool:
        self.asked.append((event, ack))
        return await super().send_with(event, write, ack)


class NoticeAfter(Middleware):
    """A plugin-like middleware that sends something once the rest has answered."""

    async def __call__(self, handler: Handler, ctx: Context) -> None:
        await handler(ctx)
        await ctx.reply("and one more thing", notice=True)


async def run(middlewares: Sequence[Middleware] | None, speech: bool = False) -> tuple[RecordingBus, Harness]:
    harness = Harness([ScriptedEngine(["hello"])])
    bus = RecordingBus()
    services = harness.services
    if speech:
        services = replace(services, speech=FakeSpeech())
    pipeline = Pipeline(services, bus, middlewares)
    events: list[OutgoingEvent] = []

    async def collect() -> None:
        async for event in bus.outgoing("test"):
            events.append(event)

    await bus.start()
    await pipeline.start()
    reader = asyncio.create_task(collect())
    try:
        await bus.publish(message("hi", chat="c1"))
        for _ in range(200):
            if any(isinstance(e, ReplyDone) for e in events) and not pipeline._tasks:
                break
            await asyncio.sleep(0.005)
        history = await services.conversations.recent("test:c1")
    finally:
        await pipeline.stop()
        await bus.stop()
        await asyncio.wait_for(reader, 5)
    assert [t.text for t in history] == ["hi", "hello"], "the answer's memory is written with it (or right after)"
    return bus, harness


async def test_the_answer_ends_its_message_with_the_built_in_middlewares() -> None:
    bus, _ = await run(None)
    ((event, ack),) = bus.asked
    assert isinstance(event, ReplyDone) and event.text == "hello"
    assert ack is not None and ack.message.text == "hi"


async def test_a_middleware_that_may_send_after_its_handler_keeps_the_ack_after_the_answer() -> None:
    bus, _ = await run([*default_middlewares(), NoticeAfter()])
    ((_, ack),) = bus.asked
    assert ack is None


async def test_an_answer_a_voice_note_may_follow_does_not_end_its_message() -> None:
    bus, _ = await run(None, speech=True)
    ((_, ack),) = bus.asked
    assert ack is None
